package dynamo

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/kitaru/deployments/pkg/registry"
)

// engineError wraps an error from a DynamoDB request. When the engine
// throttled the request past the SDK's retries, the error carries code
// rate_limited (429 with Retry-After): the partition or table is over its
// units this second and will have them again the next. When it could not be
// reached, timed out or failed on its side, the request may succeed later:
// code unavailable (503, retry). Anything else stays internal. The engine's
// text goes to the log, never to the caller.
func engineError(op string, err error) error {
	switch {
	case throttled(err):
		return fmt.Errorf("%s: %v: %w", op, err, registry.RateLimited(registry.DefaultRetryAfter,
			"the registry database is throttling requests right now and nothing was changed that you can rely on; retry after Retry-After"))
	case transient(err):
		return fmt.Errorf("%s: %v: %w", op, err, &registry.Error{Code: registry.CodeUnavailable,
			Message: "the registry database is unavailable right now and nothing was changed that you can rely on; retry in a moment"})
	}
	return fmt.Errorf("%s: %w", op, err)
}

// throttleCodes are DynamoDB's "slow down" error codes.
var throttleCodes = map[string]bool{
	"ThrottlingException": true, "ProvisionedThroughputExceededException": true,
	"RequestLimitExceeded": true, "LimitExceededException": true,
}

// serverCodes are DynamoDB's "failed on our side" error codes.
var serverCodes = map[string]bool{"InternalServerError": true, "ServiceUnavailable": true}

// throttled reports a request DynamoDB refused to slow the caller down: a
// throttle error code (also behind the SDK's MaxAttemptsError or its retry
// quota), a transaction cancelled for throughput, or HTTP 429.
func throttled(err error) bool {
	var (
		api  smithy.APIError
		txn  *throttledError
		resp *smithyhttp.ResponseError
	)
	return errors.As(err, &txn) ||
		errors.As(err, &api) && throttleCodes[api.ErrorCode()] ||
		errors.As(err, &resp) && resp.HTTPStatusCode() == http.StatusTooManyRequests
}

func transient(err error) bool {
	var (
		api       smithy.APIError
		resp      *smithyhttp.ResponseError
		send      *smithyhttp.RequestSendError
		netErr    net.Error
		maxTries  *retry.MaxAttemptsError
		quotaExc  *ratelimit.QuotaExceededError
		canceller interface{ CanceledError() bool }
	)
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled),
		errors.As(err, &send), errors.As(err, &netErr), errors.As(err, &maxTries), errors.As(err, &quotaExc),
		errors.As(err, &canceller) && canceller.CanceledError():
		return true
	case errors.As(err, &api) && (serverCodes[api.ErrorCode()] || api.ErrorFault() == smithy.FaultServer):
		return true
	case errors.As(err, &resp) && resp.HTTPStatusCode() >= http.StatusInternalServerError:
		return true
	}
	return false
}
