package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/enrichmeter/enrichmeter/internal/testsupport"
	"github.com/enrichmeter/enrichmeter/sourcestatus"
	"github.com/enrichmeter/enrichmeter/usage"
)

var now = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// newServer returns the dashboard over a miniredis holding exa 10, 20, 30
// calls on the three days up to now, and apollo 5 today.
func newServer(t *testing.T) *server {
	mr := miniredis.RunT(t)
	for i, n := range []string{"30", "20", "10"} {
		if err := mr.Set(usage.Key(usage.Exa, now.AddDate(0, 0, -i)), n); err != nil {
			t.Fatal(err)
		}
	}
	if err := mr.Set(usage.Key(usage.Apollo, now), "5"); err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { rdb.Close() })
	clock := func() time.Time { return now }
	return &server{
		usage:  usage.NewReader(rdb, usage.WithClock(clock)),
		quotas: map[usage.Provider]usage.Quota{usage.Exa: {Limit: 40, Period: usage.PerDay}},
		now:    clock,
	}
}

func get(t *testing.T, h http.Handler, url string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", url, nil))
	return rec
}

func TestQuota(t *testing.T) {
	rec := get(t, newServer(t).routes(), "/api/quota?days=3")
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, %s: %s", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
	}
	var card quotaCard
	if err := json.Unmarshal(rec.Body.Bytes(), &card); err != nil {
		t.Fatal(err)
	}
	if card.Days != 3 || len(card.Providers) != 5 {
		t.Fatalf("card = %+v", card)
	}
	exa := card.Providers[2]
	if exa.Provider != "exa" || exa.Today != 30 || len(exa.Daily) != 3 ||
		exa.Daily[0] != (dayCount{"2026-11-24", 10}) || exa.Daily[2] != (dayCount{"2026-11-26", 30}) {
		t.Errorf("exa = %+v", exa)
	}
	// 60 calls in the 2.5 days since the first of them: 24 a day, so the 10
	// left of 40 go by 12:00 + 10/24 days = 22:00 today.
	if b := exa.Burn; b == nil || b.Used != 30 || b.Remaining != 10 || b.Period != "day" ||
		b.ExhaustsAt == nil || !b.ExhaustsAt.Equal(time.Date(2026, 11, 26, 22, 0, 0, 0, time.UTC)) {
		t.Errorf("exa burn = %+v", exa.Burn)
	}
	if apollo := card.Providers[0]; apollo.Today != 5 || apollo.Burn != nil {
		t.Errorf("apollo = %+v", apollo)
	}
}

func TestBadParametersGet400(t *testing.T) {
	h := newServer(t).routes()
	for _, url := range []string{
		"/api/quota?days=0", "/api/quota?days=91", "/api/quota?days=seven",
		"/api/errors?limit=0", "/api/errors?limit=1001", "/api/errors?limit=x",
		"/api/errors?since=yesterday", "/api/errors?since=2026-11-26",
	} {
		rec := get(t, h, url)
		var body map[string]string
		if rec.Code != http.StatusBadRequest || json.Unmarshal(rec.Body.Bytes(), &body) != nil || body["error"] == "" {
			t.Errorf("%s: %d %s, want 400 with a JSON error", url, rec.Code, rec.Body)
		}
	}
}

func TestErrorsWithoutPostgres(t *testing.T) {
	rec := get(t, newServer(t).routes(), "/api/errors")
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "-postgres") {
		t.Errorf("%d %s, want 503 saying how to configure it", rec.Code, rec.Body)
	}
}

func TestErrors(t *testing.T) {
	pool := testsupport.Postgres(t)
	ctx := context.Background()
	for _, sql := range []string{
		`CREATE TABLE prospects (id text PRIMARY KEY, enrichment_source_status jsonb)`,
		`INSERT INTO prospects VALUES
		 ('a', '{"exa": {"status": "failed", "error": "HTTP 429", "at": "2026-11-26T03:15:03.123Z"}}'),
		 ('b', '{"sec": {"status": "failed", "error": "HTTP 500", "at": "2026-11-26T09:00:00.000Z"}, "exa": "failed"}'),
		 ('c', '{"claude": {"status": "failed", "error": "old", "at": "2026-11-20T00:00:00.000Z"}}')`,
	} {
		if _, err := pool.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	s := newServer(t)
	var err error
	if s.statuses, err = sourcestatus.NewReader(pool); err != nil {
		t.Fatal(err)
	}
	h := s.routes()

	var feed errorFeed
	rec := get(t, h, "/api/errors") // the last 24 hours
	if err := json.Unmarshal(rec.Body.Bytes(), &feed); rec.Code != 200 || err != nil {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	if len(feed.Errors) != 2 || feed.Errors[0].ProspectID != "b" || feed.Errors[0].Error != "HTTP 500" || feed.Errors[1].Source != "exa" {
		t.Errorf("feed = %+v", feed)
	}
	rec = get(t, h, "/api/errors?since=2026-11-01T00:00:00Z&limit=3")
	if err := json.Unmarshal(rec.Body.Bytes(), &feed); rec.Code != 200 || err != nil {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	if len(feed.Errors) != 3 || feed.Errors[2].Error != "old" {
		t.Errorf("feed since Nov 1 = %+v", feed)
	}
}

func TestPage(t *testing.T) {
	rec := get(t, newServer(t).routes(), "/")
	body := rec.Body.String()
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("%d %s", rec.Code, rec.Header())
	}
	if n := strings.Count(body, "<svg"); n != 5 {
		t.Errorf("%d charts, want 5", n)
	}
	// exa's tallest bar (30 today) fills the chart; its day before, 20, two thirds.
	if !strings.Contains(body, `height="80"><title>2026-11-26: 30</title>`) || !strings.Contains(body, `height="53"><title>2026-11-25: 20</title>`) {
		t.Errorf("bars are not drawn to scale:\n%s", body)
	}
	if rec := get(t, newServer(t).routes(), "/nope"); rec.Code != http.StatusNotFound {
		t.Errorf("/nope: %d, want 404", rec.Code)
	}
}

func TestSampleWeek(t *testing.T) {
	mr := miniredis.RunT(t)
	seedSampleWeek(mr, now)
	if v, err := mr.Get(usage.Key(usage.Claude, now.AddDate(0, 0, -13))); err != nil || v == "" {
		t.Errorf("sample week lacks claude 13 days ago: %q, %v", v, err)
	}
}
