package main

import (
	"fmt"
	"net"
	"os"
)

// notifySystemd tells the service manager the agent's state over the
// datagram socket named by $NOTIFY_SOCKET (sd_notify(3)): "READY=1" once
// the node runs and serves its admin socket (Type=notify units wait for
// it), "STOPPING=1" when it starts to shut down. Without $NOTIFY_SOCKET
// (not started by systemd, or another Type) it does nothing. A name
// starting with '@' is an abstract socket; Go's net package maps it.
func notifySystemd(state string) error {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return nil
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("NOTIFY_SOCKET %s: %w", path, err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(state)); err != nil {
		return fmt.Errorf("NOTIFY_SOCKET %s: %w", path, err)
	}
	return nil
}
