package stack

import (
	"time"

	"github.com/corral-ha/corral/core/crm"
	"github.com/corral-ha/corral/core/fence"
	"github.com/corral-ha/corral/core/wire"
)

// Input is what Step takes; the set is sealed (this package's types only).
type Input interface{ input() }

// Packet is a datagram received on local link Link. Step returns conn's
// error for a dropped packet (a *conn.DropError the driver may log).
type Packet struct {
	Link int
	Data []byte
}

// AgentResult is the outcome of an agent call of Ready.Agent.
type AgentResult crm.ActionDone

// MonitorFailed reports that a recurring monitor the driver runs (after
// a start with an Interval) failed.
type MonitorFailed crm.MonitorFailed

// PolicyAnswer answers a policy request of Ready.Policy.
type PolicyAnswer crm.PolicyAnswer

// FenceResult is the outcome of a fence device call of Ready.FenceCalls.
type FenceResult fence.Result

// WitnessAnswer is the quorum witness's answer to an ask of
// Ready.Witness (Members and At as asked).
type WitnessAnswer struct {
	Members []wire.NodeID
	Granted bool
	Lease   time.Duration
	At      time.Duration
}

// TimeOfDay is the local time of day (for failback windows): the driver
// gives it at start and about once a minute.
type TimeOfDay struct{ D time.Duration }

func (Packet) input()        {}
func (AgentResult) input()   {}
func (MonitorFailed) input() {}
func (PolicyAnswer) input()  {}
func (FenceResult) input()   {}
func (WitnessAnswer) input() {}
func (TimeOfDay) input()     {}
