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

// engineError wraps an error from a DynamoDB request. When the engine could
// not be reached, timed out, throttled or failed on its side, the request may
// succeed later: the error carries code unavailable (503, retry). Anything
// else stays internal. The engine's text goes to the log, never to the caller.
func engineError(op string, err error) error {
	if !transient(err) {
		return fmt.Errorf("%s: %w", op, err)
	}
	return fmt.Errorf("%s: %v: %w", op, err, &registry.Error{Code: registry.CodeUnavailable,
		Message: "the registry database is unavailable or throttled right now and nothing was changed that you can rely on; retry in a moment"})
}

// throttleCodes are DynamoDB's "slow down" error codes.
var throttleCodes = map[string]bool{
	"ThrottlingException": true, "ProvisionedThroughputExceededException": true,
	"RequestLimitExceeded": true, "LimitExceededException": true,
	"InternalServerError": true, "ServiceUnavailable": true,
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
	case errors.As(err, &api) && (throttleCodes[api.ErrorCode()] || api.ErrorFault() == smithy.FaultServer):
		return true
	case errors.As(err, &resp) && (resp.HTTPStatusCode() >= http.StatusInternalServerError || resp.HTTPStatusCode() == http.StatusTooManyRequests):
		return true
	}
	return false
}
