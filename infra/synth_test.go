package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestCLISynthOnTheSlowPath runs the real CDK CLI the way `make synth` and
// `cdk deploy` do, with aws-cdk-lib forced onto its slow-synth path
// (@aws-cdk/core.slowSynthThreshold=0: it then writes CDK_PERF_COUNTERS_FILE,
// which it otherwise does only when a stack takes >= 10 s). The output
// directory is relative to the repository root, as cdk.out is, so every path
// the CLI hands the app is relative too: an app that runs in another
// directory than the CLI fails here on any machine, not only on a loaded one.
func TestCLISynthOnTheSlowPath(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the CDK CLI and builds the app (about 30 s)")
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	cdk := filepath.Join(root, "node_modules", ".bin", "cdk")
	if _, err := os.Stat(cdk); err != nil {
		t.Fatalf("%s is missing: run `npm ci` in the repository root first", cdk)
	}
	dist, err := fakeDist()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dist) })
	if err := os.MkdirAll(filepath.Join(root, ".tmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	abs, err := os.MkdirTemp(filepath.Join(root, ".tmp"), "synth-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(abs) })
	outdir, err := filepath.Rel(root, abs)
	if err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(cdk, "synth", "--quiet", "--no-notices", "--output", outdir,
		"-c", "@aws-cdk/core.slowSynthThreshold=0", "-c", "kitaru:dist="+dist)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20",
		"CDK_DISABLE_VERSION_CHECK=1", "CDK_DISABLE_CLI_TELEMETRY=true")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cdk synth --output %s -c @aws-cdk/core.slowSynthThreshold=0: %v\n%s", outdir, err, out)
	}

	// The perf-counters file proves the slow path ran and wrote where the
	// CLI looks for it.
	if _, err := os.Stat(filepath.Join(abs, "performance-counters.json")); err != nil {
		t.Errorf("the slow-synth path did not write its counters into %s: %v", outdir, err)
	}
	data, err := os.ReadFile(filepath.Join(abs, "Kitaru.template.json"))
	if err != nil {
		t.Fatalf("no template in %s: %v", outdir, err)
	}
	var tmpl cfnTemplate
	if err := json.Unmarshal(data, &tmpl); err != nil {
		t.Fatalf("Kitaru.template.json: %v", err)
	}
	if len(tmpl.ofType("AWS::StepFunctions::StateMachine")) != 1 {
		t.Errorf("the synthesized template has no state machine")
	}
}
