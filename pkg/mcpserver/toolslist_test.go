package mcpserver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kitaru/deployments/pkg/mcpserver"
	"github.com/kitaru/deployments/pkg/mcpserver/mcptest"
)

var update = flag.Bool("update", false, "rewrite testdata/tools_list.json from the server")

// TestToolsListIsTheSnapshot pins what tools/list answers, every tool's
// name, title, description, annotations and schemas in order, to
// testdata/tools_list.json: a client (and a model's prompt cache) sees a
// change there as a new tool list, so it must be one someone meant. After
// such a change run go test ./pkg/mcpserver -run TestToolsListIsTheSnapshot -update
// and review the diff.
func TestToolsListIsTheSnapshot(t *testing.T) {
	cs := mcptest.Connect(t, mcpserver.New(mcpserver.Config{}))
	res, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.MarshalIndent(res.Tools, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	golden := filepath.Join("testdata", "tools_list.json")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v; write it with -update", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("tools/list differs from %s (-want +got):\n%s", golden, cmp.Diff(string(want), string(got)))
	}
}
