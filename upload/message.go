package upload

import (
	"fmt"
	"time"

	"github.com/ferryhq/ferry/storage/checkpoint"
)

// message is the state of the binary message being received. Its pieces
// are stored as they arrive when the message cannot pass the declared size
// (the rest of the upload is at least max_frame, the most a message can
// carry); nearer the end they are held back in tail until the message is
// whole, so that one that would pass the size is rejected whole. No
// checkpoint is made while part of a streamed message is stored (see
// midMessage), so that one refused later, over max_frame, can be dropped.
type message struct {
	up     *upload // the upload active when the message began; nil: none
	stream bool    // pieces go to storage as they come
	tail   []byte  // held-back bytes when not streaming
	over   bool    // the held-back message passes the declared size
}

// onPiece takes one piece of a binary message. Checkpoints and progress
// follow it (pace), after the message's state is updated: a checkpoint may
// only come at the end of a message.
func (s *session) onPiece(m inbound) {
	defer s.pace()
	if m.refused {
		s.dropMessage()
		return
	}
	if m.first {
		s.msg = message{up: s.up}
		if u := s.up; u != nil {
			s.msg.stream = u.size-u.received >= s.h.maxFrame
		}
	}
	msg := &s.msg
	// The upload may have ended while the message was arriving (a failed
	// checkpoint, say): its remaining pieces are dropped.
	current := msg.up != nil && msg.up == s.up
	switch {
	case !current:
		s.pieces.put(m.piece)
	case msg.stream:
		s.store(m.data, m.piece)
	default:
		if !msg.over && int64(len(msg.tail)+len(m.data)) > msg.up.size-msg.up.received {
			msg.over, msg.tail = true, nil
		}
		if !msg.over {
			msg.tail = append(msg.tail, m.data...)
		}
		s.pieces.put(m.piece)
	}
	if !m.last {
		return
	}
	switch {
	case msg.up == nil:
		s.sendError(&Error{Code: CodeNotStarted, Message: "no upload is active: send start or resume first"})
	case !current || msg.stream:
	case msg.over:
		u := msg.up
		s.sendError(&Error{Code: CodeSizeExceeded, ID: u.id, Message: fmt.Sprintf(
			"the message would take the upload past its declared size of %d bytes; nothing of it was stored, the upload stays at %d", u.size, u.received)})
	case len(msg.tail) > 0:
		s.store(msg.tail, nil)
	}
	s.msg = message{}
}

// midMessage reports whether part of a binary message has been written to
// the active upload and the rest is still to come. No checkpoint is made for
// progress then: the message may yet go over max_frame, and nothing of a
// message refused for that may be kept.
func (s *session) midMessage() bool {
	return s.msg.stream && s.up != nil && s.msg.up == s.up
}

// dropMessage forgets the binary message in progress, which went over
// max_frame: gorilla has closed the connection with 1009, and nothing of the
// message may be kept. Held-back bytes are simply dropped. Streamed pieces
// are already written and a Writer cannot take bytes back, but no checkpoint
// has covered them (midMessage), so the Writer is closed without one: the
// upload stays at its durable offset, where a resume continues. Bytes of
// earlier messages that were not durable yet go with them; the client
// resends them from that offset.
func (s *session) dropMessage() {
	msg, u := s.msg, s.up
	s.msg = message{}
	if !msg.stream || u == nil || msg.up != u {
		return
	}
	s.log.Debug("upload: message over max_frame; dropping what was written since the last checkpoint",
		"id", u.id, "durable", u.durable, "dropped", u.received-u.durable)
	u.w.Close()
	s.end()
}

// store writes data, the next bytes of the active upload, to storage and
// hands it to the hasher; piece (if not nil) is the pooled buffer data lies
// in, which store takes over. Bytes are known to fit the declared size.
func (s *session) store(data []byte, piece *[]byte) {
	u := s.up
	if len(data) == 0 {
		if piece != nil {
			s.pieces.put(piece)
		}
		return
	}
	if _, err := u.w.Write(data); err != nil {
		if piece != nil {
			s.pieces.put(piece)
		}
		s.failWrite(err)
		return
	}
	u.received += int64(len(data))
	u.lastFrame = time.Now()
	s.h.metrics.bytes(len(data))
	if u.track.Add(data, piece, u.size, s.h.allowed) == checkpoint.Forbidden {
		s.forbidContent()
	}
}
