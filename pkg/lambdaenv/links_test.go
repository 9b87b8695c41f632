package lambdaenv_test

import (
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const module = "github.com/kitaru/deployments"

// functionDeps runs `go list` over functions/... as scripts/build.sh builds
// them (linux/arm64, -tags lambda.norpc) and returns each Lambda main, by
// name, with every package it links. It skips the test when the go command
// is missing.
func functionDeps(t testing.TB) map[string][]string {
	t.Helper()
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go command is not on PATH")
	}
	cmd := exec.Command(goCmd, "list", "-tags", "lambda.norpc", "-f", `{{if eq .Name "main"}}{{.ImportPath}}{{range .Deps}} {{.}}{{end}}{{end}}`, "./functions/...")
	cmd.Dir = "../.."
	cmd.Env = append(cmd.Environ(), "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := map[string][]string{}
	for line := range strings.Lines(string(out)) {
		if fields := strings.Fields(line); len(fields) > 0 {
			deps[strings.TrimPrefix(fields[0], module+"/functions/")] = fields[1:]
		}
	}
	if len(deps) == 0 {
		t.Fatal("go list found no Lambda main under functions/")
	}
	return deps
}

// TestNoFunctionLinksATestFakeOrADevEngine is issue 15's rule for lean
// functions: the in-process engines of kitaru dev and the tests (gofakes3
// and its afero file system, minidyn, the local S3 and DynamoDB wrappers)
// and the SDK's default credential chain stay out of every bootstrap.
func TestNoFunctionLinksATestFakeOrADevEngine(t *testing.T) {
	forbidden := map[string]string{
		"github.com/johannesboyne/gofakes3":        "the dev S3 server",
		"github.com/spf13/afero":                   "gofakes3's file system",
		"github.com/truora/minidyn":                "the in-memory DynamoDB",
		module + "/pkg/blob/localblob":             "kitaru dev's S3",
		module + "/pkg/localdynamo":                "kitaru dev's DynamoDB",
		module + "/pkg/devstack":                   "kitaru dev's wiring",
		module + "/pkg/awslocal":                   "the local AWS stack",
		module + "/pkg/dynamo/dynamotest":          "a test helper",
		module + "/pkg/dynamo/defaultconfig":       "the SDK's default configuration",
		"github.com/aws/aws-sdk-go-v2/config":      "the SDK's credential chain (Lambda gives credentials in the environment)",
		"github.com/aws/aws-sdk-go-v2/service/sts": "the SDK's credential chain",
		"github.com/google/go-cmp":                 "a test library",
	}
	for fn, deps := range functionDeps(t) {
		for _, d := range deps {
			for prefix, what := range forbidden {
				if d == prefix || strings.HasPrefix(d, prefix+"/") {
					t.Errorf("functions/%s links %s (%s); keep it out of the Lambda functions' imports", fn, d, what)
				}
			}
		}
	}
}

// TestEachFunctionLinksOnlyTheAWSClientsItsRoutesCall pins the SDK service
// clients of each bootstrap to those its route group calls: every function
// reads the registry table; the API functions read the signing secret (the
// auth group, and the others when KITARU_VERIFY_BEARER is set); deploy and
// invoke keep bundles in S3; invoke starts Step Functions executions; finish
// and the reaper delete ended executions' run objects in S3.
func TestEachFunctionLinksOnlyTheAWSClientsItsRoutesCall(t *testing.T) {
	api := []string{"dynamodb", "secretsmanager"}
	want := map[string][]string{
		"authorizer": api,
		"deploy":     append(slices.Clone(api), "s3"),
		"finish":     {"dynamodb", "s3"},
		"invoke":     append(slices.Clone(api), "s3", "sfn"),
		"reaper":     {"dynamodb", "s3"},
		"resolve":    api,
		"tag":        api,
		"token":      api,
	}
	client := regexp.MustCompile(`^github\.com/aws/aws-sdk-go-v2/service/([a-z0-9]+)$`)
	got := map[string][]string{}
	for fn, deps := range functionDeps(t) {
		got[fn] = []string{}
		for _, d := range deps {
			if m := client.FindStringSubmatch(d); m != nil {
				got[fn] = append(got[fn], m[1])
			}
		}
		slices.Sort(got[fn])
	}
	for _, clients := range want {
		slices.Sort(clients)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("AWS service clients per function (-want +got):\n%s", diff)
	}
}
