package dynamo

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go/middleware"
)

// NewClient builds a DynamoDB client from the default AWS configuration.
// A non-empty endpoint (DynamoDB Local, minidyn, LocalStack) overrides the
// service endpoint; when no credentials are configured for it, fixed local
// ones are used so local engines work without an AWS profile.
func NewClient(ctx context.Context, endpoint string, optFns ...func(*dynamodb.Options)) (*dynamodb.Client, error) {
	loadOpts := []func(*config.LoadOptions) error{
		config.WithRetryer(func() aws.Retryer {
			// A plain write that meets an in-flight transaction on the same item
			// gets TransactionConflictException; it is safe to retry.
			return retry.AddWithErrorCodes(retry.NewStandard(), "TransactionConflictException")
		}),
	}
	if endpoint != "" {
		loadOpts = append(loadOpts, config.WithDefaultRegion("us-east-1"))
	}
	cfg, err := config.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		return nil, fmt.Errorf("load AWS config: %w", err)
	}
	if endpoint != "" {
		local, err := isLoopback(endpoint)
		if err != nil {
			return nil, err
		}
		if local {
			// Local engines accept any credentials; don't probe for real ones.
			cfg.Credentials = credentials.NewStaticCredentialsProvider("local", "local", "")
		}
		optFns = append([]func(*dynamodb.Options){func(o *dynamodb.Options) {
			o.BaseEndpoint = aws.String(endpoint)
			o.HTTPClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 128}}
			// minidyn sends no CRC32 header; the check only guards against corruption in transit.
			o.DisableValidateResponseChecksum = local
		}}, optFns...)
	}
	return dynamodb.NewFromConfig(cfg, optFns...), nil
}

func isLoopback(endpoint string) (bool, error) {
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" {
		return false, fmt.Errorf("DynamoDB endpoint %q is not a URL like http://127.0.0.1:8000", endpoint)
	}
	host := u.Hostname()
	if host == "localhost" {
		return true, nil
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback(), nil
}

// CountRoundTrips returns a client option that adds one to n for every
// request the client sends, retries included. Benchmarks use it.
func CountRoundTrips(n *atomic.Int64) func(*dynamodb.Options) {
	return func(o *dynamodb.Options) {
		o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
			return stack.Finalize.Add(middleware.FinalizeMiddlewareFunc("kitaruCountRoundTrips",
				func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
					n.Add(1)
					return next.HandleFinalize(ctx, in)
				}), middleware.After)
		})
	}
}
