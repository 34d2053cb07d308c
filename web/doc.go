// Package web is ferry's HTTP front: the echo server that routes every
// request, the middleware every response passes through, the one map from
// errors to HTTP answers (package httperr), and the embedded uploader page.
//
// Routes:
//
//	GET  /                  the uploader page (embedded, no-cache + ETag)
//	GET  /static/*          its scripts and styles
//	GET  /ws/upload         the WebSocket upload protocol (package upload)
//	GET  /files/:id         downloads with ranges; HEAD too (package download)
//	GET  /api/files         completed files, newest first, paged
//	GET  /api/files/:id     metadata of a file or an upload in progress
//	POST /api/files/:id/link  a signed, expiring, read-only link to one file
//	DEL  /api/files/:id     delete a file or an upload
//	*    /uploads/…         tus 1.0 and IETF resumable uploads (package httpupload)
//	GET  /healthz           200 when storage answers
//	GET  /metrics           Prometheus text format
//
// echo lives in this package only. The protocol packages (upload,
// httpupload, download) are plain net/http handlers that answer their own
// errors through httperr.Write; routes with an :id hand it to them as
// r.PathValue("id") (withID). DELETE /api/files/:id (api.go) and /healthz
// (health.go) are one storage call each and are served here.
//
// Every response carries X-Content-Type-Options: nosniff. A request whose
// Host is not one the server answers to (localhost, an IP address, or
// Config.AllowedHosts) is refused with 421 bad_host before anything else,
// against DNS rebinding (access.go). When tokens are configured, every
// route but /healthz, OPTIONS /uploads/ and the page needs one (Bearer
// header or ?token=) whose scope (full, upload or read) covers the route,
// checked before any handler runs, so a WebSocket without one is refused
// with 401 (or 403 for the wrong scope) before the upgrade. /files/<id>
// also opens with a signed link (links.go). Cross-origin browsers are let
// in only from configured origins, for CORS and for the WebSocket Origin
// check alike.
package web
