// Package defaultconfig builds DynamoDB clients from the AWS SDK's default
// configuration: environment, shared config and credentials files,
// profiles, SSO, instance roles. kitaru dev, the admin commands and tests
// use it. It is apart from package dynamo so that the Lambda functions,
// which take only Lambda's environment (pkg/lambdaenv), do not link that
// credential chain (the SDK's config, sso, ssooidc, sts and signin
// packages, about 0.4 MB of each bootstrap and their init).
package defaultconfig

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/kitaru/deployments/pkg/dynamo"
)

// NewClient builds a DynamoDB client from the default AWS configuration; see
// dynamo.NewClientFromConfig for endpoint. With an endpoint and no region
// configured, the client signs for dynamo.LocalRegion.
func NewClient(ctx context.Context, endpoint string, optFns ...func(*dynamodb.Options)) (*dynamodb.Client, error) {
	var loadOpts []func(*config.LoadOptions) error
	if endpoint != "" {
		loadOpts = append(loadOpts, config.WithDefaultRegion(dynamo.LocalRegion))
	}
	cfg, err := config.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		return nil, fmt.Errorf("load AWS config: %w", err)
	}
	return dynamo.NewClientFromConfig(cfg, endpoint, optFns...)
}
