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
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go/middleware"

	"github.com/kitaru/deployments/pkg/sdkbody"
)

// LocalRegion is the region a client for an endpoint override signs for
// when the configuration names none; local engines accept any.
const LocalRegion = "us-east-1"

// NewClientFromConfig builds a DynamoDB client from cfg (the Lambda
// functions' configuration, or the SDK's default one through
// defaultconfig.NewClient). Writes that meet an
// in-flight transaction are retried. A non-empty endpoint (DynamoDB Local,
// minidyn, LocalStack) overrides the service endpoint; for a loopback one
// fixed local credentials are used so local engines work without an AWS
// profile.
func NewClientFromConfig(cfg aws.Config, endpoint string, optFns ...func(*dynamodb.Options)) (*dynamodb.Client, error) {
	local := false
	if endpoint != "" {
		var err error
		if local, err = isLoopback(endpoint); err != nil {
			return nil, err
		}
	}
	own := func(o *dynamodb.Options) {
		// A plain write that meets an in-flight transaction on the same item
		// gets TransactionConflictException; it is safe to retry.
		o.Retryer = retry.AddWithErrorCodes(retry.NewStandard(), "TransactionConflictException")
		defer func() { o.HTTPClient = sdkbody.Wrap(o.HTTPClient) }()
		if endpoint == "" {
			return
		}
		if o.Region == "" {
			o.Region = LocalRegion
		}
		if local {
			// Local engines accept any credentials; don't probe for real ones.
			o.Credentials = credentials.NewStaticCredentialsProvider("local", "local", "")
		}
		o.BaseEndpoint = aws.String(endpoint)
		o.HTTPClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 128}}
		// minidyn sends no CRC32 header; the check only guards against corruption in transit.
		o.DisableValidateResponseChecksum = local
	}
	return dynamodb.NewFromConfig(cfg, append([]func(*dynamodb.Options){own}, optFns...)...), nil
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
// API operation the client performs (a GetItem, a page of a Query, a
// transaction), however many attempts the SDK's retryer makes to get it
// through. The store's request budgets count these: a dropped connection
// or a throttle the SDK retries is the transport's business, an extra
// logical request is the store's. CountAttempts counts the attempts.
func CountRoundTrips(n *atomic.Int64) func(*dynamodb.Options) {
	return func(o *dynamodb.Options) {
		o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
			// Initialize runs once per operation, before the retry loop.
			return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("kitaruCountRoundTrips",
				func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
					n.Add(1)
					return next.HandleInitialize(ctx, in)
				}), middleware.Before)
		})
	}
}

// CountAttempts returns a client option that adds one to n for every
// attempt the client sends, the SDK's retries included (a Finalize step
// after the retryer runs once per attempt). Attempts minus round trips
// (CountRoundTrips) is what the transport retried; benchmarks report it.
func CountAttempts(n *atomic.Int64) func(*dynamodb.Options) {
	return func(o *dynamodb.Options) {
		o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
			return stack.Finalize.Add(middleware.FinalizeMiddlewareFunc("kitaruCountAttempts",
				func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
					n.Add(1)
					return next.HandleFinalize(ctx, in)
				}), middleware.After)
		})
	}
}
