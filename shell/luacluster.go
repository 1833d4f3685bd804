package shell

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/corral-ha/corral/core/apitypes"
	"github.com/corral-ha/corral/lua"
)

// apiCluster is the corral module's Cluster for `lua run FILE`: the script
// runs in the shell's process and acts on the cluster through the admin
// API, with the shell's own commands for the actions, so corral.move(...)
// does what `move ...` typed in the shell does.
type apiCluster struct{ s *Shell }

var _ lua.Cluster = apiCluster{}

// luaVerbs are the shell commands scripts may run through Cluster.Do.
var luaVerbs = []string{"move", "start", "stop", "pause", "resume", "cleanup"}

// Status is `status --json`, with "groups" as `groups --json` when the
// node serves groups.
func (c apiCluster) Status(ctx context.Context) (map[string]any, error) {
	var st map[string]any
	if err := c.s.Client.Get(ctx, "/v1/status", &st); err != nil {
		return nil, err
	}
	var groups any
	err := c.s.Client.Get(ctx, "/v1/groups", &groups)
	var ae *APIError
	switch {
	case err == nil:
		if m, ok := groups.(map[string]any); ok && m["groups"] != nil {
			groups = m["groups"] // {"groups": [...]} as well as [...]
		}
		st["groups"] = groups
	case errors.As(err, &ae) && (ae.Status == http.StatusNotFound || ae.Status == http.StatusNotImplemented):
		// a node without the resource manager: no groups
	default:
		return nil, err
	}
	return st, nil
}

// Get reads a config DB key.
func (c apiCluster) Get(ctx context.Context, key string) (string, bool, error) {
	path, err := cdbPath(key)
	if err != nil {
		return "", false, err
	}
	var res apitypes.CDBGetResult
	err = c.s.Client.Get(ctx, path, &res)
	var ae *APIError
	if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	return res.Value, true, nil
}

// List reads the config DB keys under prefix.
func (c apiCluster) List(ctx context.Context, prefix string) (map[string]string, error) {
	var res apitypes.CDBListResult
	if err := c.s.Client.Get(ctx, "/v1/cdb?prefix="+url.QueryEscape(prefix), &res); err != nil {
		return nil, err
	}
	out := make(map[string]string, len(res.Keys))
	for _, k := range res.Keys {
		out[k.Key] = k.Value
	}
	return out, nil
}

// Set writes a config DB key; it returns once the write is committed.
func (c apiCluster) Set(ctx context.Context, key, value string) error {
	path, err := cdbPath(key)
	if err != nil {
		return err
	}
	return c.s.Client.Do(ctx, http.MethodPut, path, apitypes.CDBSetRequest{Value: value}, nil)
}

// Do runs the shell command verb with args, printing what it prints.
func (c apiCluster) Do(ctx context.Context, verb string, args []string) error {
	if !slices.Contains(luaVerbs, verb) {
		return fmt.Errorf("%s is not a cluster action scripts can run (they can run %v)", verb, luaVerbs)
	}
	sub := *c.s
	sub.JSON, sub.json = false, false
	return sub.Exec(ctx, joinWords(append([]string{verb}, args...)))
}

// WaitEvent streams events after since ("now" when 0) until one of kinds
// comes or ctx ends; a dropped connection is resumed after the last event
// seen.
func (c apiCluster) WaitEvent(ctx context.Context, kinds []string, since uint64) (map[string]any, error) {
	from := "now"
	if since > 0 {
		from = strconv.FormatUint(since, 10)
	}
	var found *apitypes.Event
	errFound := errors.New("found")
	for {
		err := c.s.Client.events(ctx, from, func(e apitypes.Event) error {
			from = strconv.FormatUint(e.Seq, 10)
			if len(kinds) == 0 || slices.Contains(kinds, e.Kind) {
				found = &e
				return errFound
			}
			return nil
		})
		if found != nil {
			b, err := json.Marshal(found)
			if err != nil {
				return nil, err
			}
			var m map[string]any
			return m, json.Unmarshal(b, &m)
		}
		var ue *UnreachableError
		if !errors.As(err, &ue) {
			return nil, err
		}
		select { // the node went away: try again until ctx ends
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
