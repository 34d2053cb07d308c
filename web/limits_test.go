package web_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/ferryhq/ferry/upload"
	"github.com/ferryhq/ferry/web"
)

// GET /api/limits publishes the server's limits, without a token.
func TestLimits(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  web.Config
		want web.LimitsJSON
	}{
		{"defaults", web.Config{}, web.LimitsJSON{AllowedTypes: []string{}, MaxFrame: upload.DefaultMaxFrame}},
		{"set", web.Config{Tokens: []string{"secret"}, Config: upload.Config{MaxSize: 1 << 20, MaxFrame: 64 << 10, AllowedTypes: []string{"image/*", "video/mp4"}}},
			web.LimitsJSON{MaxSize: 1 << 20, AllowedTypes: []string{"image/*", "video/mp4"}, MaxFrame: 64 << 10}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts, _ := newServer(t, tc.cfg)
			resp, body := do(t, http.MethodGet, ts.URL+"/api/limits", nil)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d %q, want 200", resp.StatusCode, body)
			}
			var got web.LimitsJSON
			if err := json.Unmarshal([]byte(body), &got); err != nil {
				t.Fatalf("%v: %q", err, body)
			}
			w, _ := json.Marshal(tc.want)
			g, _ := json.Marshal(got)
			if string(w) != string(g) {
				t.Errorf("got %s, want %s", g, w)
			}
		})
	}
}
