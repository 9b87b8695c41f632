package httpapi_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/kitaru/deployments/pkg/api"
	"github.com/kitaru/deployments/pkg/httpapi"
	"github.com/kitaru/deployments/pkg/registry"
	"github.com/kitaru/deployments/pkg/secrets"
)

// secretValue is what the leak checks look for in every answer and log line.
const secretValue = "sk-leakcheck-7f3a9c"

func TestSecretsRoutes(t *testing.T) {
	f := newFixture(t)
	var logs bytes.Buffer
	h := f.handler(httpapi.Config{Secrets: secrets.NewMemory(nil), Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	var answers []string
	record := func(s string) string { answers = append(answers, s); return s }

	t.Run("a producer sets a secret and gets its name and update time back, not its value", func(t *testing.T) {
		body := record(must(t, h, request("PUT", "/v1/secrets/OPENAI_API_KEY", `{"value": "`+secretValue+`"}`), 200))
		s := decode[api.Secret](t, body)
		if s.Name != "OPENAI_API_KEY" || s.UpdatedAt.IsZero() {
			t.Errorf("PUT answered %s; want the name and an update time", body)
		}
	})
	t.Run("the list names the secret without its value", func(t *testing.T) {
		body := record(must(t, h, request("GET", "/v1/secrets", ""), 200))
		l := decode[api.SecretList](t, body)
		if len(l.Items) != 1 || l.Items[0].Name != "OPENAI_API_KEY" {
			t.Errorf("GET /v1/secrets = %s; want OPENAI_API_KEY", body)
		}
	})
	t.Run("a consumer may list but not set or delete", func(t *testing.T) {
		record(must(t, h, as(request("GET", "/v1/secrets", ""), "default", "consumer", "app"), 200))
		record(wantError(t, do(t, h, as(request("PUT", "/v1/secrets/OPENAI_API_KEY", `{"value": "`+secretValue+`"}`), "default", "consumer", "app")), http.StatusForbidden, registry.CodePermissionDenied))
		record(wantError(t, do(t, h, as(request("DELETE", "/v1/secrets/OPENAI_API_KEY", ""), "default", "consumer", "app")), http.StatusForbidden, registry.CodePermissionDenied))
	})
	t.Run("another project sees none of them", func(t *testing.T) {
		body := record(must(t, h, as(request("GET", "/v1/secrets", ""), "other", "producer", "ci"), 200))
		if l := decode[api.SecretList](t, body); len(l.Items) != 0 {
			t.Errorf("another project lists %s", body)
		}
	})
	for _, tc := range []struct {
		name, path, body string
		status           int
		code             registry.Code
		says             string
	}{
		{"a reserved prefix is refused naming it", "/v1/secrets/AWS_SECRET_ACCESS_KEY", `{"value": "` + secretValue + `"}`, 400, registry.CodeInvalidArgument, "AWS_"},
		{"a lower-case name is refused", "/v1/secrets/openai", `{"value": "` + secretValue + `"}`, 400, registry.CodeInvalidArgument, "A-Z"},
		{"a missing value is refused", "/v1/secrets/TOKEN", `{}`, 400, registry.CodeInvalidArgument, `"value" is required`},
		{"a number is no value", "/v1/secrets/TOKEN", `{"value": 12345}`, 400, registry.CodeInvalidArgument, "value"},
		{"an unknown field is refused", "/v1/secrets/TOKEN", `{"value": "` + secretValue + `", "secret": "` + secretValue + `"}`, 400, registry.CodeInvalidArgument, "secret"},
		{"broken JSON is refused without echoing it", "/v1/secrets/TOKEN", `{"value": "` + secretValue, 400, registry.CodeInvalidArgument, ""},
		{"a value over 32 KiB is refused", "/v1/secrets/TOKEN", `{"value": "` + strings.Repeat("x", secrets.MaxValueBytes+1) + `"}`, 413, registry.CodePayloadTooLarge, "32 KiB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := record(wantError(t, do(t, h, request("PUT", tc.path, tc.body)), tc.status, tc.code))
			if !strings.Contains(msg, tc.says) {
				t.Errorf("message %q; want it to say %q", msg, tc.says)
			}
		})
	}
	t.Run("deleting a secret removes it and a second delete is 404", func(t *testing.T) {
		must(t, h, request("DELETE", "/v1/secrets/OPENAI_API_KEY", ""), 204)
		record(wantError(t, do(t, h, request("DELETE", "/v1/secrets/OPENAI_API_KEY", "")), http.StatusNotFound, registry.CodeNotFound))
	})
	t.Run("a server without a secret store answers 503", func(t *testing.T) {
		wantError(t, do(t, f.dev, request("GET", "/v1/secrets", "")), http.StatusServiceUnavailable, registry.CodeUnavailable)
	})
	t.Run("no answer and no log line holds the value", func(t *testing.T) {
		if logs.Len() == 0 {
			t.Fatal("the handler logged nothing; the check would prove nothing")
		}
		for _, a := range append(answers, logs.String()) {
			if strings.Contains(a, secretValue) {
				t.Errorf("the value leaked into: %s", a)
			}
		}
	})
}
