package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/ferryhq/ferry/internal/httperr"
	"github.com/ferryhq/ferry/storage"
)

// Signed links: /files/<id>?exp=<unix seconds>&sig=<base64url HMAC-SHA256>
// open that one file (GET and HEAD, ranges, ?download=1, ?follow=1) until
// exp, without a token. The MAC covers a version tag, the id and exp, so a
// link can be neither moved to another file nor extended. Every instance
// configured with the same secret verifies every other's links.

const (
	// DefaultLinkTTL is how long a link lives when the request names no ttl.
	DefaultLinkTTL = 7 * 24 * time.Hour
	// DefaultLinkMaxTTL is the longest ttl a request may ask for.
	DefaultLinkMaxTTL = 30 * 24 * time.Hour
	// MinLinkSecret is the shortest link secret accepted, in bytes.
	MinLinkSecret = 32

	linkVersion = "ferry-link-v1"
)

var (
	errLinkExpired = &httperr.Error{Status: http.StatusForbidden, Code: "link_expired", Message: "the signed link has expired"}
	errLinkInvalid = &httperr.Error{Status: http.StatusForbidden, Code: "invalid_link", Message: "the link's signature does not verify"}
)

// LinkSigner makes and checks signed links. The first secret signs; every
// secret verifies, so a secret can be rotated by putting the new one first
// and dropping the old one once its links have expired.
type LinkSigner struct {
	secrets [][]byte
}

// NewLinkSigner returns a signer over secrets. It returns an error when
// there is none or one is shorter than MinLinkSecret bytes.
func NewLinkSigner(secrets [][]byte) (*LinkSigner, error) {
	if len(secrets) == 0 {
		return nil, errors.New("web: no link secret")
	}
	for i, s := range secrets {
		if len(s) < MinLinkSecret {
			return nil, fmt.Errorf("web: link secret %d is %d bytes, want at least %d", i+1, len(s), MinLinkSecret)
		}
	}
	return &LinkSigner{secrets: secrets}, nil
}

// Path returns the signed path of file id that expires at exp:
// /files/<id>?exp=<unix>&sig=<base64url>.
func (l *LinkSigner) Path(id string, exp time.Time) string {
	e := strconv.FormatInt(exp.Unix(), 10)
	q := url.Values{"exp": {e}, "sig": {l.sign(l.secrets[0], id, e)}}
	return "/files/" + url.PathEscape(id) + "?" + q.Encode()
}

func (l *LinkSigner) sign(secret []byte, id, exp string) string {
	m := hmac.New(sha256.New, secret)
	io.WriteString(m, linkVersion+"\n"+id+"\n"+exp)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// verify checks a link for id: nil when sig is a valid signature of exp by
// any secret and exp is after now; errLinkExpired when the signature is
// valid but exp has passed; errLinkInvalid otherwise. The signature is
// checked before the expiry, so an altered exp is invalid, not expired.
func (l *LinkSigner) verify(id, exp, sig string, now time.Time) error {
	unix, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || sig == "" || exp != strconv.FormatInt(unix, 10) {
		return errLinkInvalid
	}
	got, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(sig, "="))
	if err != nil {
		return errLinkInvalid
	}
	valid := 0
	for _, s := range l.secrets {
		want, _ := base64.RawURLEncoding.DecodeString(l.sign(s, id, exp))
		valid |= boolInt(hmac.Equal(got, want))
	}
	if valid == 0 {
		return errLinkInvalid
	}
	if !now.Before(time.Unix(unix, 0)) {
		return errLinkExpired
	}
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// linkJSON is the answer to POST /api/files/<id>/link.
type linkJSON struct {
	URL       string `json:"url"`
	ExpiresAt string `json:"expires_at"`
}

// mintLink serves POST /api/files/:id/link: a signed read-only link to one
// file (complete or still uploading) that lives for the ttl asked for (JSON
// body {"ttl": "24h"} or {"ttl": 86400}, or ?ttl=, in seconds or as a Go
// duration), DefaultLinkTTL when none. A ttl that is not positive or over
// the maximum is 400 bad_request; an unknown id 404.
func (s *Server) mintLink(c echo.Context) error {
	id := c.Param("id")
	if !storage.ValidID(id) {
		return fmt.Errorf("web: link for %q: %w", id, storage.ErrNotFound)
	}
	ttl, err := s.linkTTL(c)
	if err != nil {
		return err
	}
	if _, err := s.cfg.Backend.Stat(c.Request().Context(), id); err != nil {
		return fmt.Errorf("web: link for %s: %w", id, err)
	}
	exp := s.now().Add(ttl).Truncate(time.Second)
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, linkJSON{URL: s.links.Path(id, exp), ExpiresAt: exp.UTC().Format(time.RFC3339)})
}

// linkTTL reads the ttl a mint request asks for.
func (s *Server) linkTTL(c echo.Context) (time.Duration, error) {
	raw := c.QueryParam("ttl")
	if body := c.Request().Body; body != nil && raw == "" {
		var req struct {
			TTL json.RawMessage `json:"ttl"`
		}
		data, err := io.ReadAll(io.LimitReader(body, 4<<10))
		if err != nil {
			return 0, fmt.Errorf("web: reading link request: %w", err)
		}
		if len(strings.TrimSpace(string(data))) > 0 {
			if err := json.Unmarshal(data, &req); err != nil {
				return 0, httperr.BadRequest("link request: %v", err)
			}
			raw = strings.Trim(string(req.TTL), `"`)
		}
	}
	if raw == "" || raw == "null" {
		return min(s.cfg.LinkTTL, s.cfg.LinkMaxTTL), nil
	}
	ttl, err := parseTTL(raw)
	if err != nil {
		return 0, httperr.BadRequest("ttl %q: %v", raw, err)
	}
	if ttl > s.cfg.LinkMaxTTL {
		return 0, httperr.BadRequest("ttl %s is over the maximum %s", ttl, s.cfg.LinkMaxTTL)
	}
	return ttl, nil
}

// parseTTL reads a whole number of seconds or a Go duration ("36h", "90m").
func parseTTL(s string) (time.Duration, error) {
	var ttl time.Duration
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n > int64((1<<63-1)/time.Second) {
			return 0, errors.New("too long")
		}
		ttl = time.Duration(n) * time.Second
	} else if ttl, err = time.ParseDuration(s); err != nil {
		return 0, errors.New("want seconds or a duration such as 24h")
	}
	if ttl < time.Second {
		return 0, errors.New("must be at least 1s")
	}
	return ttl, nil
}
