package apitypes

import "github.com/corral-ha/corral/core/whatif"

// SimulateRequest is the body of POST /v1/simulate: what to try on the
// live cluster (corral help operations, "What if"). Faults combine.
type SimulateRequest struct {
	// Staged: Stage is a whole staged desired state (every /resources/
	// and /groups/ key with its value; other keys are ignored), simulated
	// as if committed.
	Staged bool              `json:"staged,omitempty"`
	Stage  map[string]string `json:"stage,omitempty"`
	Kill   []string          `json:"kill,omitempty"`  // nodes that crash
	Pause  []string          `json:"pause,omitempty"` // nodes stopped past their lease (SIGSTOP)
	// Partition: the members split into sides, each member on one side.
	Partition [][]string `json:"partition,omitempty"`
	// Fail: resources that fail ("RESOURCE", "GROUP/RESOURCE", with
	// "@NODE" for where; default where it runs).
	Fail []string `json:"fail,omitempty"`
}

// SimulateResult answers POST /v1/simulate: the steps the resource
// manager and the fence core would take, in order and with their
// reasons, each side's quorum, the nodes fenced, every group before and
// after (core/whatif), and Text, all of it in sentences.
type SimulateResult struct {
	whatif.Output
	Node   string `json:"node"` // the node that ran the simulation on its knowledge
	Staged bool   `json:"staged"`
	Text   string `json:"text"`
}

// The parts of a SimulateResult (core/whatif).
type (
	// SimulateStep is one thing the cores would do.
	SimulateStep = whatif.Step
	// SimulateSide is one side of the cluster with its quorum.
	SimulateSide = whatif.Side
	// SimulateFenced is a node fenced, or waiting for a fence.
	SimulateFenced = whatif.Fenced
	// SimulateGroup is a group before and after.
	SimulateGroup = whatif.Group
)
