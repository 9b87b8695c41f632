package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// ErrUnauthorized is a REQUEST authorizer's "Unauthorized" answer: the
// function error API Gateway turns into a 401 without evaluating a policy.
// An Authorizer's Call returns an error that Is it.
var ErrUnauthorized = errors.New("Unauthorized")

// AuthorizerCall runs a REQUEST authorizer on req and returns its answer
// as the function returns it (the JSON of
// events.APIGatewayCustomAuthorizerResponse). An error that Is
// ErrUnauthorized is the function's "Unauthorized"; any other error is an
// authorizer failure.
type AuthorizerCall func(ctx context.Context, req events.APIGatewayCustomAuthorizerRequestTypeRequest) ([]byte, error)

// Authorizer plays API Gateway's REQUEST authorizer in front of the
// integrations: it reads the identity sources, reuses a cached answer for
// the same sources within TTL, otherwise calls the authorizer, and applies
// the answer's policy to the method's ARN. aws-local calls the authorizer
// function under RIE, kitaru dev calls gatewayauth in process; both go
// through this one emulation.
type Authorizer struct {
	// Call runs the authorizer.
	Call AuthorizerCall
	// IdentityHeaders are the identity sources (method.request.header.X);
	// their values key the cache.
	IdentityHeaders []string
	// OptionalIdentity lets a request lack identity sources and still reach
	// the authorizer, which then says what is missing (kitaru dev). Without
	// it, a request missing one is refused Unauthorized without a call, as
	// API Gateway does.
	OptionalIdentity bool
	// TTL is how long an answer (Allow or Deny) is reused for the same
	// identity values; 0 caches nothing. "Unauthorized" is never cached.
	TTL time.Duration
	// Region, AccountID, APIID and Stage make up the method ARN the policy
	// is evaluated against:
	// arn:aws:execute-api:<Region>:<AccountID>:<APIID>/<Stage>/<METHOD>/<path>.
	Region, AccountID, APIID, Stage string
	// Now is the clock of the cache; nil is time.Now.
	Now func() time.Time

	mu    sync.Mutex
	cache map[string]cachedAnswer
}

type cachedAnswer struct {
	answer  authorizerAnswer
	expires time.Time
}

// authorizerAnswer is an authorizer's answer: its principal, policy and
// context, read as API Gateway reads it (Action and Resource are a string
// or a list).
type authorizerAnswer struct {
	PrincipalID    string `json:"principalId"`
	PolicyDocument struct {
		Statement []struct {
			Effect   string          `json:"Effect"`
			Action   json.RawMessage `json:"Action"`
			Resource json.RawMessage `json:"Resource"`
		} `json:"Statement"`
	} `json:"policyDocument"`
	Context map[string]any `json:"context"`
}

// Authorize runs the authorizer for ev and returns the context the
// integration receives (the answer's context as strings, plus principalId).
// A missing identity source is an Unauthorized refusal without a call
// (unless OptionalIdentity); "Unauthorized" is an Unauthorized refusal, a
// policy that does not allow the method's ARN an AccessDenied one, a failed
// call or a malformed answer an AuthorizerFailure. A refusal wraps the
// authorizer's error when there is one.
func (a *Authorizer) Authorize(ctx context.Context, ev *events.APIGatewayProxyRequest) (map[string]any, error) {
	values := make([]string, len(a.IdentityHeaders))
	for i, h := range a.IdentityHeaders {
		values[i] = http.Header(ev.MultiValueHeaders).Get(h)
		if values[i] == "" && !a.OptionalIdentity {
			return nil, Refuse(Unauthorized, "identity source %s is missing", h)
		}
	}
	methodARN := fmt.Sprintf("arn:aws:execute-api:%s:%s:%s/%s/%s/%s", a.Region, a.AccountID, a.APIID, a.Stage, ev.HTTPMethod, strings.TrimPrefix(ev.Path, "/"))
	key := strings.Join(values, "\x00")
	answer, cached := a.lookup(key)
	if !cached {
		var err error
		if answer, err = a.call(ctx, ev, methodARN); err != nil {
			return nil, err
		}
		a.store(key, answer)
	}
	if effect := evaluate(answer, methodARN); effect != "Allow" {
		return nil, Refuse(AccessDenied, "the policy's effect for %s is %q", methodARN, effect)
	}
	out := map[string]any{"principalId": answer.PrincipalID}
	for k, v := range answer.Context {
		out[k] = fmt.Sprint(v)
	}
	return out, nil
}

