package node

import (
	"github.com/corral-ha/corral/core/config"
	"github.com/corral-ha/corral/core/fence"
	"github.com/corral-ha/corral/core/stack"
)

// FenceConfig is the fence state machine's configuration for this node
// from its config file (stack.FenceConfig).
func FenceConfig(cfg *config.Config, boot uint64) fence.Config { return stack.FenceConfig(cfg, boot) }
