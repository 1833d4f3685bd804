package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/corral-ha/corral/core/node"
)

// keepAlive is how often an idle event stream sends a comment line, and
// how often it checks the store for events the subscription missed.
var keepAlive = 15 * time.Second

// gapCheck is how often a stream reads the store for events its
// subscription dropped (a slow reader).
var gapCheck = time.Second

// sinceLimit parses ?since=N&limit=M.
func sinceLimit(w http.ResponseWriter, r *http.Request) (since uint64, limit int, ok bool) {
	q := r.URL.Query()
	for k := range q {
		switch k {
		case "since", "limit", "follow":
		default:
			errorf(w, http.StatusBadRequest, "use ?since=N (events after seq N), &limit=M, &follow=1", "unknown query parameter %q", k)
			return 0, 0, false
		}
	}
	if s := q.Get("since"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			errorf(w, http.StatusBadRequest, "since is an event sequence number: ?since=0 for everything kept", "since=%q is not a number", s)
			return 0, 0, false
		}
		since = v
	}
	if s := q.Get("limit"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 0 {
			errorf(w, http.StatusBadRequest, "limit is a count: ?limit=100 (0 for no limit)", "limit=%q is not a count", s)
			return 0, 0, false
		}
		limit = v
	}
	return since, limit, true
}

// takeLast parses and removes ?last=N (the newest N events, as
// `journalctl -n N`), which only GET /v1/events takes.
func takeLast(w http.ResponseWriter, r *http.Request) (int, bool) {
	q := r.URL.Query()
	s, ok := q["last"]
	if !ok {
		return 0, true
	}
	v, err := strconv.Atoi(s[0])
	if err != nil || v < 1 || q.Get("limit") != "" {
		errorf(w, http.StatusBadRequest, "last is a count of the newest events: ?last=20 (not with limit)", "last=%q is not a count", s[0])
		return 0, false
	}
	q.Del("last")
	r.URL.RawQuery = q.Encode()
	return v, true
}

func wantsStream(r *http.Request) (bool, error) {
	if strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
		return true, nil
	}
	switch f := r.URL.Query().Get("follow"); f {
	case "", "0", "false":
		return false, nil
	case "1", "true":
		return true, nil
	default:
		return false, fmt.Errorf("follow=%q: use follow=1", f)
	}
}

func (h *Handler) events(w http.ResponseWriter, r *http.Request) {
	if !h.sinceNow(w, r) { // lua.go
		return
	}
	last, ok := takeLast(w, r)
	if !ok {
		return
	}
	since, limit, ok := sinceLimit(w, r)
	if !ok {
		return
	}
	stream, err := wantsStream(r)
	if err != nil {
		WriteError(w, http.StatusBadRequest, err.Error(), "add &follow=1 (or Accept: text/event-stream) to stream events")
		return
	}
	if stream {
		if id := r.Header.Get("Last-Event-ID"); id != "" && r.URL.Query().Get("since") == "" {
			if v, err := strconv.ParseUint(id, 10, 64); err == nil {
				since = v
			}
		}
		h.stream(w, r, since)
		return
	}
	if last > 0 {
		limit = 0 // the newest `last` of those after since
	}
	evs, err := h.n.Events(since, limit)
	if err != nil {
		nodeError(w, "events", err)
		return
	}
	if last > 0 && len(evs) > last {
		evs = evs[len(evs)-last:]
	}
	if evs == nil {
		evs = []node.Event{}
	}
	WriteJSON(w, http.StatusOK, evs)
}

// stream serves Server-Sent Events: first the stored events after since,
// then new ones as they happen, each once and in seq order. Every event is
// "id: SEQ", "event: KIND", "data: JSON"; a client that reconnects with
// ?since=SEQ (or Last-Event-ID) misses nothing the node still keeps.
func (h *Handler) stream(w http.ResponseWriter, r *http.Request, since uint64) {
	// Subscribe before reading the store so nothing falls between the two.
	ch, stop := h.n.Subscribe(256)
	defer stop()
	s, ok := startSSE(w, "use GET /v1/events?since=N and poll")
	if !ok {
		return
	}
	last := since
	send := func(e node.Event) bool {
		if e.Seq <= last {
			return true
		}
		if s.event(strconv.FormatUint(e.Seq, 10), e.Kind, e) != nil {
			return false
		}
		last = e.Seq
		return true
	}
	catchUp := func() bool {
		evs, err := h.n.Events(last, 0)
		if err != nil {
			_ = s.comment("error: " + err.Error())
			s.fl.Flush()
			return false
		}
		for _, e := range evs {
			if !send(e) {
				return false
			}
		}
		s.fl.Flush()
		return true
	}
	if !catchUp() {
		return
	}
	ka := time.NewTicker(keepAlive)
	defer ka.Stop()
	gc := time.NewTicker(gapCheck)
	defer gc.Stop()
	for {
		select {
		case e := <-ch:
			if e.Seq > last+1 { // the subscription dropped some: read them back
				if !catchUp() {
					return
				}
			}
			if !send(e) {
				return
			}
			s.fl.Flush()
		case <-gc.C:
			if !catchUp() {
				return
			}
		case <-ka.C:
			if s.comment("keep-alive") != nil {
				return
			}
			s.fl.Flush()
		case <-r.Context().Done():
			return
		case <-h.done:
			return
		}
	}
}

// sse writes a Server-Sent Events stream; the event stream and the config
// database's watches share it.
type sse struct {
	w  http.ResponseWriter
	fl http.Flusher
}

// startSSE sends the stream's headers, or answers 500 with hint when the
// connection cannot stream.
func startSSE(w http.ResponseWriter, hint string) (*sse, bool) {
	fl, ok := w.(http.Flusher)
	if !ok {
		WriteError(w, http.StatusInternalServerError, "this connection cannot stream", hint)
		return nil, false
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	fl.Flush()
	return &sse{w: w, fl: fl}, true
}

// event writes one event ("id: ID" when id is not empty, "event: KIND",
// "data: JSON"); the caller flushes.
func (s *sse) event(id, kind string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if id != "" {
		_, err = fmt.Fprintf(s.w, "id: %s\nevent: %s\ndata: %s\n\n", id, kind, data)
	} else {
		_, err = fmt.Fprintf(s.w, "event: %s\ndata: %s\n\n", kind, data)
	}
	return err
}

// comment writes a comment line (a keep-alive, or an error for people).
func (s *sse) comment(text string) error {
	_, err := fmt.Fprintf(s.w, ": %s\n\n", text)
	return err
}
