package sdkbody_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/kitaru/deployments/pkg/dynamo"
	"github.com/kitaru/deployments/pkg/lambdaenv/storeenv"
	"github.com/kitaru/deployments/pkg/sdkbody"
)

// TestEveryClientWeBuildSendsThroughTheWrapper: the Lambda functions' config
// and the DynamoDB clients, on AWS and on a local engine, send through
// sdkbody.Client.
func TestEveryClientWeBuildSendsThroughTheWrapper(t *testing.T) {
	env := map[string]string{"AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "id", "AWS_SECRET_ACCESS_KEY": "secret"}
	cfg, err := storeenv.LoadAWSConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := cfg.HTTPClient.(sdkbody.Client); !ok {
		t.Errorf("a function's AWS config sends through %T", cfg.HTTPClient)
	}
	for _, endpoint := range []string{"", "http://127.0.0.1:8000"} {
		db, err := dynamo.NewClientFromConfig(aws.Config{Region: "eu-west-1"}, endpoint)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := db.Options().HTTPClient.(sdkbody.Client); !ok {
			t.Errorf("the DynamoDB client for endpoint %q sends through %T", endpoint, db.Options().HTTPClient)
		}
	}
}
