package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"
)

// certFiles serves the certificate of --tls-cert and --tls-key and loads
// them again on reload (SIGHUP): connections already open, and so uploads
// in flight, keep the session they have; new handshakes get the new
// certificate. A reload that fails keeps the old one.
type certFiles struct {
	certFile, keyFile string
	cert              atomic.Pointer[tls.Certificate]
}

// loadCertFiles reads the pair once; a bad pair stops startup.
func loadCertFiles(certFile, keyFile string) (*certFiles, error) {
	c := &certFiles{certFile: certFile, keyFile: keyFile}
	if err := c.reload(); err != nil {
		return nil, err
	}
	return c, nil
}

// reload reads the files again and, if they make a valid pair, serves them
// from the next handshake on.
func (c *certFiles) reload() error {
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("serve: --tls-cert %s and --tls-key %s: %w", c.certFile, c.keyFile, err)
	}
	c.cert.Store(&cert)
	return nil
}

func (c *certFiles) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return c.cert.Load(), nil
}

// tlsConfig is the server side: TLS 1.2 and up, HTTP/2 and HTTP/1.1 by
// ALPN (http.Server adds them). Go's HTTP/2 server does not offer RFC 8441
// extended CONNECT, so browsers open WebSockets over HTTP/1.1, which is
// what the upload endpoint speaks.
func (c *certFiles) tlsConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: c.getCertificate}
}

// reloadOnHangup reloads the certificate on each SIGHUP until ctx ends.
// SIGHUP is caught from when it returns (its default would end the process).
func (c *certFiles) reloadOnHangup(ctx context.Context, logger *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go c.reloadOn(ctx, hup, logger)
}

func (c *certFiles) reloadOn(ctx context.Context, hup chan os.Signal, logger *slog.Logger) {
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			if err := c.reload(); err != nil {
				logger.Error("certificate reload failed: still serving the previous one", "err", err)
				continue
			}
			logger.Info("certificate reloaded", "cert", c.certFile)
		}
	}
}

// redirectToHTTPS answers every plain-HTTP request with 308 to the same
// host and path over https on tlsPort (left out when 443).
func redirectToHTTPS(tlsPort string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if host == "" {
			http.Error(w, "no Host to redirect to", http.StatusBadRequest)
			return
		}
		if ip := net.ParseIP(host); ip != nil && ip.To4() == nil {
			host = "[" + host + "]"
		}
		if tlsPort != "443" {
			host += ":" + tlsPort
		}
		w.Header().Set("Connection", "close")
		http.Redirect(w, r, "https://"+host+r.URL.RequestURI(), http.StatusPermanentRedirect)
	})
}

// serveRedirect listens on addr for plain HTTP and redirects it to https
// until ctx ends.
func serveRedirect(addr, tlsPort string, logger *slog.Logger) (func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("serve: --http-redirect %s: %w", addr, err)
	}
	srv := &http.Server{Handler: redirectToHTTPS(tlsPort), ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout: 30 * time.Second, MaxHeaderBytes: 64 << 10,
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	go func() { _ = srv.Serve(ln) }()
	logger.Info("redirecting plain HTTP to https", "addr", ln.Addr().String())
	return func() { _ = srv.Close() }, nil
}
