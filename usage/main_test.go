package usage_test

import (
	"testing"

	"github.com/enrichmeter/enrichmeter/internal/testsupport"
)

func TestMain(m *testing.M) {
	testsupport.Main(m)
}
