package lua_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/corral-ha/corral/lua"
)

func TestZZProbe(t *testing.T) {
	h := newHost(t, lua.Config{MemoryLimit: 256 << 20})
	for _, code := range []string{
		`local n = {} for k in pairs(_G) do n[#n+1] = tostring(k) end return table.concat(n, " ")`,
		`local s = {} for _, k in ipairs({"coroutine","debug","package","io","channel","_GOPHER_LUA_VERSION","_VERSION","newproxy","getfenv","module","gcinfo","string","os"}) do s[#s+1] = k .. "=" .. type(_G[k]) end return table.concat(s, " ")`,
		`return getmetatable(print), getmetatable(1), getmetatable(true), getmetatable(string), getmetatable(_G), getmetatable(require("corral"))`,
		`local f, st = ("abc"):gmatch(".") return type(f), type(st), tostring(getmetatable(st))`,
		`return os.date(("%c"):rep(10)):len()`,
		`return pcall(string.format, "%*d", 5, 3)`,
		`return string.format("%#v", {})`,
	} {
		got, err := h.Eval(context.Background(), code)
		t.Logf("%s\n  => %q %v", code, got, err)
	}
	for _, code := range []string{
		`local s = ("%c"):rep(4*1048576) local t = os.clock() local r = os.date(s) return #r, os.clock() - t`,
		`local s = ("x"):rep(8*1048576) local r = string.format(("%s"):rep(16), s,s,s,s,s,s,s,s,s,s,s,s,s,s,s,s) return #r`,
		`local s = ("x"):rep(8*1048576) local r = s..s..s..s..s..s..s..s..s..s..s..s..s..s..s..s return #r`,
		`local t = {} for i = 1, 1000000 do t[i] = -i end local c = os.clock() table.sort(t) return os.clock() - c`,
	} {
		var ms0, ms1 runtime.MemStats
		runtime.ReadMemStats(&ms0)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		st := time.Now()
		got, err := h.Eval(ctx, code)
		cancel()
		runtime.ReadMemStats(&ms1)
		t.Logf("%s\n  => %q %v in %s, alloc %d MiB", code, got, err, time.Since(st), (ms1.TotalAlloc-ms0.TotalAlloc)>>20)
	}
}
