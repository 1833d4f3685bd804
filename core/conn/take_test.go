package conn_test

import "github.com/corral-ha/corral/core/conn"

// take returns c's Ready and acknowledges it, as a driver does after
// carrying it out. What Advance queues (acknowledgements) is in the next
// Ready: a driver that runs until quiet checks HasReady too.
func take(c *conn.Conn) conn.Ready {
	rd := c.Ready()
	c.Advance()
	return rd
}
