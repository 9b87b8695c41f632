package lambdaenv

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/kitaru/deployments/pkg/blob"
	"github.com/kitaru/deployments/pkg/blob/s3blob"
	"github.com/kitaru/deployments/pkg/httpapi"
	"github.com/kitaru/deployments/pkg/lambdaenv/storeenv"
	sfnexec "github.com/kitaru/deployments/pkg/sfn"
	"github.com/kitaru/deployments/pkg/workflow"
)

// fakeSecretsManager answers GetSecretValue with a 32-byte secret: Secrets
// Manager is a boundary nothing here runs.
func fakeSecretsManager(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if !strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".GetSecretValue") {
			http.Error(w, `{"__type":"UnknownOperationException"}`, http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		_, _ = io.WriteString(w, `{"ARN":"arn:aws:secretsmanager:eu-west-1:111122223333:secret:signing","Name":"signing","SecretString":"0123456789abcdef0123456789abcdef"}`)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// countingLoader is storeenv.LoadAWSConfig that counts its calls.
type countingLoader struct{ loads int }

func (c *countingLoader) load(getenv func(string) string) (aws.Config, error) {
	c.loads++
	return storeenv.LoadAWSConfig(getenv)
}

func TestAColdStartLoadsTheAWSConfigurationOnce(t *testing.T) {
	secrets := fakeSecretsManager(t)
	env := map[string]string{
		"AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret",
		"KITARU_TABLE": "kitaru", "DYNAMODB_ENDPOINT": "http://127.0.0.1:1", "KITARU_STACKS": "aws",
		"KITARU_BUCKET": "bundles", "S3_ENDPOINT": "http://127.0.0.1:1",
		"KITARU_STATE_MACHINE_ARN":  "arn:aws:states:eu-west-1:111122223333:stateMachine:kitaru",
		"KITARU_SIGNING_SECRET_ARN": "arn:aws:secretsmanager:eu-west-1:111122223333:secret:signing", "SECRETSMANAGER_ENDPOINT": secrets,
	}
	getenv := func(k string) string { return env[k] }
	// Every client of the cold start must be built from the one
	// configuration loaded: these record the one they were given.
	var configs []aws.Config
	services := Services{
		Blobs: func(cfg aws.Config, env Env) (blob.Store, error) {
			configs = append(configs, cfg)
			return &s3blob.Store{Client: s3.NewFromConfig(cfg), Bucket: env.Bucket}, nil
		},
		Executor: func(cfg aws.Config, env Env) (workflow.Executor, error) {
			configs = append(configs, cfg)
			return &sfnexec.Executor{StateMachineARN: env.StateMachineARN}, nil
		},
	}
	logger := slog.New(slog.DiscardHandler)
	ctx := context.Background()
	starts := []struct {
		name  string
		start func(load storeenv.ConfigLoader) error
	}{
		{"the authorizer", func(load storeenv.ConfigLoader) error {
			_, err := authorizerFromEnv(ctx, getenv, load, logger)
			return err
		}},
		{"a store-only function (finish, reaper)", func(load storeenv.ConfigLoader) error {
			_, err := storeenv.FromEnv(getenv, load)
			return err
		}},
	}
	for _, g := range []httpapi.Group{httpapi.GroupDeploy, httpapi.GroupTag, httpapi.GroupResolve, httpapi.GroupInvoke, httpapi.GroupAuth} {
		starts = append(starts, struct {
			name  string
			start func(load storeenv.ConfigLoader) error
		}{"the " + string(g) + " function", func(load storeenv.ConfigLoader) error {
			_, err := handlerFromEnv(ctx, getenv, load, g, services, logger)
			return err
		}})
	}
	for _, verify := range []string{"false", "true"} {
		env["KITARU_VERIFY_BEARER"] = verify
		for _, s := range starts {
			t.Run(s.name+" with KITARU_VERIFY_BEARER="+verify, func(t *testing.T) {
				configs = nil
				var c countingLoader
				if err := s.start(c.load); err != nil {
					t.Fatalf("cold start: %v", err)
				}
				if c.loads != 1 {
					t.Errorf("%d AWS configuration loads; want 1", c.loads)
				}
				for _, cfg := range configs {
					if cfg.Region != "eu-west-1" || cfg.Credentials == nil {
						t.Errorf("a client was built from %+v, not the loaded configuration", cfg)
					}
				}
			})
		}
	}
}
