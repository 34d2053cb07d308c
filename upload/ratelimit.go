package upload

import "time"

// messageBucket is a token bucket over the messages of one connection: it
// holds up to burst tokens, gains rate tokens a second, and every message,
// text or binary, takes one. A connection may thus send rate messages a
// second on average, and burst at once after a pause.
//
// It exists because a message has a fixed cost (a frame header, a hand-over
// between goroutines, a storage write, a hash update) that tiny messages do
// not amortise: one-byte messages cost the server hundreds of times more CPU
// per byte than 64 KiB ones. Honest clients send messages of up to
// max_frame (1 MiB by default), far below the default rate.
type messageBucket struct {
	rate, burst float64
	tokens      float64
	last        time.Time
}

// newMessageBucket returns a full bucket, or nil (no limit) if rate <= 0.
func newMessageBucket(rate, burst int, now time.Time) *messageBucket {
	if rate <= 0 {
		return nil
	}
	return &messageBucket{rate: float64(rate), burst: float64(burst), tokens: float64(burst), last: now}
}

// take reports whether a message that began at now is within the limit, and
// counts it if so. A nil bucket allows everything.
func (b *messageBucket) take(now time.Time) bool {
	if b == nil {
		return true
	}
	if d := now.Sub(b.last); d > 0 {
		b.tokens = min(b.burst, b.tokens+d.Seconds()*b.rate)
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
