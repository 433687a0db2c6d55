package sourcestatus_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/enrichmeter/enrichmeter/internal/testsupport"
	"github.com/enrichmeter/enrichmeter/sourcestatus"
)

// TestIDsMatchExactly shows that an id matches only the prospect whose id
// has the same value in the id column's type: never one that the id would
// become if it were cut to the column's length or rounded to its scale, and
// an id that is not valid input for the type is ErrNotFound.
func TestIDsMatchExactly(t *testing.T) {
	cases := []struct {
		idType, stored string
		same           []string // ids that denote the stored value
		others         []string // ids of no prospect
	}{
		{"text", "acct-123", []string{"acct-123"}, []string{"acct-123-not-a-prospect", "acct-12", "ACCT-123"}},
		{"varchar(8)", "acct-123", []string{"acct-123"}, []string{"acct-123-not-a-prospect", "acct-1234", "acct-12"}},
		{"char(8)", "acct-123", []string{"acct-123"}, []string{"acct-123-not-a-prospect", "acct-1234", "a"}},
		{"uuid", "8c1f0a52-3c3e-4b4e-9a43-0f4b2d9c6b11", []string{"8c1f0a52-3c3e-4b4e-9a43-0f4b2d9c6b11", "8C1F0A52-3C3E-4B4E-9A43-0F4B2D9C6B11"},
			[]string{"8c1f0a52-3c3e-4b4e-9a43-0f4b2d9c6b1", "8c1f0a52-3c3e-4b4e-9a43-0f4b2d9c6b111", "not-a-uuid"}},
		{"bigint", "42", []string{"42"}, []string{"42.4", "4.2e1", "99999999999999999999", "x"}},
		{"numeric(6,0)", "42", []string{"42", "42.0"}, []string{"42.4", "41.6", "1e400000", "abc"}},
		{"numeric(8,2)", "42.25", []string{"42.25"}, []string{"42.251", "42.249", "42.2"}},
		{"acct", "acct-123", []string{"acct-123"}, []string{"acct-123-not-a-prospect", "acct-1234"}},         // a domain over varchar(8)
		{"acct_of_acct", "acct-123", []string{"acct-123"}, []string{"acct-123-not-a-prospect", "acct-1234"}}, // a domain over that domain
	}
	forEachMode(t, func(t *testing.T, pool *pgxpool.Pool) {
		ctx := ctxT(t)
		for _, sql := range []string{`CREATE DOMAIN acct AS varchar(8)`, `CREATE DOMAIN acct_of_acct AS acct`} {
			if _, err := pool.Exec(ctx, sql); err != nil {
				t.Fatal(err)
			}
		}
		for i, c := range cases {
			table := fmt.Sprintf("ids_%d", i)
			if _, err := pool.Exec(ctx, `CREATE TABLE `+table+` (id `+c.idType+` PRIMARY KEY, enrichment_source_status jsonb)`); err != nil {
				t.Fatal(err)
			}
			if _, err := pool.Exec(ctx, `INSERT INTO `+table+` (id) VALUES ($1::text::`+c.idType+`)`, c.stored); err != nil {
				t.Fatal(err)
			}
			u := mustNew(t, sourcestatus.NewUpdater, pool, sourcestatus.WithTable(table))
			r := mustNew(t, sourcestatus.NewReader, pool, sourcestatus.WithTable(table))
			for _, id := range c.others {
				if err := u.Update(ctx, id, "exa", sourcestatus.Payload{Status: sourcestatus.Failed, At: at}); !errors.Is(err, sourcestatus.ErrNotFound) {
					t.Errorf("%s: Update(%q) = %v, want ErrNotFound", c.idType, id, err)
				}
				if err := u.Init(ctx, id, "exa"); !errors.Is(err, sourcestatus.ErrNotFound) {
					t.Errorf("%s: Init(%q) = %v, want ErrNotFound", c.idType, id, err)
				}
				if s, err := r.Get(ctx, id); !errors.Is(err, sourcestatus.ErrNotFound) {
					t.Errorf("%s: Get(%q) = %v, %v; want ErrNotFound", c.idType, id, s, err)
				}
			}
			var written bool
			if err := pool.QueryRow(ctx, `SELECT enrichment_source_status IS NOT NULL FROM `+table).Scan(&written); err != nil {
				t.Fatal(err)
			}
			if written {
				t.Errorf("%s: an id of no prospect wrote the row of %q", c.idType, c.stored)
			}
			for _, id := range c.same {
				if err := u.Update(ctx, id, "exa", sourcestatus.Payload{Status: sourcestatus.Complete, At: at}); err != nil {
					t.Errorf("%s: Update(%q) = %v", c.idType, id, err)
				}
				if s, err := r.Get(ctx, id); err != nil || s["exa"].Status != sourcestatus.Complete {
					t.Errorf("%s: Get(%q) = %v, %v", c.idType, id, s, err)
				}
			}
		}
	})
}

