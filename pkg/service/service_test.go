package service_test

import (
	"strings"
	"testing"

	"github.com/kitaru/deployments/pkg/auth"
	"github.com/kitaru/deployments/pkg/blob/localblob"
	"github.com/kitaru/deployments/pkg/bundle"
	"github.com/kitaru/deployments/pkg/dynamo/dynamotest"
	"github.com/kitaru/deployments/pkg/httpapi"
	"github.com/kitaru/deployments/pkg/service"
	"github.com/kitaru/deployments/pkg/workflow"
)

func TestNewBuildsWhatTheServedGroupsNeed(t *testing.T) {
	store := dynamotest.New(t).Store
	blobs, err := localblob.Start("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = blobs.Close() })
	signer := &auth.Signer{Secret: []byte("0123456789abcdef0123456789abcdef")}
	var executor workflow.Executor = &workflow.Local{}
	full := service.Config{Store: store, Blobs: blobs.Store(), Executor: executor, Signer: signer, BundleLimits: bundle.LimitsFor(16 << 20)}
	with := func(change func(*service.Config)) service.Config {
		cfg := full
		change(&cfg)
		return cfg
	}
	tests := []struct {
		name    string
		cfg     service.Config
		wantErr string // empty: builds
	}{
		{"every group with every engine builds", full, ""},
		{"no store is refused", with(func(c *service.Config) { c.Store = nil }), "Config.Store"},
		{"the tag group needs no blobs, executor or signer", service.Config{Store: store, Groups: []httpapi.Group{httpapi.GroupTag}}, ""},
		{"the deploy group needs blobs", with(func(c *service.Config) { c.Groups, c.Blobs = []httpapi.Group{httpapi.GroupDeploy}, nil }), "Config.Blobs"},
		{"the invoke group needs an executor", with(func(c *service.Config) { c.Groups, c.Executor = []httpapi.Group{httpapi.GroupInvoke}, nil }), "Config.Executor"},
		{"the auth group needs a signer", with(func(c *service.Config) { c.Groups, c.Signer = []httpapi.Group{httpapi.GroupAuth}, nil }), "Config.Signer"},
		{"verifying bearers needs a signer", service.Config{Store: store, Groups: []httpapi.Group{httpapi.GroupTag}, VerifyBearer: true}, "Config.Signer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := service.New(tt.cfg)
			if tt.wantErr == "" && err != nil {
				t.Fatalf("New: %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("New error = %v; want one naming %s", err, tt.wantErr)
			}
		})
	}
	t.Run("the artifact store and the runner get the same bundle limits", func(t *testing.T) {
		s, err := service.New(full)
		if err != nil {
			t.Fatal(err)
		}
		if s.Artifacts.Limits != full.BundleLimits || s.Invoker.BundleLimits != full.BundleLimits {
			t.Errorf("artifacts %+v, invoker %+v; want both %+v", s.Artifacts.Limits, s.Invoker.BundleLimits, full.BundleLimits)
		}
		if s.Authorizer == nil || s.Authorizer.Auth != s.Authenticator {
			t.Errorf("the authorizer does not run the graph's authenticator")
		}
	})
}
