package sourcestatus

import (
	"errors"
	"net/http"

	"github.com/enrichmeter/enrichmeter/internal/refusal"
)

// A refuser is an error that refused a call before it was sent, such as
// usage's QuotaError: RefusalReason says why, briefly and without secrets.
// FromHTTP finds it by this method, so that sourcestatus imports neither
// usage nor providers (nor, through them, a Redis client).
type refuser interface {
	error
	RefusalReason() string
}

// refusalReason returns why the call that resp and err describe was refused
// before it was sent, and whether it was: resp stands for a refused request
// (providers' decorators answer one with such a response; its reason is its
// error's RefusalReason, or else the error's message), or err's chain holds
// a refuser.
func refusalReason(resp *http.Response, err error) (string, bool) {
	if rerr := refusal.Err(resp); rerr != nil {
		if r, ok := errors.AsType[refuser](rerr); ok {
			return r.RefusalReason(), true
		}
		return rerr.Error(), true
	}
	if r, ok := errors.AsType[refuser](err); ok {
		return r.RefusalReason(), true
	}
	return "", false
}
