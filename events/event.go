package events

import (
	"time"

	"github.com/ferryhq/ferry/storage"
)

// Kind names what happened to an upload.
type Kind string

// The kinds of Event.
const (
	// Created: a new upload exists, at offset 0.
	Created Kind = "created"
	// Progress: more of the upload is durable (Upload.Offset).
	Progress Kind = "progress"
	// Complete: the upload is a complete file, at Upload.URL, with its
	// server-computed Upload.SHA256.
	Complete Kind = "complete"
	// Deleted: the upload or file was deleted (DELETE /api/files/<id>, tus
	// termination, an abort, or a file refused for its type).
	Deleted Kind = "deleted"
	// Expired: the expiry sweep deleted the upload, left untouched past
	// its expiry period.
	Expired Kind = "expired"
)

// Event is one thing that happened to one upload. Its JSON form is what
// subscribers send on.
type Event struct {
	// ID is unique to this event and sorts by time (a UUID v7): a receiver
	// that may be given an event twice drops the second by its ID.
	ID   string    `json:"id"`
	Kind Kind      `json:"type"`
	Time time.Time `json:"time"`
	// Upload is the upload as of the event.
	Upload Upload `json:"upload"`
}

// Upload is what an Event says of its upload.
type Upload struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Size is the declared size, or storage.SizeUnknown (-1) while an
	// upload over HTTP has not declared it.
	Size int64  `json:"size"`
	Type string `json:"type,omitempty"`
	// Offset is the number of durable bytes.
	Offset int64 `json:"offset"`
	// SHA256 is the server-computed digest, set once complete.
	SHA256 string `json:"sha256,omitempty"`
	// URL is the download path, /files/<id>: relative, since only the
	// subscriber knows the public address it is seen at.
	URL string `json:"url"`
}

// New makes an Event of kind k for the upload info describes, with a fresh
// ID and the time now.
func New(k Kind, info storage.Info, now time.Time) Event {
	return Event{
		ID:   storage.NewID(),
		Kind: k,
		Time: now.UTC(),
		Upload: Upload{
			ID:     info.ID,
			Name:   info.Meta.Name,
			Size:   info.Meta.Size,
			Type:   info.Meta.MIME,
			Offset: info.Offset,
			SHA256: info.SHA256,
			URL:    "/files/" + info.ID,
		},
	}
}
