// Command deploy_and_invoke is the producer's story with the Go SDK: deploy
// a flow as version 1 (default) and a canary candidate, list the versions,
// promote the canary to the stable route, and invoke stable once to check it.
//
// It uses the active Kitaru connection (kitaru login, or KITARU_SERVER_URL,
// KITARU_AUTH_TOKEN and KITARU_PROJECT):
//
//	go run ./examples/deploy_and_invoke -project testdata/flows/research
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/kitaru/deployments/pkg/bundle"
	"github.com/kitaru/deployments/pkg/client"
)

func main() {
	project := flag.String("project", "testdata/flows/research", "the project root (the directory holding .kitaru/)")
	entrypoint := flag.String("entrypoint", "flows/research.py:research_agent", "path/to/file.py:flow_name, relative to the project root")
	flow := flag.String("flow", "research_agent", "the flow's public name (the function after the colon)")
	flag.Parse()
	if err := run(context.Background(), *project, *entrypoint, *flow); err != nil {
		log.SetFlags(0)
		log.Fatalf("error: %v", err)
	}
}

func run(ctx context.Context, project, entrypoint, flow string) error {
	c, err := client.NewFromEnvironment()
	if err != nil {
		return err
	}
	b, err := bundle.Build(project)
	if err != nil {
		return err
	}
	if b.Size > bundle.MaxInlineArchiveBytes {
		return fmt.Errorf("the project is %s; this example sends bundles inline, use `kitaru deploy` for larger ones", bundle.FormatSize(b.Size))
	}
	deployments := c.Deployments()
	req := client.DeployRequest{
		Entrypoint: entrypoint,
		Source:     &client.Source{Archive: b.Data},
		Inputs:     json.RawMessage(`{"topic": "durable agents"}`),
	}

	// A plain deploy gets the default route (and moves it on later deploys).
	first, err := deployments.Deploy(ctx, flow, req)
	if err != nil {
		return err
	}
	fmt.Printf("deployed %s v%d with tags %v\n", flow, first.Version, first.Tags)

	// The candidate goes out on its own exclusive canary route.
	req.Tag, req.Exclusive = "canary", true
	canary, err := deployments.Deploy(ctx, flow, req)
	if err != nil {
		return err
	}
	fmt.Printf("deployed %s v%d with tags %v\n", flow, canary.Version, canary.Tags)

	page, err := deployments.List(ctx, flow, client.ListOptions{})
	if err != nil {
		return err
	}
	for _, d := range page.Items {
		fmt.Printf("  v%d  %s  %v\n", d.Version, d.CreatedAt.Format(time.RFC3339), d.Tags)
	}

	// Promote: stable now routes to the canary's version.
	stable, err := deployments.Tag(ctx, flow, "stable", canary.Version, client.TagOptions{Exclusive: true})
	if err != nil {
		return err
	}
	fmt.Printf("tag stable → v%d (revision %d)\n", stable.Versions[0], stable.Revision)

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
	fmt.Printf("execution %s: %s\n", h.ExecID, result)
	fmt.Fprintf(os.Stderr, "tell consumers: invoke %s with tag stable\n", flow)
	return nil
}
