package httpupload

import (
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"fmt"
	"hash"
	"net/http"
	"strings"
)

// checksumAlgorithms are the tus checksum extension's algorithms served.
const checksumAlgorithms = "sha1,sha256,sha512,md5"

// bodyChecksum is a request's Upload-Checksum: the digest its body must
// have.
type bodyChecksum struct {
	algorithm string
	want      []byte
	h         hash.Hash
}

// parseChecksum reads tus Upload-Checksum ("<algorithm> <base64 digest>").
// It returns nil when the request has none; an error for an unknown
// algorithm or a malformed value (tus answers both with 400).
func parseChecksum(r *http.Request) (*bodyChecksum, error) {
	v, ok, err := header(r, "Upload-Checksum")
	if !ok || err != nil {
		return nil, err
	}
	alg, enc, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok {
		return nil, fmt.Errorf("Upload-Checksum must be an algorithm and a base64 digest")
	}
	c := &bodyChecksum{algorithm: strings.ToLower(alg)}
	switch c.algorithm {
	case "sha1":
		c.h = sha1.New()
	case "sha256":
		c.h = sha256.New()
	case "sha512":
		c.h = sha512.New()
	case "md5":
		c.h = md5.New()
	default:
		return nil, fmt.Errorf("Upload-Checksum algorithm %q is not one of %s", alg, checksumAlgorithms)
	}
	if c.want, err = base64.StdEncoding.DecodeString(strings.TrimSpace(enc)); err != nil || len(c.want) != c.h.Size() {
		return nil, fmt.Errorf("Upload-Checksum digest is not a base64 %s digest", c.algorithm)
	}
	return c, nil
}

// writer is where the body's bytes go to be summed (nil for no checksum).
func (c *bodyChecksum) writer() hash.Hash {
	if c == nil {
		return nil
	}
	return c.h
}

// matches reports whether the body summed so far has the declared digest.
func (c *bodyChecksum) matches() bool { return c == nil || bytes.Equal(c.h.Sum(nil), c.want) }
