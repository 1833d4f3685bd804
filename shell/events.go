package shell

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/corral-ha/corral/core/apitypes"
)

func eventsCommand() *command {
	return &command{
		name:    "events",
		usage:   "events [-n N] [--since N|now] [--follow] [--json]",
		summary: "this node's event stream: views, nodes, quorum, links",
		help: "Lists the stored events (the last 10,000), oldest first. -n N (or --limit N) shows\n" +
			"only the newest N, as journalctl -n does. --since N starts after event sequence\n" +
			"number N (--since now: after the newest). --follow prints new events as they come\n" +
			"until Ctrl-C, starting at the newest (after the -n N newest with -n, after N with\n" +
			"--since N), and reconnects from the last event it printed if the node goes away,\n" +
			"so nothing is missed. With --follow --json it prints one JSON object per line.",
		example: "events -n 20\nevents --since 0 --json\nevents --follow",
		flags:   []flagSpec{{"-n", "N"}, {"--since", "N"}, {"--limit", "N"}, {"--follow", ""}},
		run:     runEvents,
	}
}

// describe renders an event's own fields for people.
func describe(e apitypes.Event) string {
	var parts []string
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+"="+v)
		}
	}
	if e.Members != nil {
		add("members", strings.Join(e.Members, ","))
	}
	if e.Primary != nil {
		add("primary", strconv.FormatBool(*e.Primary))
	}
	add("target", e.Target)
	add("device", e.Device) // fence_*, node_fenced
	add("by", e.By)
	if e.Clean != nil {
		add("clean", strconv.FormatBool(*e.Clean))
	}
	if e.Votes != nil {
		add("votes", strconv.Itoa(*e.Votes))
	}
	if e.Needed != nil {
		add("needed", strconv.Itoa(*e.Needed))
	}
	add("peer", e.Peer)
	if e.Link != nil {
		add("link", strconv.Itoa(*e.Link))
	}
	if e.Remote != nil {
		add("remote_link", strconv.Itoa(*e.Remote))
	}
	add("group", e.Group)
	add("resource", e.Resource)
	add("on", e.On)
	add("owner", e.Owner)
	add("from", e.From)
	add("to", e.To)
	add("reason", e.Reason)
	add("error", e.Error)
	add("detail", e.Detail)
	if e.Purged != nil { // dlm_recovered
		add("purged", strings.Join(e.Purged, ","))
	}
	if e.Resources != nil {
		add("resources", strconv.Itoa(*e.Resources))
	}
	add("took", e.Took)
	return strings.Join(parts, " ")
}

func runEvents(ctx context.Context, s *Shell, a *args) error {
	if err := a.noArgs(); err != nil {
		return err
	}
	var q []string
	since, sinceGiven := a.flags["--since"]
	if sinceGiven && since != "now" {
		if _, err := strconv.ParseUint(since, 10, 64); err != nil {
			return usagef("--since %q: give a number or now: %s", since, a.cmd.usage)
		}
	}
	last := 0
	for _, f := range []string{"-n", "--limit"} {
		if v, ok := a.flags[f]; ok {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return usagef("%s %q: give a number from 1: %s", f, v, a.cmd.usage)
			}
			last = n
		}
	}
	if sinceGiven {
		q = append(q, "since="+since)
	}
	if last > 0 {
		q = append(q, "last="+strconv.Itoa(last))
	}
	if a.has("--follow") {
		return s.followFrom(ctx, since, sinceGiven, last)
	}
	path := "/v1/events"
	if len(q) > 0 {
		path += "?" + strings.Join(q, "&")
	}
	var evs []apitypes.Event
	if err := s.Client.Get(ctx, path, &evs); err != nil {
		return err
	}
	if s.json {
		return WriteJSON(s.Stdout, evs)
	}
	if len(evs) == 0 {
		fmt.Fprintln(s.Stdout, "no events")
		return nil
	}
	t := newTable("SEQ", "TIME", "KIND", "VIEW", "DETAILS")
	for _, e := range evs {
		t.row(fmt.Sprint(e.Seq), e.Time, e.Kind, orDash(e.View), describe(e))
	}
	return t.render(s.Stdout, s.Color)
}

