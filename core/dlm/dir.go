package dlm

// This file is the directory: which member keeps the record of who
// masters a resource. Rendezvous (highest random weight) hashing: every
// member scores (lockspace, name, member) and the highest score wins, so
// every node computes the same directory node from the same member list,
// and a membership change moves only the names whose winner left or whose
// new member now wins (about 1/N of them), unlike Linux's hash mod N.

import (
	"github.com/corral-ha/corral/core/wire"
)

// score is the rendezvous weight of member n for a resource: FNV-1a over
// the lockspace, a separator, the name and the node id, then a 64-bit
// finalizer (splitmix64's) so nearby inputs spread.
func score(ls, name string, n wire.NodeID) uint64 {
	const (
		offset = 14695981039346656037
		prime  = 1099511628211
	)
	h := uint64(offset)
	for i := 0; i < len(ls); i++ {
		h = (h ^ uint64(ls[i])) * prime
	}
	h = (h ^ 0xff) * prime
	for i := 0; i < len(name); i++ {
		h = (h ^ uint64(name[i])) * prime
	}
	h = (h ^ uint64(n>>8)) * prime
	h = (h ^ uint64(n&0xff)) * prime
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}

// dirNode is the directory node of a resource among members (ties, which
// need a 64-bit collision, go to the higher id). 0 when members is empty.
func dirNode(members []wire.NodeID, ls, name string) wire.NodeID {
	var best wire.NodeID
	var bestScore uint64
	for i, n := range members {
		s := score(ls, name, n)
		if i == 0 || s > bestScore || (s == bestScore && n > best) {
			best, bestScore = n, s
		}
	}
	return best
}
