package lambdaenv_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kitaru/deployments/pkg/lambdaenv"
)

func TestReadTheStoreSettingsAlone(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    lambdaenv.Env
		wantErr bool
	}{
		{"a table is enough, no stacks needed", map[string]string{"KITARU_TABLE": "kitaru"}, lambdaenv.Env{Table: "kitaru"}, false},
		{"the endpoint is read", map[string]string{"KITARU_TABLE": "kitaru", "DYNAMODB_ENDPOINT": "http://localhost:4566"},
			lambdaenv.Env{Table: "kitaru", DynamoDBEndpoint: "http://localhost:4566"}, false},
		{"a missing table is an error", map[string]string{}, lambdaenv.Env{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := lambdaenv.ReadStore(func(k string) string { return tt.env[k] })
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("env (-want +got):\n%s", diff)
			}
		})
	}
}
