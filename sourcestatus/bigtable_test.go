package sourcestatus_test

import (
	"context"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/enrichmeter/enrichmeter/internal/testsupport"
	"github.com/enrichmeter/enrichmeter/sourcestatus"
)

// TestBigTable measures the dashboard's reads on tables of growing size,
// without and with the schema kit, and prints a table of the times. It is
// not part of the default suite; run it with the sizes to build:
//
//	ENRICHMETER_BIG_TABLE=100000,1000000,10000000 go test ./sourcestatus -run TestBigTable -v -timeout 3h
//
// Each table holds a pipeline's work at a steady pace: 33,333 prospects a
// day (1M rows span 30 days, 10M rows 300), so a day's window holds the same
// number of rows at every size. Each read is timed three times after one
// unmeasured run, and the median is printed; every read returns the same
// with and without the kit.
func TestBigTable(t *testing.T) {
	env := os.Getenv("ENRICHMETER_BIG_TABLE")
	if env == "" {
		t.Skip("set ENRICHMETER_BIG_TABLE to the sizes to build, e.g. 100000,1000000")
	}
	var table strings.Builder
	fmt.Fprintf(&table, "| rows | read | no index | schema kit |\n|---|---|---|---|\n")
	for _, field := range strings.Split(env, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(field))
		if err != nil || n < 1000 {
			t.Fatalf("ENRICHMETER_BIG_TABLE: %q is not a size of at least 1000", field)
		}
		for _, row := range bigTable(t, n) {
			fmt.Fprintf(&table, "| %s | %s | %s | %s |\n", humanCount(n), row[0], row[1], row[2])
		}
		t.Logf("so far:\n%s", table.String())
	}
	t.Logf("reads by table size:\n%s", table.String())
}

// bigTable builds a table of n rows and returns, for each read, its name and
// its median time without and with the kit.
func bigTable(t *testing.T, n int) [][3]string {
	pool := testsupport.Postgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Hour)
	defer cancel()
	start := time.Now()
	testsupport.FillProspects(t, pool, n, float64(n)/33_333)
	t.Logf("%d rows: filled in %v", n, time.Since(start).Round(time.Second))
	day := testsupport.ProspectsEnd.Add(-24 * time.Hour)
	reads := []struct {
		name string
		read func(r *sourcestatus.Reader) (any, error)
	}{
		{"`Failures(since 24 h, 50)`", func(r *sourcestatus.Reader) (any, error) { return r.Failures(ctx, day, 50) }},
		{"`Summary(since 24 h)`", func(r *sourcestatus.Reader) (any, error) { return r.Summary(ctx, day) }},
		{"`Summary(all)`", func(r *sourcestatus.Reader) (any, error) { return r.Summary(ctx, time.Time{}) }},
		{"`Get`", func(r *sourcestatus.Reader) (any, error) { return r.Get(ctx, "p"+strconv.Itoa(n/2)) }},
	}
	measure := func(r *sourcestatus.Reader) (times []time.Duration, results []any) {
		for _, rd := range reads {
			var runs []time.Duration
			var result any
			for i := range 4 {
				start := time.Now()
				res, err := rd.read(r)
				if err != nil {
					t.Fatalf("%s: %v", rd.name, err)
				}
				if i > 0 {
					runs = append(runs, time.Since(start))
				}
				result = res
			}
			slices.Sort(runs)
			times, results = append(times, runs[len(runs)/2]), append(results, result)
		}
		return times, results
	}
	plain, plainResults := measure(mustNew(t, sourcestatus.NewReader, pool))
	start = time.Now()
	kit, err := sourcestatus.NewSchema()
	if err != nil {
		t.Fatal(err)
	}
	if err := kit.Apply(ctx, pool); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d rows: Apply took %v", n, time.Since(start).Round(time.Second))
	r := mustNew(t, sourcestatus.NewReader, pool)
	if on, err := sourcestatus.ReadsThroughKit(ctx, r); err != nil || !on {
		t.Fatalf("reads through the kit = %v, %v", on, err)
	}
	withKit, kitResults := measure(r)
	var rows [][3]string
	for i, rd := range reads {
		if !reflect.DeepEqual(plainResults[i], kitResults[i]) {
			t.Errorf("%d rows: %s reads differently through the kit", n, rd.name)
		}
		rows = append(rows, [3]string{rd.name, ms(plain[i]), ms(withKit[i])})
	}
	return rows
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 2, 64) + " ms"
}

func humanCount(n int) string {
	switch {
	case n%1_000_000 == 0:
		return strconv.Itoa(n/1_000_000) + "M"
	case n%1000 == 0:
		return strconv.Itoa(n/1000) + "k"
	}
	return strconv.Itoa(n)
}
