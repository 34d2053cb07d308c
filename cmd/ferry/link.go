package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ferryhq/ferry/storage"
	"github.com/ferryhq/ferry/web"
)

const linkHeader = `Usage: ferry link [flags] ID...

Prints, one line per file, a signed read-only link that opens that one file
(GET and HEAD, ranges, ?download=1) without a token until it expires:

  <server>/files/<id>?exp=<unix time>&sig=<signature>

ID is a file's id, or a URL that ends in /files/<id>.

By default the server makes the link (POST /api/files/<id>/link): --token
must be a full-access or read token, the file must exist, and --ttl may not
exceed the server's --link-max-ttl (0: the server's --link-ttl).

With --link-secret (FERRY_LINK_SECRET, the server's own secret) the link is
signed here, without asking the server: the file is not checked, and --ttl
is not capped (0: 7 days). Every server sharing that secret accepts it.
`

// linkConfig is what `ferry link` is told by flags and environment.
type linkConfig struct {
	server, token string
	secret        secretString
	ttl           time.Duration
}

// runLink prints a signed link for every ID in args. It returns
// flag.ErrHelp for --help, an error for bad flags or no ID, and the first
// failure otherwise (after trying every ID).
func runLink(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("link", stderr, linkHeader)
	var c linkConfig
	e := envFlags{fs}
	e.String(&c.server, "server", "http://localhost:8080", "base URL of the ferry server")
	e.Secret(&c.token, "token", "access token with read scope, sent as Authorization: Bearer (of a comma-separated list, the first)")
	e.Var(&c.secret, "link-secret", "sign here with this secret (the server's --link-secret; of a comma-separated list, the first) instead of asking the server")
	e.Duration(&c.ttl, "ttl", 0, "how long the link works; 0: the server's default (7 days when signing here)")
	ids, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		fs.Usage()
		return errors.New("link: no ID given")
	}
	c.server = strings.TrimRight(c.server, "/")
	c.token, _, _ = strings.Cut(c.token, ",")

	var sign func(ctx context.Context, id string) (string, error)
	if secrets := splitList(string(c.secret)); len(secrets) > 0 {
		signer, err := web.NewLinkSigner([][]byte{[]byte(secrets[0])})
		if err != nil {
			return fmt.Errorf("link: --link-secret: %w", err)
		}
		ttl := c.ttl
		if ttl == 0 {
			ttl = web.DefaultLinkTTL
		}
		sign = func(_ context.Context, id string) (string, error) {
			return signer.Path(id, time.Now().Add(ttl)), nil
		}
	} else {
		sign = func(ctx context.Context, id string) (string, error) { return askLink(ctx, c, id) }
	}

	var errs []error
	for _, arg := range ids {
		id := fileIDOf(arg)
		if !storage.ValidID(id) {
			err := fmt.Errorf("%s: not a file id or a /files/<id> URL", arg)
			fmt.Fprintln(stderr, "ferry link:", err)
			errs = append(errs, err)
			continue
		}
		path, err := sign(ctx, id)
		if err != nil {
			err = fmt.Errorf("%s: %w", id, err)
			fmt.Fprintln(stderr, "ferry link:", err)
			errs = append(errs, err)
			continue
		}
		fmt.Fprintln(stdout, c.server+path)
	}
	if len(errs) > 0 {
		return fmt.Errorf("%d of %d links failed: %w", len(errs), len(ids), errs[0])
	}
	return nil
}

// fileIDOf takes the id out of a /files/<id> URL, or returns arg as it is.
func fileIDOf(arg string) string {
	if _, rest, ok := strings.Cut(arg, "/files/"); ok {
		arg = rest
	}
	arg, _, _ = strings.Cut(arg, "?")
	return arg
}

// askLink mints a link through the server's API and returns its path.
func askLink(ctx context.Context, c linkConfig, id string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	u := c.server + "/api/files/" + id + "/link"
	if c.ttl > 0 {
		u += "?ttl=" + url.QueryEscape(c.ttl.String())
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, nil)
	if err != nil {
		return "", err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var out struct {
		URL   string `json:"url"`
		Error string `json:"error"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&out); err != nil && resp.StatusCode == http.StatusOK {
		return "", fmt.Errorf("the server's answer is not a link: %w", err)
	}
	switch {
	case resp.StatusCode == http.StatusOK && strings.HasPrefix(out.URL, "/files/"):
		return out.URL, nil
	case resp.StatusCode == http.StatusOK:
		return "", fmt.Errorf("the server answered an unexpected link %q", out.URL)
	case resp.StatusCode == http.StatusUnauthorized:
		return "", errors.New("the server needs a token (--token or FERRY_TOKEN)")
	case resp.StatusCode == http.StatusForbidden:
		return "", errors.New("this token may not make links: it needs read scope (a full or read token)")
	case resp.StatusCode == http.StatusNotFound:
		return "", errors.New("no such file (or a ferry too old to make links: use --link-secret)")
	case out.Error != "":
		return "", fmt.Errorf("the server answered %d %s", resp.StatusCode, out.Error)
	}
	return "", fmt.Errorf("the server answered %s", resp.Status)
}
