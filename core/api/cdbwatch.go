package api

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/corral-ha/corral/core/apitypes"
	"github.com/corral-ha/corral/core/cdb"
)

// CDBWatchEvent is apitypes.CDBWatchEvent (the API types are defined there, so the shell reads
// them without importing the driver).
type CDBWatchEvent = apitypes.CDBWatchEvent

// watchBuffer is how many changes may wait for a slow watch reader before
// the node drops the watch (the stream then ends with an error event).
const watchBuffer = 1024

// cdbWatch serves GET /v1/cdb-watch?prefix=P[&start=R] as Server-Sent
// Events: every change applied under P, in revision order, each as
// "id: REV", "event: set|delete", "data: CDBWatchEvent". start replays the
// changes from revision R on (410 when they are compacted away); a client
// that reconnects with Last-Event-ID resumes after that revision. A reader
// that falls behind gets "event: error" and the stream ends.
func (h *Handler) cdbWatch(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	for k := range q {
		if k != "prefix" && k != "start" {
			errorf(w, http.StatusBadRequest, "use ?prefix=P (every key under P) and &start=R (replay from revision R)", "unknown query parameter %q", k)
			return
		}
	}
	var start uint64
	if s := q.Get("start"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			errorf(w, http.StatusBadRequest, "start is a revision: ?start=1 replays everything still held", "start=%q is not a revision", s)
			return
		}
		start = v
	} else if id := r.Header.Get("Last-Event-ID"); id != "" {
		if v, err := strconv.ParseUint(id, 10, 64); err == nil {
			start = v + 1
		}
	}
	wt, err := h.n.CDBWatch(q.Get("prefix"), start, watchBuffer)
	var ce cdb.ErrCompacted
	switch {
	case errors.As(err, &ce):
		WriteError(w, http.StatusGone, err.Error(),
			"GET /v1/cdb?prefix=P gives the current keys and their revision R; watch again with ?start=R+1")
		return
	case err != nil:
		nodeError(w, "cdb watch", err)
		return
	}
	defer wt.Stop()
	s, ok := startSSE(w, "use GET /v1/cdb?prefix=P and poll")
	if !ok {
		return
	}
	put := func(ev cdb.WatchEvent) bool {
		kind := "set"
		if ev.Deleted {
			kind = "delete"
		}
		return s.event(strconv.FormatUint(ev.Rev, 10), kind,
			CDBWatchEvent{Key: ev.Key, Value: string(ev.Value), Revision: ev.Rev, Deleted: ev.Deleted}) == nil
	}
	ka := time.NewTicker(keepAlive)
	defer ka.Stop()
	for {
		select {
		case ev, open := <-wt.C:
			if !open {
				if err := wt.Err(); err != nil {
					_ = s.event("", "error", Error{Error: err.Error(), Hint: "watch again with ?start=REV (the revision after the last one you got)"})
					s.fl.Flush()
				}
				return
			}
			if !put(ev) {
				return
			}
			// what is already waiting goes out before one flush
			for n := len(wt.C); n > 0; n-- {
				if ev, open := <-wt.C; !open || !put(ev) {
					break
				}
			}
			s.fl.Flush()
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
