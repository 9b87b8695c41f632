package httpapi_test

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/kitaru/deployments/pkg/dynamo"
	"github.com/kitaru/deployments/pkg/dynamo/defaultconfig"
	"github.com/kitaru/deployments/pkg/httpapi"
	"github.com/kitaru/deployments/pkg/registry"
)

func TestConcurrentIfMatchWritesLetOneWin(t *testing.T) {
	f := newFixture(t)
	for range 3 {
		must(t, f.dev, request("POST", "/v1/flows/research_agent/deployments", deployBody("")), 201)
	}
	const tag = "/v1/flows/research_agent/tags/t0"
	rev := decode[registry.Tag](t, must(t, f.dev, request("PUT", tag, `{"version": 1, "exclusive": true}`), 200)).Revision
	cur := 1
	for round := range 5 {
		// Two moves away from where the tag is (a move to where it is would be a no-op).
		targets := []int{1 + cur%3, 1 + (cur+1)%3}
		resps := make([]events.APIGatewayProxyResponse, 2)
		var wg sync.WaitGroup
		for i := range resps {
			wg.Go(func() {
				ev := withHeader(request("PUT", tag, fmt.Sprintf(`{"version": %d, "exclusive": true}`, targets[i])), "If-Match", fmt.Sprint(rev))
				resps[i] = do(t, f.dev, ev)
			})
		}
		wg.Wait()
		ok, refused := 0, 0
		for i, r := range resps {
			switch r.StatusCode {
			case 200:
				ok++
				cur = targets[i]
				if got := decode[registry.Tag](t, r.Body); got.Revision != rev+1 {
					t.Fatalf("round %d: the winner reports revision %d, want %d", round, got.Revision, rev+1)
				}
			case 412:
				refused++
				wantError(t, r, 412, registry.CodePreconditionFailed)
			}
		}
		if ok != 1 || refused != 1 {
			t.Fatalf("round %d: statuses %d and %d for two PUTs with If-Match: %d, want one 200 and one 412", round, resps[0].StatusCode, resps[1].StatusCode, rev)
		}
		rev++
	}
}

func TestTagWritesAnswerUnavailableWhenTheEngineIsDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	db, err := defaultconfig.NewClient(context.Background(), "http://"+addr, func(o *dynamodb.Options) { o.Retryer = retry.AddWithMaxAttempts(o.Retryer, 1) })
	if err != nil {
		t.Fatal(err)
	}
	h := httpapi.New(dynamo.New(db, "down"), httpapi.Config{Stacks: devStacks, Artifacts: artifactStore})
	for _, ev := range []events.APIGatewayProxyRequest{
		request("PUT", "/v1/flows/research_agent/tags/stable", `{"version": 1, "exclusive": true}`),
		request("DELETE", "/v1/flows/research_agent/tags/stable?version=1", ""),
		request("POST", "/v1/flows/research_agent/tags/stable/rollback", ""),
		request("DELETE", "/v1/flows/research_agent/deployments/1", ""),
		request("GET", "/v1/flows/research_agent/tags/stable/history", ""),
	} {
		t.Run(ev.HTTPMethod+" "+ev.Path+" answers 503", func(t *testing.T) {
			wantError(t, do(t, h, ev), 503, registry.CodeUnavailable)
		})
	}
}
