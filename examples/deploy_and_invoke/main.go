// Command deploy_and_invoke is the producer's story with the Go SDK: deploy
// a flow from source as version 1 (default) and a canary candidate, list the
// versions, promote the canary to the stable route, and invoke stable once
// to check it.
//
// It deploys as kitaru deploy does (Deployments.DeployDir): it bundles the
// project holding the target (the nearest directory with .kitaru/), reads
// the input schema from the function's signature, and sends bundles over
// 4 MiB through the artifact upload, so a project of any size up to the
// server's bundle limit deploys.
//
// It uses the active Kitaru connection (kitaru login, or KITARU_SERVER_URL,
// KITARU_AUTH_TOKEN and KITARU_PROJECT):
//
//	go run ./examples/deploy_and_invoke -target testdata/flows/research/flows/research.py:research_agent
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"time"

	"github.com/kitaru/deployments/pkg/bundle"
	"github.com/kitaru/deployments/pkg/client"
	"github.com/kitaru/deployments/pkg/registry"
)

func main() {
	target := flag.String("target", "testdata/flows/research/flows/research.py:research_agent", "path/to/file.py:function inside a Kitaru project; the function is the flow's public name")
	flag.Parse()
	log.SetFlags(0)
	c, err := client.NewFromEnvironment()
	if err != nil {
		log.Fatalf("error: %v", err)
	}
	if err := run(context.Background(), c, *target, os.Stdout); err != nil {
		log.Fatalf("error: %v", err)
	}
}

// run deploys target twice, promotes the second version to stable and
// invokes stable, writing what it does to out.
func run(ctx context.Context, c *client.Client, target string, out io.Writer) error {
	deployments := c.Deployments()
	opts := client.DeployDirOptions{
		Inputs: json.RawMessage(`{"topic": "durable agents"}`),
		Warn:   func(msg string) { fmt.Fprintln(os.Stderr, msg) },
	}

	// A plain deploy gets the default route (and moves it on later deploys).
	// Relative paths in target are relative to the current directory ("").
	first, err := deployments.DeployDir(ctx, "", target, opts)
	if err != nil {
		return err
	}
	flow := first.Flow
	fmt.Fprintf(out, "deployed %s v%d from %s with tags %v\n", flow, first.Version, describe(first.Source), first.Tags)

	// The candidate goes out on its own exclusive canary route. Its bundle
	// is the same, so a large one is not uploaded again.
	opts.Tag, opts.Exclusive = "canary", true
	canary, err := deployments.DeployDir(ctx, "", target, opts)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "deployed %s v%d from %s with tags %v\n", flow, canary.Version, describe(canary.Source), canary.Tags)

	page, err := deployments.List(ctx, flow, client.ListOptions{})
	if err != nil {
		return err
	}
	for _, d := range page.Items {
		fmt.Fprintf(out, "  v%d  %s  %v\n", d.Version, d.CreatedAt.Format(time.RFC3339), d.Tags)
	}

	// Promote: stable now routes to the canary's version.
	stable, err := deployments.Tag(ctx, flow, "stable", canary.Version, client.TagOptions{Exclusive: true})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "tag stable → v%d (revision %d)\n", stable.Versions[0], stable.Revision)

	// Check the route once, as a consumer would call it.
	h, err := deployments.Invoke(ctx, flow, client.InvokeOptions{
		Selector: client.Selector{Tag: "stable"},
		Inputs:   map[string]any{"topic": "deployment routing"},
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	result, err := h.Result(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "execution %s: %s\n", h.ExecID, result)
	fmt.Fprintf(os.Stderr, "tell consumers: invoke %s with tag stable\n", flow)
	return nil
}

// describe names a deployment's bundle: its digest and size.
func describe(src *registry.Source) string {
	if src == nil {
		return "no bundle"
	}
	return fmt.Sprintf("bundle %s (%s)", src.Digest, bundle.FormatSize(src.Size))
}
