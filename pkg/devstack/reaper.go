package devstack

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/kitaru/deployments/pkg/reaper"
	"github.com/kitaru/deployments/pkg/workflow"
)

// ReapAfterEnv overrides how long after its start a running execution counts
// as lost under kitaru dev (a Go duration, e.g. 2s). The default is the
// workflow's deadline (reaper.Deadline, 78 min 15 s). Tests shorten it; a
// value shorter than a flow's run reaps that run while it is still running.
const ReapAfterEnv = "KITARU_DEV_REAP_AFTER"

// reapInterval is how often kitaru dev looks for lost executions after the
// pass at start.
const reapInterval = time.Minute

// startReaper reaps executions a previous kitaru dev on this table left
// running (one pass now, before the server serves), then every reapInterval
// until the HTTP server shuts down. A failed pass is logged, never fatal.
func (s *Server) startReaper(store reaper.Store, objects workflow.RunObjectRemover, logger *slog.Logger) {
	after := reaper.Deadline(workflow.Default())
	if v := os.Getenv(ReapAfterEnv); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			logger.Error(fmt.Sprintf("%s is %q; set a positive Go duration such as 10m. Using %s", ReapAfterEnv, v, after))
		} else {
			after = d
		}
	}
	r := &reaper.Reaper{Store: store, After: after, Logger: logger, RunObjects: objects}
	first, cancelFirst := context.WithTimeout(context.Background(), 30*time.Second)
	if _, err := r.Reap(first); err != nil {
		logger.Error("reap pass failed", "error", err)
	}
	cancelFirst()
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.Run(ctx, min(reapInterval, max(after/2, time.Second)))
	}()
	s.http.RegisterOnShutdown(func() { stop(); <-done })
}
