// Command consumer is the consumer's story with the Go SDK: it knows only a
// flow name and a route, never the producer's source. It resolves the route
// to see which version it names, invokes it with its own inputs, and waits
// for the result, telling a failure of the flow apart from a failure to
// reach it.
//
// It uses the active Kitaru connection (kitaru login, or KITARU_SERVER_URL,
// KITARU_AUTH_TOKEN and KITARU_PROJECT):
//
//	go run ./examples/consumer -flow research_agent -tag stable -topic "deployment routing"
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/kitaru/deployments/pkg/client"
)

func main() {
	flow := flag.String("flow", "research_agent", "the flow to invoke")
	tag := flag.String("tag", "stable", "the route to invoke (empty: default)")
	topic := flag.String("topic", "deployment routing", "the topic input")
	key := flag.String("idempotency-key", "", "run at most once per key and flow within 24 h; also makes the request safe to retry")
	timeout := flag.Duration("timeout", 10*time.Minute, "how long to wait for the result")
	flag.Parse()
	log.SetFlags(0)
	if err := run(context.Background(), *flow, *tag, *topic, *key, *timeout); err != nil {
		log.Fatalf("error: %v", err)
	}
}

func run(ctx context.Context, flow, tag, topic, key string, timeout time.Duration) error {
	c, err := client.NewFromEnvironment()
	if err != nil {
		return err
	}
	sel := client.Selector{Tag: tag}
	d, err := c.Deployments().Resolve(ctx, flow, sel)
	switch {
	case errors.Is(err, client.ErrNotFound):
		return fmt.Errorf("nothing to invoke: %w", err)
	case errors.Is(err, client.ErrConflict):
		return fmt.Errorf("the route is ambiguous, pick a version: %w", err)
	case err != nil:
		return err
	}
	fmt.Fprintf(os.Stderr, "%s %s is version %d (%s)\n", flow, sel, d.Version, d.Snapshot)

	// Invoke the route, not d: the server resolves it again, atomically with
	// starting the execution. d.Invoke would pin the version just resolved.
	h, err := c.Deployments().Invoke(ctx, flow, client.InvokeOptions{
		Selector:       sel,
		Inputs:         map[string]any{"topic": topic},
		IdempotencyKey: key,
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "started execution %s\n", h.ExecID)

	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	result, err := h.Result(wctx)
	var failed *client.ExecutionError
	switch {
	case errors.As(err, &failed):
		return fmt.Errorf("the flow raised %s: %s\n%s", failed.Type, failed.Message, failed.Traceback)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("execution %s is still running after %v; follow it with client.Executions().Wait or cancel it", h.ExecID, timeout)
	case err != nil:
		return err
	}
	fmt.Println(string(result))
	return nil
}
