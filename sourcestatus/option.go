package sourcestatus

import (
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel/metric"
)

// Defaults, shared with the TypeScript app.
const (
	DefaultTable    = "prospects"
	DefaultColumn   = "enrichment_source_status"
	DefaultIDColumn = "id"
)

// DefaultMaxErrorLen is the default limit, in bytes, of an error message that
// [Updater.Update] stores; see [WithMaxErrorLen].
const DefaultMaxErrorLen = 4096

// An Option configures an [Updater] or a [Reader]; options that do not apply
// are ignored. An option given its zero value ("", 0, nil) keeps the default.
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	table, column, idColumn string
	ignoreStale             bool
	clock                   func() time.Time
	maxErrorLen             int
	meterProvider           metric.MeterProvider
}

// WithTable sets the table that holds the prospects, optionally
// schema-qualified ("crm.prospects"). Names are used as written, quoted, so
// they are case-sensitive: "Leads" is not the table leads. The default is
// [DefaultTable]; an empty name keeps it.
func WithTable(name string) Option {
	return nameOption(name, func(c *config) *string { return &c.table })
}

// WithColumn sets the JSONB column that holds the statuses. The default is
// [DefaultColumn]; an empty name keeps it.
func WithColumn(name string) Option {
	return nameOption(name, func(c *config) *string { return &c.column })
}

// WithIDColumn sets the column that identifies a prospect, of any type whose
// values can be written as text (text, varchar(n), char(n), uuid, bigint,
// numeric(p,s)...). An id matches the row whose id equals it as a value of
// that type without its length or precision, so it is never cut or rounded
// into another prospect's id; an id that is not valid input for the type
// matches nothing. (Inside a [pgx.Tx], PostgreSQL has then aborted the
// transaction, as after any failed statement.) The default is
// [DefaultIDColumn]; an empty name keeps it.
func WithIDColumn(name string) Option {
	return nameOption(name, func(c *config) *string { return &c.idColumn })
}

// nameOption sets the name that field points to, unless name is empty.
func nameOption(name string, field func(*config) *string) Option {
	return optionFunc(func(c *config) {
		if name != "" {
			*field(c) = name
		}
	})
}

// IgnoreStale makes [Updater.Update] leave an entry as it is when the update's
// At is older than the stored entry's, so a retried or replayed step cannot
// overwrite a newer outcome. Entries without a time (legacy) are always
// overwritten. Times are compared in their stored toISOString form. The
// default is off: the last update wins.
func IgnoreStale() Option {
	return optionFunc(func(c *config) { c.ignoreStale = true })
}

// WithClock sets the source of the time written when a payload's At is zero
// and by [Updater.Init]. The default is [time.Now]; nil keeps it.
func WithClock(now func() time.Time) Option {
	return optionFunc(func(c *config) {
		if now != nil {
			c.clock = now
		}
	})
}

// WithMaxErrorLen sets the limit, in bytes of UTF-8, of the error message
// that [Updater.Update] stores: a longer message is cut at a rune boundary
// and ends with [TruncatedMark], within the limit. The cut is made before
// the message is cleaned, and drops what of the word the limit falls in
// could be part of a URL or a key, so that no piece of a secret is left at
// the cut: the stored message may be shorter than the limit. The default is
// [DefaultMaxErrorLen], 4 KiB; n <= 0 keeps it, and a limit below 64 is
// raised to 64.
func WithMaxErrorLen(n int) Option {
	return optionFunc(func(c *config) {
		if n > 0 {
			c.maxErrorLen = max(n, 64)
		}
	})
}

// names holds the quoted identifiers of a validated configuration; the
// unquoted ones are in config.
type names struct {
	table, column, idColumn string
}

func newConfig(opts []Option) (config, names, error) {
	c := config{table: DefaultTable, column: DefaultColumn, idColumn: DefaultIDColumn, clock: time.Now, maxErrorLen: DefaultMaxErrorLen}
	for _, o := range opts {
		if o != nil {
			o.apply(&c)
		}
	}
	var n names
	table, err := identifier("table", c.table, 2)
	if err != nil {
		return c, n, err
	}
	column, err := identifier("column", c.column, 1)
	if err != nil {
		return c, n, err
	}
	id, err := identifier("id column", c.idColumn, 1)
	if err != nil {
		return c, n, err
	}
	return c, names{table: table.Sanitize(), column: column.Sanitize(), idColumn: id.Sanitize()}, nil
}

// identifier checks a name made of up to parts dot-separated plain SQL
// identifiers: a letter or '_', then letters, digits, '_' or '$', at most 63
// bytes each. Anything else, however it would be quoted, is refused.
func identifier(what, name string, parts int) (pgx.Identifier, error) {
	id := pgx.Identifier(strings.Split(name, "."))
	if len(id) > parts {
		return nil, fmt.Errorf("sourcestatus: %s %q: too many dots", what, name)
	}
	for _, p := range id {
		if !plainIdentifier(p) {
			return nil, fmt.Errorf("sourcestatus: %s %q: %q is not a plain SQL identifier ([A-Za-z_][A-Za-z0-9_$]*, at most 63 bytes)", what, name, p)
		}
	}
	return id, nil
}

func plainIdentifier(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		letter := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_'
		if !letter && (i == 0 || !('0' <= c && c <= '9' || c == '$')) {
			return false
		}
	}
	return true
}

// WithMeterProvider makes an [Updater] report OpenTelemetry metrics through
// mp: entries written by status, failed updates by kind, and how long each
// update statement took (the names are in metrics.go and the README). The
// default is no metrics; nil keeps it. A [Reader] ignores it.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return optionFunc(func(c *config) {
		if mp != nil {
			c.meterProvider = mp
		}
	})
}
