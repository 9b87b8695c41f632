package registry_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/kitaru/deployments/pkg/registry"
)

func TestRetryAfter(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		wantWait time.Duration
		wantOK   bool
	}{
		{"a wait is rounded up to whole seconds", registry.RateLimited(1200*time.Millisecond, "slow down"), 2 * time.Second, true},
		{"no wait still asks for a second", registry.RateLimited(0, "slow down"), time.Second, true},
		{"a wrapped rate_limited error keeps its wait", fmt.Errorf("invoke: %w", registry.RateLimited(time.Minute, "slow down")), time.Minute, true},
		{"a rate_limited error without the detail asks for the default", registry.Errorf(registry.CodeRateLimited, "slow down"), registry.DefaultRetryAfter, true},
		{"another code asks for no wait", registry.Errorf(registry.CodeUnavailable, "retry"), 0, false},
		{"an error that is not a domain error asks for no wait", errors.New("boom"), 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wait, ok := registry.RetryAfter(tt.err)
			if wait != tt.wantWait || ok != tt.wantOK {
				t.Errorf("RetryAfter = %v, %v; want %v, %v", wait, ok, tt.wantWait, tt.wantOK)
			}
		})
	}
}
