package main

import (
	"io"
	"log/slog"
)

// newLogger is the agent's and the arbiter's logger: slog's text format at
// level lv, without empty fields (a field whose value is "" or an empty
// list says nothing and makes lines harder to read: `peer="" err=""`).
func newLogger(w io.Writer, lv slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: lv, ReplaceAttr: dropEmpty}))
}

// dropEmpty is a ReplaceAttr that drops attributes with an empty string or
// an empty list of strings as value; the record's own fields (time, level,
// msg) always stay.
func dropEmpty(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && (a.Key == slog.TimeKey || a.Key == slog.LevelKey || a.Key == slog.MessageKey) {
		return a
	}
	switch v := a.Value.Resolve(); v.Kind() {
	case slog.KindString:
		if v.String() == "" {
			return slog.Attr{}
		}
	case slog.KindAny:
		switch x := v.Any().(type) {
		case []string:
			if len(x) == 0 {
				return slog.Attr{}
			}
		case nil:
			return slog.Attr{}
		}
	}
	return a
}
