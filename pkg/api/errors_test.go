package api_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kitaru/deployments/pkg/api"
	"github.com/kitaru/deployments/pkg/registry"
)

// openapiStatusByCode reads the ErrorCode enum of api/openapi.yaml: each
// code with the status its comment names. The Python SDK's
// tests/test_api.py reads the same lines for its STATUS_BY_CODE, so the Go
// table, the document and the Python table agree.
func openapiStatusByCode(t *testing.T) map[registry.Code]int {
	t.Helper()
	text, err := os.ReadFile(filepath.Join("..", "..", "api", "openapi.yaml"))
	if err != nil {
		t.Fatalf("read the OpenAPI document: %v", err)
	}
	block := regexp.MustCompile(`(?ms)^    ErrorCode:\n(.*?)\n\n`).FindSubmatch(text)
	if block == nil {
		t.Fatal("api/openapi.yaml has no ErrorCode schema")
	}
	pairs := regexp.MustCompile(`(?m)^\s+- (\w+)\s+# (\d{3})$`).FindAllSubmatch(block[1], -1)
	if len(pairs) == 0 {
		t.Fatal("the ErrorCode enum lists no `- code  # status` lines")
	}
	documented := map[registry.Code]int{}
	for _, p := range pairs {
		status, _ := strconv.Atoi(string(p[2]))
		documented[registry.Code(p[1])] = status
	}
	return documented
}

func TestStatusTableIsTheDocuments(t *testing.T) {
	documented := openapiStatusByCode(t)
	table := map[registry.Code]int{}
	for _, c := range api.Codes() {
		table[c] = api.StatusOf(c)
	}
	if diff := cmp.Diff(documented, table); diff != "" {
		t.Errorf("api's code → status table differs from api/openapi.yaml's ErrorCode enum (-document +table):\n%s", diff)
	}
}

func TestUnknownCodeIsAServerFailure(t *testing.T) {
	if got := api.StatusOf("no_such_code"); got != 500 {
		t.Errorf("StatusOf(no_such_code) = %d, want 500", got)
	}
}

func TestCodeOfReadsAStatusWithoutAnEnvelope(t *testing.T) {
	// The same table as sdk/python/tests/test_api.py's
	// test_answers_without_the_envelope_get_the_go_clients_code.
	want := map[int]registry.Code{
		400: "invalid_argument", 401: "unauthenticated", 403: "permission_denied", 404: "not_found",
		405: "internal", 409: "conflict", 412: "precondition_failed", 413: "payload_too_large",
		422: "unprocessable", 429: "rate_limited", 500: "internal", 501: "internal", 502: "unavailable",
		503: "unavailable", 504: "unavailable", 418: "internal",
	}
	for status, code := range want {
		if got := api.CodeOf(status); got != code {
			t.Errorf("CodeOf(%d) = %q, want %q", status, got, code)
		}
	}
	for _, c := range api.Codes() {
		if c == registry.CodeIdempotencyMismatch {
			continue // shares 422 with unprocessable
		}
		if got := api.CodeOf(api.StatusOf(c)); got != c {
			t.Errorf("CodeOf(StatusOf(%q)) = %q, want the code back", c, got)
		}
	}
}
