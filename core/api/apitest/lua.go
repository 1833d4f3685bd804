package apitest

import (
	"github.com/corral-ha/corral/core/node"
	"github.com/corral-ha/corral/lua"
)

// Lua implements api.LuaNode.
func (n *Node) Lua() *lua.Host {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.LuaHost
}

// LuaStats implements api.LuaNode.
func (n *Node) LuaStats() node.LuaStats {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.LuaStat
}

// LastEventSeq implements the API's since=now: the newest event's seq.
func (n *Node) LastEventSeq() uint64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return uint64(len(n.evs))
}
