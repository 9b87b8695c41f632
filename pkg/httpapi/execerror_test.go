package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/kitaru/deployments/pkg/httpapi"
	"github.com/kitaru/deployments/pkg/registry"
)

func TestGetExecutionAnswersTheErrorsDetailsOnlyWhenThereAreSome(t *testing.T) {
	f := newFixture(t)
	h := f.handler(httpapi.Config{Executions: f.store})
	tests := []struct {
		name    string
		id      string
		details map[string]any
		want    string // the error object of the answer
	}{
		{"an error with the runner's traceback answers it under details", "ex_01kbdetaaaaaaaaaaaaaaaaaaa",
			map[string]any{registry.DetailRunnerTraceback: "Traceback (most recent call last):\n  File \"/var/task/runner.py\"\n"},
			`{"type":"ValueError","message":"no sources","traceback":"Traceback ...","details":{"runner_traceback":"Traceback (most recent call last):\n  File \"/var/task/runner.py\"\n"}}`},
		{"an error without details answers no details key, never null", "ex_01kbdetbbbbbbbbbbbbbbbbbbb", nil,
			`{"type":"ValueError","message":"no sources","traceback":"Traceback ..."}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			if _, _, err := f.store.CreateExecution(ctx, registry.Execution{
				Project: "default", ExecID: tt.id, Flow: "research_agent", Version: 1,
				Snapshot: registry.SnapshotName("research_agent", 1), Status: registry.StatusRunning, Inputs: json.RawMessage(`{}`),
			}); err != nil {
				t.Fatal(err)
			}
			o := registry.Outcome{Status: registry.StatusFailed, At: time.Now().UTC(), Error: &registry.ExecError{
				Type: "ValueError", Message: "no sources", Traceback: "Traceback ...", Details: tt.details,
			}}
			if _, _, err := f.store.FinishExecution(ctx, "default", tt.id, o); err != nil {
				t.Fatal(err)
			}
			got := decode[struct{ Error json.RawMessage }](t, must(t, h, request("GET", "/v1/executions/"+tt.id, ""), http.StatusOK))
			if string(got.Error) != tt.want {
				t.Errorf("error\n got %s\nwant %s", got.Error, tt.want)
			}
		})
	}
}
