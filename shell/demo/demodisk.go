package demo

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"time"

	"github.com/corral-ha/corral/core/apitypes"
	"github.com/corral-ha/corral/shell"
)

// The demo's served disk (`corral demo --disk`, ARCHITECTURE section 7,
// "Demo"): drd1, 256 MiB, sparse, on DIR/drd1.img, every node a possible
// server, exported over NBD on each node's <first address>:10809.
const (
	demoDiskName = "drd1"
	demoDiskSize = "256MiB"
	demoDiskFile = "drd1.img"
)

// addDisk waits until the node behind socket is quorate and adds drd1
// unless a disk or group of that name exists (left alone). It reports
// whether this run added it.
func (d *demo) addDisk(socket string, n int) (bool, error) {
	c := shell.NewClient(socket)
	if err := waitQuorate(c); err != nil {
		return false, fmt.Errorf("%v: disk %s not added; run corral demo --disk again once it is", err, demoDiskName)
	}
	req := apitypes.DiskAddRequest{Name: demoDiskName, Backing: filepath.Join(d.dir, demoDiskFile)}
	size, err := apitypes.ParseSize(demoDiskSize)
	if err != nil {
		return false, err
	}
	req.Size = apitypes.Size(size)
	for k := 1; k <= n; k++ {
		req.Servers = append(req.Servers, fmt.Sprintf("n%d", k))
	}
	for try := 0; ; try++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		var res apitypes.DiskResult
		err = c.Post(ctx, "/v1/disks", req, &res)
		cancel()
		var ae *shell.APIError
		switch {
		case err == nil:
			return true, nil
		case errors.As(err, &ae) && ae.Status == http.StatusConflict:
			return false, nil // it exists: leave it alone
		case errors.As(err, &ae) && ae.Status != http.StatusServiceUnavailable, try >= 50:
			return false, fmt.Errorf("adding disk %s: %w", demoDiskName, err)
		}
		time.Sleep(100 * time.Millisecond) // a view change in progress
	}
}
