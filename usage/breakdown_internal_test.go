package usage

import "testing"

// TestNamesKeepTodayForALateCaller: a caller that read the day just before
// midnight asks about yesterday after today began; today's names stay, and
// the limit still holds.
func TestNamesKeepTodayForALateCaller(t *testing.T) {
	n := &names{limit: 2}
	if !n.admit("a", 10) || !n.admit("b", 10) {
		t.Fatal("the first two names of a day were not admitted")
	}
	if n.admit("late", 9) {
		t.Error("a new name of yesterday was admitted after today began")
	}
	if !n.admit("a", 10) || n.admit("c", 10) {
		t.Error("after a late caller, today's names or today's limit were lost")
	}
}