func (a *Authorizer) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func (a *Authorizer) lookup(key string) (authorizerAnswer, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	c, ok := a.cache[key]
	if !ok || a.now().After(c.expires) {
		return authorizerAnswer{}, false
	}
	return c.answer, true
}

func (a *Authorizer) store(key string, answer authorizerAnswer) {
	if a.TTL <= 0 {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cache == nil {
		a.cache = map[string]cachedAnswer{}
	}
	a.cache[key] = cachedAnswer{answer: answer, expires: a.now().Add(a.TTL)}
}

// call builds the REQUEST authorizer event API Gateway sends and reads the answer.
func (a *Authorizer) call(ctx context.Context, ev *events.APIGatewayProxyRequest, methodARN string) (authorizerAnswer, error) {
	req := events.APIGatewayCustomAuthorizerRequestTypeRequest{
		Type: "REQUEST", MethodArn: methodARN, Resource: ev.Resource, Path: ev.Path, HTTPMethod: ev.HTTPMethod,
		Headers: ev.Headers, MultiValueHeaders: ev.MultiValueHeaders,
		QueryStringParameters: ev.QueryStringParameters, MultiValueQueryStringParameters: ev.MultiValueQueryStringParameters,
		PathParameters: ev.PathParameters,
		RequestContext: events.APIGatewayCustomAuthorizerRequestTypeRequestContext{
			Path: ev.RequestContext.Path, AccountID: a.AccountID, Stage: a.Stage, RequestID: ev.RequestContext.RequestID,
			ResourcePath: ev.Resource, HTTPMethod: ev.HTTPMethod, APIID: a.APIID,
			Identity: events.APIGatewayCustomAuthorizerRequestTypeRequestIdentity{SourceIP: ev.RequestContext.Identity.SourceIP},
		},
	}
	raw, err := a.Call(ctx, req)
	switch {
	case errors.Is(err, ErrUnauthorized):
		return authorizerAnswer{}, &Refusal{Type: Unauthorized, Reason: "the authorizer answered Unauthorized", Err: err}
	case err != nil:
		return authorizerAnswer{}, &Refusal{Type: AuthorizerFailure, Reason: fmt.Sprintf("the authorizer failed: %v", err), Err: err}
	}
	var answer authorizerAnswer
	if err := json.Unmarshal(raw, &answer); err != nil || answer.PrincipalID == "" || len(answer.PolicyDocument.Statement) == 0 {
		return authorizerAnswer{}, Refuse(AuthorizerFailure, "the authorizer's answer is not a policy with a principal: %s", raw)
	}
	for k, v := range answer.Context {
		switch v.(type) {
		case string, float64, bool:
		default:
			return authorizerAnswer{}, Refuse(AuthorizerFailure, "authorizer context %q is not a string, number or boolean", k)
		}
	}
	return answer, nil
}

// evaluate applies the policy to the method ARN: an explicit Deny wins,
// otherwise an Allow is needed.
func evaluate(answer authorizerAnswer, methodARN string) string {
	effect := "none"
	for _, st := range answer.PolicyDocument.Statement {
		if !anyMatches(st.Action, "execute-api:Invoke") || !anyMatches(st.Resource, methodARN) {
			continue
		}
		if st.Effect == "Deny" {
			return "Deny"
		}
		if st.Effect == "Allow" {
			effect = "Allow"
		}
	}
	return effect
}

// anyMatches reports whether a policy's Action or Resource (a string or a
// list) matches s, with * and ? wildcards.
func anyMatches(raw json.RawMessage, s string) bool {
	var list []string
	if json.Unmarshal(raw, &list) != nil {
		var one string
		if json.Unmarshal(raw, &one) != nil {
			return false
		}
		list = []string{one}
	}
	for _, pattern := range list {
		if wildcardMatch(pattern, s) {
			return true
		}
	}
	return false
}

func wildcardMatch(pattern, s string) bool {
	if pattern == "" {
		return s == ""
	}
	switch pattern[0] {
	case '*':
		for i := 0; i <= len(s); i++ {
			if wildcardMatch(pattern[1:], s[i:]) {
				return true
			}
		}
		return false
	case '?':
		return s != "" && wildcardMatch(pattern[1:], s[1:])
	}
	return s != "" && pattern[0] == s[0] && wildcardMatch(pattern[1:], s[1:])
}