// followFrom is events --follow: after event since (a number or "now")
// when given, else after the newest; with last > 0 it first prints the
// newest last events.
func (s *Shell) followFrom(ctx context.Context, since string, sinceGiven bool, last int) error {
	if sinceGiven && since != "now" {
		n, _ := strconv.ParseUint(since, 10, 64)
		return s.follow(ctx, n)
	}
	// Resolve "now" to a number first, so a reconnect resumes after it.
	n := 1
	if last > 0 {
		n = last
	}
	var evs []apitypes.Event
	if err := s.Client.Get(ctx, "/v1/events?last="+strconv.Itoa(n), &evs); err != nil {
		return err
	}
	var from uint64
	if len(evs) > 0 {
		from = evs[len(evs)-1].Seq
	}
	if last > 0 {
		for _, e := range evs {
			if err := s.printFollowed(e); err != nil {
				return err
			}
		}
	}
	return s.follow(ctx, from)
}

// printFollowed prints one event of a followed stream.
func (s *Shell) printFollowed(e apitypes.Event) error {
	if s.json {
		b, _ := json.Marshal(e)
		_, err := fmt.Fprintf(s.Stdout, "%s\n", b)
		return err
	}
	_, err := fmt.Fprintf(s.Stdout, "%-6d %s  %-16s %-8s %s\n", e.Seq, e.Time, e.Kind, orDash(e.View), describe(e))
	return err
}

// follow streams events after since until ctx ends, reconnecting after
// the last event printed when the connection drops.
func (s *Shell) follow(ctx context.Context, since uint64) error {
	last := since
	down := false
	for {
		err := s.Client.Events(ctx, last, func(e apitypes.Event) error {
			if down {
				fmt.Fprintf(s.Stdout, "# reconnected; resuming after event %d\n", last)
				down = false
			}
			last = e.Seq
			return s.printFollowed(e)
		})
		if ctx.Err() != nil {
			return nil // Ctrl-C
		}
		var ue *UnreachableError
		if !errors.As(err, &ue) && !errors.Is(err, io.ErrUnexpectedEOF) && err != nil {
			return err
		}
		if !down {
			fmt.Fprintf(s.Stdout, "# connection to the node lost; reconnecting (Ctrl-C stops)\n")
			down = true
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
}

// Events streams events after since (Server-Sent Events) and calls f for
// each until ctx ends, f fails or the connection drops.
func (c *Client) Events(ctx context.Context, since uint64, f func(apitypes.Event) error) error {
	return c.events(ctx, strconv.FormatUint(since, 10), f)
}

// events is Events with since as the API takes it (a number, or "now").
func (c *Client) events(ctx context.Context, since string, f func(apitypes.Event) error) error {
	path := "/v1/events?follow=1&since=" + since
	return c.stream(ctx, path, func(_, data string) error {
		var e apitypes.Event
		if err := json.Unmarshal([]byte(data), &e); err != nil {
			return fmt.Errorf("event stream: bad JSON from the node: %v", err)
		}
		return f(e)
	})
}

// stream reads a Server-Sent Events stream at path and calls f with each
// event's kind and data until ctx ends, f fails or the connection drops
// (an UnreachableError).
func (c *Client) stream(ctx context.Context, path string, f func(kind, data string) error) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://corral"+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := c.hc.Do(req)
	if err != nil {
		return &UnreachableError{Socket: c.Socket, Err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return apiError(resp, body, http.MethodGet, path)
	}
	r := bufio.NewReader(resp.Body)
	var kind, data string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return &UnreachableError{Socket: c.Socket, Err: fmt.Errorf("event stream ended: %w", err)}
		}
		line = strings.TrimRight(line, "\r\n")
		switch {
		case strings.HasPrefix(line, "event:"):
			kind = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		case strings.HasPrefix(line, "data:"):
			data += strings.TrimSpace(strings.TrimPrefix(line, "data:"))
		case line == "" && data != "":
			k, d := kind, data
			kind, data = "", ""
			if err := f(k, d); err != nil {
				return err
			}
		}
	}
}
