package config

import (
	"fmt"
	"reflect"
	"strings"
)

// examples are the values want shows for keys whose default says nothing
// (zero, or inside an array of tables).
var examples = map[string]string{
	"nodes.id":           "1",
	"nodes.votes":        "1",
	"nodes.name":         `"n1"`,
	"nodes.addresses":    `["10.0.0.1", "10.0.1.1"]`,
	"nodes.fence_delay":  `"5s"`,
	"fence.levels.level": "1",
	"port":               "5420",
	"lua.paths":          `["/etc/corral/lua"]`,
}

// want says what a key takes, with an example: "an integer such as 5420".
// Empty when key is not in the schema.
func want(key string) string {
	t := reflect.TypeOf(Config{})
	def := reflect.ValueOf(*Default())
	for _, part := range strings.Split(key, ".") {
		for t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct {
			t, def = t.Elem(), reflect.Value{} // [[array]] entries have no default
		}
		if t.Kind() == reflect.Map {
			t, def = t.Elem(), reflect.Value{}
			continue
		}
		if t.Kind() != reflect.Struct {
			return ""
		}
		found := false
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if strings.Split(f.Tag.Get("toml"), ",")[0] == part {
				t, found = f.Type, true
				if def.IsValid() {
					def = def.Field(i)
				}
				break
			}
		}
		if !found {
			return ""
		}
	}
	ex := examples[key]
	if ex == "" && def.IsValid() && !def.IsZero() {
		switch v := def.Interface().(type) {
		case Duration:
			ex = fmt.Sprintf("%q", v.String())
		case string:
			ex = fmt.Sprintf("%q", v)
		case []string:
			ex = fmt.Sprintf("%q", v)
		default:
			ex = fmt.Sprint(v)
		}
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	such := func(kind, fallback string) string {
		if ex == "" {
			ex = fallback
		}
		return kind + " such as " + ex
	}
	switch {
	case t == reflect.TypeOf(Duration(0)):
		return such("a duration in quotes", `"5s"`)
	case t.Kind() == reflect.Bool:
		return "true or false (no quotes)"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		return such("an integer", "1")
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		return such("a number", "0.5")
	case t.Kind() == reflect.String:
		return such("a string in quotes", `"x"`)
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String:
		return such("a list of strings", `["a", "b"]`)
	case t.Kind() == reflect.Slice:
		return "an array of tables: [[" + key + "]]"
	case t.Kind() == reflect.Map || t.Kind() == reflect.Struct:
		return "a table: [" + key + "] or " + key + " = { k = \"v\" }"
	}
	return ""
}
