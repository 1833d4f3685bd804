package lua_test

import (
	"context"
	"runtime"
	"testing"

	"github.com/corral-ha/corral/lua"
)

func heapMiB() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc >> 20
}

func TestZZStack(t *testing.T) {
	dir := writeScripts(t, map[string]string{
		"resource/deep.lua": agent("deep", `local function f(n, acc)
  local s = string.rep(string.char(65 + n % 26), 1048576 + n)
  local a, b, c = s, s, s
  if n > 0 then f(n - 1) end
  return #a
end
f(100)
return "ok"`),
	})
	h := newHost(t, lua.Config{Paths: []string{dir}, PoolSize: 1})
	before := heapMiB()
	for range 3 {
		out, err := h.RunAgent(context.Background(), "deep", "monitor", nil)
		t.Logf("%v %q %v; heap %d MiB (before %d)", out.Status, out.Message, err, heapMiB(), before)
	}
}
