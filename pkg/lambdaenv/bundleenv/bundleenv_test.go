package bundleenv_test

import (
	"strings"
	"testing"

	"github.com/kitaru/deployments/pkg/lambdaenv/bundleenv"
)

func TestReadMaxBytes(t *testing.T) {
	tests := []struct {
		name    string
		value   string
		want    int64
		wantErr bool
	}{
		{"unset is 0, the default", "", 0, false},
		{"a whole number of MiB is read in bytes", "100", 100 << 20, false},
		{"the largest setting, 5 GiB, is read", "5120", 5120 << 20, false},
		{"0 is an error", "0", 0, true},
		{"over 5 GiB is an error", "5121", 0, true},
		{"a unit is an error", "100MB", 0, true},
		{"not a number is an error", "lots", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := bundleenv.ReadMaxBytes(func(k string) string {
				if k == bundleenv.Variable {
					return tt.value
				}
				return ""
			})
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), "KITARU_MAX_BUNDLE_MB") {
				t.Errorf("error %q does not name KITARU_MAX_BUNDLE_MB", err)
			}
			if got != tt.want {
				t.Errorf("ReadMaxBytes = %d, want %d", got, tt.want)
			}
		})
	}
}
