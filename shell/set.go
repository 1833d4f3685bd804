package shell

import (
	"context"
	"fmt"
)

func setCommand() *command {
	return &command{
		name:    "set",
		usage:   "set KEY VALUE [--json]",
		summary: "set a cluster setting (/settings/KEY in the configuration database)",
		help: "Writes VALUE, as given, at /settings/KEY: in the cluster, or in the stage inside a\n" +
			"staged session (configure). KEY is letters, digits, '-', '_' and '.'.",
		example: "set maintenance true",
		stages:  true,
		run:     runSet,
	}
}

func runSet(ctx context.Context, s *Shell, a *args) error {
	if len(a.pos) != 2 {
		return usagef("usage: %s", a.cmd.usage)
	}
	name, value := a.pos[0], a.pos[1]
	if !settingName(name) {
		return usagef("set %q: a setting's name is letters, digits, '-', '_' and '.'", name)
	}
	key := "/settings/" + name
	if err := txnDocs(ctx, s, func(t *docTxn) error { t.putRaw(key, value); return nil }); err != nil {
		return err
	}
	if s.json {
		return WriteJSON(s.Stdout, map[string]any{"key": key, "value": value, "staged": s.stage != nil})
	}
	where := ""
	if s.stage != nil {
		where = " (staged)"
	}
	return writeLine(s, fmt.Sprintf("%s = %s%s", key, value, where))
}

func settingName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
		if !ok {
			return false
		}
	}
	return true
}
