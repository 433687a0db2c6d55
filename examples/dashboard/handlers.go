package main

import (
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"time"

	"github.com/enrichmeter/enrichmeter/examples/internal/enrich"
	"github.com/enrichmeter/enrichmeter/sourcestatus"
	"github.com/enrichmeter/enrichmeter/usage"
)

// server holds what the dashboard's endpoints read.
type server struct {
	usage    *usage.Reader
	statuses *sourcestatus.Reader // nil without PostgreSQL
	quotas   map[usage.Provider]usage.Quota
	now      func() time.Time
}

func (s *server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/quota", s.quota)
	mux.HandleFunc("GET /api/errors", s.errors)
	mux.HandleFunc("GET /{$}", s.page)
	return mux
}

// quotaCard is the JSON of GET /api/quota, shaped for the API Quota Burn card.
type quotaCard struct {
	Days      int             `json:"days"`
	Providers []providerUsage `json:"providers"`
}

type providerUsage struct {
	Provider string     `json:"provider"`
	Today    int64      `json:"today"`
	Daily    []dayCount `json:"daily"` // oldest first
	Burn     *burn      `json:"burn,omitempty"`
}

type dayCount struct {
	Day   string `json:"day"` // YYYY-MM-DD, UTC
	Count int64  `json:"count"`
}

type burn struct {
	Period       string     `json:"period"` // "day" or "month"
	Limit        int64      `json:"limit"`
	Used         int64      `json:"used"`
	Remaining    int64      `json:"remaining"`
	PeriodStart  time.Time  `json:"periodStart"`
	PeriodEnd    time.Time  `json:"periodEnd"`
	DailyAverage float64    `json:"dailyAverage"`
	ExhaustsAt   *time.Time `json:"exhaustsAt"` // null when it will not run out this period
}

// quota serves GET /api/quota?days=N (1 to 90, default 7).
func (s *server) quota(w http.ResponseWriter, r *http.Request) {
	days, err := intParam(r, "days", 7, 1, 90)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	card, err := s.quotaCard(r, days)
	if err != nil {
		writeError(w, http.StatusBadGateway, err)
		return
	}
	writeJSON(w, card)
}

func (s *server) quotaCard(r *http.Request, days int) (quotaCard, error) {
	now := s.now()
	card := quotaCard{Days: days}
	for _, p := range enrich.Providers {
		counts, err := s.usage.Daily(r.Context(), p, now.AddDate(0, 0, 1-days), now)
		if err != nil {
			return card, err
		}
		u := providerUsage{Provider: string(p), Today: counts[len(counts)-1].Count}
		for _, d := range counts {
			u.Daily = append(u.Daily, dayCount{Day: d.Day.Format("2006-01-02"), Count: d.Count})
		}
		if q, ok := s.quotas[p]; ok {
			b, err := s.usage.Burn(r.Context(), p, q)
			if err != nil {
				return card, err
			}
			u.Burn = &burn{
				Period: q.Period.String(), Limit: q.Limit, Used: b.Used, Remaining: b.Remaining,
				PeriodStart: b.PeriodStart, PeriodEnd: b.PeriodEnd, DailyAverage: b.DailyAverage,
			}
			if !b.Exhausts.IsZero() {
				u.Burn.ExhaustsAt = &b.Exhausts
			}
		}
		card.Providers = append(card.Providers, u)
	}
	return card, nil
}

// errorFeed is the JSON of GET /api/errors, for the Error Feed card.
type errorFeed struct {
	Since  time.Time      `json:"since"`
	Errors []errorFeedRow `json:"errors"`
}

type errorFeedRow struct {
	ProspectID string     `json:"prospectId"`
	Source     string     `json:"source"`
	Error      string     `json:"error"`
	At         *time.Time `json:"at"` // null for legacy entries
}

// errors serves GET /api/errors?since=RFC3339&limit=N (since defaults to 24
// hours ago; limit 1 to 1000, default 50).
func (s *server) errors(w http.ResponseWriter, r *http.Request) {
	limit, err := intParam(r, "limit", 50, 1, 1000)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	since := s.now().Add(-24 * time.Hour)
	if v := r.URL.Query().Get("since"); v != "" {
		if since, err = time.Parse(time.RFC3339, v); err != nil {
			writeError(w, http.StatusBadRequest, fmt.Errorf("since %q is not an RFC 3339 time", v))
			return
		}
	}
	if s.statuses == nil {
		writeError(w, http.StatusServiceUnavailable, fmt.Errorf("no PostgreSQL configured: start the dashboard with -postgres"))
		return
	}
	failures, err := s.statuses.Failures(r.Context(), since, limit)
	if err != nil {
		writeError(w, http.StatusBadGateway, err)
		return
	}
	feed := errorFeed{Since: since.UTC(), Errors: []errorFeedRow{}}
	for _, f := range failures {
		row := errorFeedRow{ProspectID: f.ProspectID, Source: f.Source, Error: f.Error}
		if !f.At.IsZero() {
			row.At = &f.At
		}
		feed.Errors = append(feed.Errors, row)
	}
	writeJSON(w, feed)
}

// page serves the HTML page: per provider, the daily counts as SVG bars.
func (s *server) page(w http.ResponseWriter, r *http.Request) {
	card, err := s.quotaCard(r, 14)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := pageTemplate.Execute(w, card); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

const barWidth, chartHeight = 18, 80

var pageTemplate = template.Must(template.New("page").Funcs(template.FuncMap{
	"bars": func(days []dayCount) []map[string]any {
		var top int64 = 1
		for _, d := range days {
			top = max(top, d.Count)
		}
		out := make([]map[string]any, len(days))
		for i, d := range days {
			h := int(d.Count * chartHeight / top)
			out[i] = map[string]any{"X": i * (barWidth + 4), "Y": chartHeight - h, "H": h, "W": barWidth, "Day": d.Day, "Count": d.Count}
		}
		return out
	},
	"width":  func(days []dayCount) int { return len(days) * (barWidth + 4) },
	"height": func() int { return chartHeight },
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>API Quota Burn</title>
<style>body{font:14px system-ui,sans-serif;margin:2em;color:#222}section{margin-bottom:1.5em}h2{font-size:15px;margin:.2em 0}rect{fill:#4a7bd0}small{color:#666}</style>
</head><body>
<h1>API Quota Burn</h1>
<p><small>Successful calls per UTC day, last {{.Days}} days. JSON: <a href="/api/quota">/api/quota</a>, <a href="/api/errors">/api/errors</a>.</small></p>
{{range .Providers}}<section>
<h2>{{.Provider}}: {{.Today}} today{{with .Burn}}, {{.Used}} of {{.Limit}} this {{.Period}}{{end}}</h2>
<svg width="{{width .Daily}}" height="{{height}}" role="img" aria-label="{{.Provider}} daily calls">
{{range bars .Daily}}<rect x="{{.X}}" y="{{.Y}}" width="{{.W}}" height="{{.H}}"><title>{{.Day}}: {{.Count}}</title></rect>
{{end}}</svg>
</section>
{{end}}</body></html>
`))

// intParam reads an integer query parameter within [lo, hi].
func intParam(r *http.Request, name string, def, lo, hi int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%s %q is not an integer in %d..%d", name, v, lo, hi)
	}
	return n, nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
}
