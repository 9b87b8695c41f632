package main

import (
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/kitaru/deployments/pkg/bundle/bundletest"
	"github.com/kitaru/deployments/pkg/throttle"
)

// TestTheReportSeparatesTheLimits runs small scenarios through the real
// handlers and checks what the report counts, never how long it took.
func TestTheReportSeparatesTheLimits(t *testing.T) {
	archive, err := bundletest.ResearchArchive()
	if err != nil {
		t.Fatal(err)
	}
	itemLimits := throttle.PartitionLimits()
	itemLimits.Scope = throttle.PerItem
	tests := []struct {
		name         string
		sc           scenario
		limits       throttle.Limits
		quota        throttle.Quota
		wantAccepted func(n int) bool
		mayRefuse    bool
		wantVerdict  string
	}{
		{"cold flows below every limit accept every invoke",
			scenario{name: "cold", hotFlows: 1, coldFlows: 10, coldRate: 100, target: 100},
			throttle.PartitionLimits(), throttle.StandardStartExecution,
			func(n int) bool { return n == 100 }, false, "PASS"},
		{"a StartExecution quota of 50 a second refuses most of 200 invokes a second",
			scenario{name: "quota", hotFlows: 1, coldFlows: 20, coldRate: 200, target: 200},
			throttle.PartitionLimits(), throttle.Quota{Burst: 50, PerSecond: 50},
			// Starts retried out of the warm-up second (full-jitter
			// delays: random) take some of the window's 50 tokens, so
			// the window admits from about half to twice the refill.
			func(n int) bool { return n >= 25 && n <= 100 }, true, "FAIL"},
		{"a raised quota lets the same load through",
			scenario{name: "raised", hotFlows: 1, coldFlows: 20, coldRate: 200, target: 200},
			itemLimits, throttle.Quota{Burst: 500, PerSecond: 500},
			func(n int) bool { return n == 200 }, false, "PASS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := environment{limits: tt.limits, quota: tt.quota, archive: archive, logger: slog.New(slog.DiscardHandler)}
			rep, err := simulate(t.Context(), env, tt.sc, time.Second, 8)
			if err != nil {
				t.Fatal(err)
			}
			statuses := rep.outcome.byStatus["invoke"]
			if !tt.wantAccepted(statuses[http.StatusAccepted]) {
				t.Errorf("accepted %d invokes in the window; statuses %v", statuses[http.StatusAccepted], statuses)
			}
			for status, n := range statuses {
				if status != http.StatusAccepted && !tt.mayRefuse {
					t.Errorf("%d invokes answered %d, want none refused", n, status)
				}
			}
			ok, refused, errs := rep.tally()
			if got, _ := rep.verdict(ok, refused, errs); got != tt.wantVerdict {
				t.Errorf("verdict %s, want %s", got, tt.wantVerdict)
			}
			// Window counts are read while requests at its edge are in
			// flight; the run's totals are read after the last one.
			if int64(rep.totalStarted) != rep.totalAdmitted {
				t.Errorf("%d executions started for %d StartExecution admitted", rep.totalStarted, rep.totalAdmitted)
			}
		})
	}
}

func TestTheVerdictWantsCleanRefusalsAboveTheTarget(t *testing.T) {
	accepted := events.APIGatewayProxyResponse{StatusCode: http.StatusAccepted}
	clean := events.APIGatewayProxyResponse{StatusCode: http.StatusTooManyRequests, Headers: map[string]string{"retry-after": "1"}}
	bare := events.APIGatewayProxyResponse{StatusCode: http.StatusTooManyRequests}
	unavailable := events.APIGatewayProxyResponse{StatusCode: http.StatusServiceUnavailable}
	tests := []struct {
		name      string
		offered   float64
		responses []events.APIGatewayProxyResponse
		want      string
	}{
		{"every invoke accepted below the target passes", 100, []events.APIGatewayProxyResponse{accepted, accepted}, "PASS"},
		{"a 429 below the target fails", 100, []events.APIGatewayProxyResponse{accepted, clean}, "FAIL"},
		{"429s with Retry-After above the target pass", 300, []events.APIGatewayProxyResponse{accepted, clean}, "PASS"},
		{"a 429 without Retry-After fails", 300, []events.APIGatewayProxyResponse{accepted, bare}, "FAIL"},
		{"a 503 fails at any rate", 300, []events.APIGatewayProxyResponse{accepted, unavailable}, "FAIL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := &outcome{byStatus: map[string]map[int]int{}, samples: map[string]string{}}
			for _, r := range tt.responses {
				out.add("invoke", r)
			}
			r := &report{scenario: scenario{coldRate: tt.offered, target: 200}, outcome: out}
			if got, why := r.verdict(r.tally()); got != tt.want {
				t.Errorf("verdict %s (%s), want %s", got, why, tt.want)
			}
		})
	}
}
