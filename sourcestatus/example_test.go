package sourcestatus_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/enrichmeter/enrichmeter/sourcestatus"
)

func ExamplePayload_MarshalJSON() {
	p := sourcestatus.Payload{
		Status: sourcestatus.Failed,
		Error:  "HTTP 429",
		At:     time.Date(2026, 11, 26, 3, 15, 3, 123_456_789, time.UTC),
	}
	b, _ := p.MarshalJSON()
	fmt.Println(string(b))

	b, _ = sourcestatus.Payload{Status: sourcestatus.Complete, At: p.At}.MarshalJSON()
	fmt.Println(string(b))
	// Output:
	// {"status":"failed","error":"HTTP 429","at":"2026-11-26T03:15:03.123Z"}
	// {"status":"complete","at":"2026-11-26T03:15:03.123Z"}
}

func ExamplePayload_UnmarshalJSON() {
	for _, entry := range []string{
		`{"status":"failed","error":"HTTP 429","at":"2026-11-26T03:15:03.123Z"}`,
		`"complete"`, // the legacy shape: the status alone
	} {
		var p sourcestatus.Payload
		if err := p.UnmarshalJSON([]byte(entry)); err != nil {
			log.Fatal(err)
		}
		fmt.Printf("status=%s error=%q at=%v\n", p.Status, p.Error, p.At)
	}
	// Output:
	// status=failed error="HTTP 429" at=2026-11-26 03:15:03.123 +0000 UTC
	// status=complete error="" at=0001-01-01 00:00:00 +0000 UTC
}

func ExampleStatuses() {
	column := `{"edgar": "complete", "exa": {"at": "2026-11-26T03:15:03.123Z", "error": "HTTP 429", "status": "failed"}}`
	var s sourcestatus.Statuses
	if err := s.UnmarshalJSON([]byte(column)); err != nil {
		log.Fatal(err)
	}
	fmt.Println(s["edgar"].Status, s["exa"].Status, s["exa"].Error)
	// Output: complete failed HTTP 429
}

// The example runs against the PostgreSQL in DATABASE_URL; see the package
// tests and examples/pipeline for programs that run it.
func ExampleUpdater() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()

	u, err := sourcestatus.NewUpdater(pool) // prospects.enrichment_source_status, keyed by id
	if err != nil {
		log.Fatal(err)
	}
	id := "8c1f0a52-3c3e-4b4e-9a43-0f4b2d9c6b11"
	// Before the sources run:
	if err := u.Init(ctx, id, "contactout", "exa", "edgar", "claude"); err != nil {
		log.Fatal(err)
	}
	// As each finishes, concurrently: no update erases another. FromHTTP
	// describes the call without its URL's query or credentials.
	resp, err := http.Get("https://api.exa.ai/search?q=acme")
	if err == nil {
		resp.Body.Close()
	}
	if err := u.Update(ctx, id, "exa", sourcestatus.FromHTTP(resp, err)); err != nil {
		log.Fatal(err)
	}

	r, err := sourcestatus.NewReader(pool)
	if err != nil {
		log.Fatal(err)
	}
	feed, err := r.Failures(ctx, time.Now().Add(-24*time.Hour), 50)
	if err != nil {
		log.Fatal(err)
	}
	for _, f := range feed {
		fmt.Println(f.At.Format(time.RFC3339), f.ProspectID, f.Source, f.Error)
	}
}

func ExampleFromHTTP() {
	// What http.Client.Do returned for a rate-limited call, and for one that
	// failed with an API key in its URL.
	p := sourcestatus.FromHTTP(&http.Response{StatusCode: http.StatusTooManyRequests}, nil)
	fmt.Println(p.Status, p.Error)

	err := &url.Error{Op: "Get", URL: "https://user:pw@api.exa.ai/search?api_key=SECRET", Err: errors.New("dial tcp: lookup api.exa.ai: no such host")}
	p = sourcestatus.FromHTTP(nil, err)
	fmt.Println(p.Status, p.Error)
	// Output:
	// failed HTTP 429
	// failed Get "https://api.exa.ai/search": dial tcp: lookup api.exa.ai: no such host
}

// At start-up, a service checks the schema and, where it may, applies the
// kit; on a large table run Apply once from a deploy step instead, as its
// first run builds two indexes. The example runs against the PostgreSQL in
// DATABASE_URL.
func ExampleSchema_Apply() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()

	kit, err := sourcestatus.NewSchema() // prospects.enrichment_source_status, keyed by id
	if err != nil {
		log.Fatal(err)
	}
	if err := kit.Check(ctx, pool); errors.Is(err, sourcestatus.ErrSchema) {
		log.Printf("applying the schema kit: %v", err)
		if err := kit.Apply(ctx, pool); err != nil {
			log.Fatal(err)
		}
	} else if err != nil {
		log.Fatal(err)
	}
	r, err := sourcestatus.NewReader(pool) // reads through the kit's indexes
	if err != nil {
		log.Fatal(err)
	}
	sums, err := r.Summary(ctx, time.Now().Add(-24*time.Hour))
	if err != nil {
		log.Fatal(err)
	}
	for _, s := range sums {
		fmt.Println(s.Source, s.Counts)
	}
}

// A migration tool takes the kit as SQL. The CREATE INDEX CONCURRENTLY
// statements must run outside a transaction block.
func ExampleSchema_SQL() {
	kit, err := sourcestatus.NewSchema(sourcestatus.WithTable("crm.leads"))
	if err != nil {
		log.Fatal(err)
	}
	for _, stmt := range strings.Split(kit.SQL(), ";\n\n") {
		first, _, _ := strings.Cut(stmt, "\n")
		fmt.Println(first)
	}
	// Output:
	// CREATE TABLE IF NOT EXISTS "crm"."leads" ("id" text PRIMARY KEY, "enrichment_source_status" jsonb NOT NULL DEFAULT '{}'::jsonb)
	// CREATE OR REPLACE FUNCTION "crm"."enrichmeter_failed_at_v1"(s jsonb) RETURNS text
	// CREATE OR REPLACE FUNCTION "crm"."enrichmeter_newest_at_v1"(s jsonb) RETURNS text
	// CREATE INDEX CONCURRENTLY IF NOT EXISTS "leads_enrichment_source_status_failed_at" ON "crm"."leads" (("crm"."enrichmeter_failed_at_v1"("enrichment_source_status")) COLLATE "C" DESC, "id") WHERE "crm"."enrichmeter_failed_at_v1"("enrichment_source_status") IS NOT NULL
	// CREATE INDEX CONCURRENTLY IF NOT EXISTS "leads_enrichment_source_status_newest_at" ON "crm"."leads" (("crm"."enrichmeter_newest_at_v1"("enrichment_source_status")) COLLATE "C")
	// ANALYZE "crm"."leads";
}