// queryStarted passes every call to a DB, and tells started once a Query
// begins, so a test knows that the first use's catalog read is under way.
// started needs room for one signal: the Query may begin before the test
// waits on it.
type queryStarted struct {
	sourcestatus.DB
	started chan struct{}
}

func (d queryStarted) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	select {
	case d.started <- struct{}{}:
	default:
	}
	return d.DB.Query(ctx, sql, args...)
}

// TestFirstUseHonoursEachContext hangs the first use's catalog read (a proxy
// drops PostgreSQL's replies) and shows that a second call with a 200 ms
// deadline returns context.DeadlineExceeded while the first still waits, and
// that once the first gives up a later call reads the catalog again.
func TestFirstUseHonoursEachContext(t *testing.T) {
	var proxy *testsupport.Proxy
	pool := testsupport.Postgres(t, func(c *pgxpool.Config) {
		proxy = testsupport.NewProxy(t, net.JoinHostPort(c.ConnConfig.Host, strconv.Itoa(int(c.ConnConfig.Port))))
		host, port, _ := net.SplitHostPort(proxy.Addr)
		p, _ := strconv.Atoi(port)
		c.ConnConfig.Host, c.ConnConfig.Port = host, uint16(p)
	})
	createProspects(t, pool, "text")
	insert(t, pool, "p", nil)
	db := queryStarted{DB: pool, started: make(chan struct{}, 1)}
	u := mustNew(t, sourcestatus.NewUpdater, db)
	update := func(ctx context.Context) error {
		return u.Update(ctx, "p", "exa", sourcestatus.Payload{Status: sourcestatus.Complete, At: at})
	}

	proxy.DropReplies(true)
	t.Cleanup(func() { proxy.DropReplies(false) }) // before the pool's cleanup
	first, cancelFirst := context.WithCancel(context.Background())
	defer cancelFirst()
	firstErr := make(chan error, 1)
	go func() { firstErr <- update(first) }()
	select {
	case <-db.started: // the first call is reading the catalog, and hangs there
	case err := <-firstErr:
		t.Fatalf("the first Update returned (%v) before it read the catalog", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the first Update did not start its catalog read within 10 s")
	}

	second, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	secondErr := make(chan error, 1)
	go func() { secondErr <- update(second) }()
	select {
	case err := <-secondErr:
		if err != context.DeadlineExceeded {
			t.Errorf("second Update = %v, want context.DeadlineExceeded", err)
		}
	case err := <-firstErr:
		t.Fatalf("the first Update returned (%v) while PostgreSQL's replies were dropped", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the second Update still waits 10 s after its 200 ms deadline, behind the first")
	}

	cancelFirst()
	if err := <-firstErr; err != context.Canceled {
		t.Errorf("first Update = %v, want context.Canceled", err)
	}
	proxy.DropReplies(false)
	if err := update(ctxT(t)); err != nil {
		t.Errorf("Update after the failed first use = %v, want the catalog read again", err)
	}
}
