package providers

import (
	"context"
	"sync/atomic"

	"github.com/enrichmeter/enrichmeter/usage"
)

// subjectKey is the context key of a request's subject.
type subjectKey struct{}

// WithSubject returns a copy of ctx that carries subject: the tenant,
// workspace or customer of the platform a request is made for. A decorator
// whose Counter can make a [usage.Meter], as a [*usage.Tracker] can, counts a
// successful call of a request with this context, or one derived from it,
// with the Meter's For(subject): in the provider's counter, as any call, and
// beside it in the subject's field of the day's subjects hash
// ("{api_usage}:subjects:2026-11-26" field "acme:exa"). [WithClaudeTokens]
// likewise counts the response's tokens for the subject. A Counter or an
// Adder that makes no Meter counts such calls as any other, without the
// subject.
//
// Subjects come from the caller, and package usage bounds them: a subject
// is 1 to 64 bytes of letters, digits, '.', '_', '-' and '@', and each UTC
// day a tracker admits at most [usage.WithSubjectLimit] of them (1,000 by
// default); the calls of a malformed subject, or of one new once the limit
// is reached, count under [usage.OtherName]. An empty subject removes the
// one ctx carried. ctx must not be nil, as for [context.WithValue].
func WithSubject(ctx context.Context, subject string) context.Context {
	if subject != "" && !subjectsUsed.Load() {
		subjectsUsed.Store(true)
	}
	return context.WithValue(ctx, subjectKey{}, subject)
}

// subjectsUsed says WithSubject was given a subject in this process. Until
// then no context holds one, so the decorators do not look: a program that
// never sets a subject pays one load a call for the feature, not a walk up
// each request's context.
var subjectsUsed atomic.Bool

// SubjectOf returns the subject [WithSubject] stored in ctx, or "" if there
// is none. A nil ctx has none.
func SubjectOf(ctx context.Context) string {
	if ctx == nil {
		return ""
	}
	s, _ := ctx.Value(subjectKey{}).(string)
	return s
}

// counterFor returns what counts a successful call to p for subject, not
// empty: p's Meter for it when there is one, and the decorator's Counter
// otherwise.
func (o *observer) counterFor(p usage.Provider, subject string) Counter {
	if m := o.meterOf(p); m != nil {
		return meterCounter{m.For(subject)}
	}
	return o.c
}

// A providerMeter is a provider's Meter in a decorator.
type providerMeter struct {
	p usage.Provider
	m *usage.Meter
}

// meterOf returns p's Meter, or nil. A decorator counts one provider, or a
// few for ByHost, so a scan beats a map.
func (o *observer) meterOf(p usage.Provider) *usage.Meter {
	for _, pm := range o.meters {
		if pm.p == p {
			return pm.m
		}
	}
	return nil
}
