package download

import "time"

// SetClock makes h tell the time of a follow's progress and its upload's
// expiry with now instead of time.Now, so that a test decides when the
// idle limit passes.
func SetClock(h *Handler, now func() time.Time) { h.now = now }
