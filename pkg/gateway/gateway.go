// Package gateway plays API Gateway's REST API in front of Lambda proxy
// integrations: it turns an HTTP request into the proxy event API Gateway
// sends, asks an authorizer, calls the integration and writes its answer
// back. kitaru dev runs it with the handlers in process; aws-local runs it
// with the routes, authorizer and functions of the synthesized template,
// each function under AWS's runtime interface emulator.
package gateway

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
)

// ResponseType names one of API Gateway's own refusals (a gateway response
// type of AWS::ApiGateway::GatewayResponse).
type ResponseType string

// The refusals the gateway makes itself, before or instead of an integration.
const (
	MissingAuthenticationToken ResponseType = "MISSING_AUTHENTICATION_TOKEN" // no such route
	RequestTooLarge            ResponseType = "REQUEST_TOO_LARGE"
	Unauthorized               ResponseType = "UNAUTHORIZED"       // identity source missing, or the authorizer said "Unauthorized"
	AccessDenied               ResponseType = "ACCESS_DENIED"      // the authorizer's policy does not allow the call
	AuthorizerFailure          ResponseType = "AUTHORIZER_FAILURE" // the authorizer failed or answered garbage
	Default5XX                 ResponseType = "DEFAULT_5XX"        // the integration failed
)

// Refusal is the gateway refusing a request itself; Responder renders it.
type Refusal struct {
	Type ResponseType
	// Reason is for the log, never for the caller.
	Reason string
	// Err is what caused it, when known (the authorizer's error); a backend
	// that renders its own errors may show it, API Gateway never does.
	Err error
}

func (r *Refusal) Error() string { return fmt.Sprintf("gateway refusal %s: %s", r.Type, r.Reason) }

// Unwrap returns the cause.
func (r *Refusal) Unwrap() error { return r.Err }

// Refuse returns a Refusal of type t.
func Refuse(t ResponseType, format string, args ...any) error {
	return &Refusal{Type: t, Reason: fmt.Sprintf(format, args...)}
}

// Route is a matched resource: its template and path parameters, and
// whatever the integration needs to find the function (Target).
type Route struct {
	Resource       string
	PathParameters map[string]string
	Target         string
}

// Backend is what the gateway runs requests on.
type Backend interface {
	// Match finds the resource and method of a request; false is a
	// MISSING_AUTHENTICATION_TOKEN refusal, as API Gateway answers.
	Match(method, path string) (Route, bool)
	// Authorize returns the authorizer context for the request, or an error
	// (a *Refusal, or an error Respond knows how to render).
	Authorize(ctx context.Context, route Route, ev *events.APIGatewayProxyRequest) (map[string]any, error)
	// Integrate runs the route's integration.
	Integrate(ctx context.Context, route Route, ev events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error)
	// Respond renders an error of Authorize or Integrate, or a Refusal.
	Respond(err error, requestID string) events.APIGatewayProxyResponse
}

// Gateway serves HTTP on a Backend.
type Gateway struct {
	Backend Backend
	// Stage is the stage name in the request context; with StageInPath the
	// URL path starts with /<Stage>, as on API Gateway's default endpoint.
	Stage       string
	StageInPath bool
	// MaxBodyBytes is API Gateway's payload limit (10 MiB).
	MaxBodyBytes int64
	// Logger receives one line per request; nil discards.
	Logger *slog.Logger
}

// ServeHTTP answers one request.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	requestID := rand.Text()
	resp, refused := g.answer(w, r, requestID)
	writeResponse(w, resp)
	if g.Logger != nil {
		// The integration logs its own line; the gateway logs what it answered itself.
		level := slog.LevelDebug
		if refused {
			level = slog.LevelInfo
		}
		g.Logger.Log(r.Context(), level, "gateway", "request_id", requestID, "method", r.Method, "path", r.URL.Path,
			"status", resp.StatusCode, "refused", refused, "duration_ms", time.Since(start).Milliseconds())
	}
}

// answer runs one request; refused says the gateway answered it itself.
func (g *Gateway) answer(w http.ResponseWriter, r *http.Request, requestID string) (events.APIGatewayProxyResponse, bool) {
	refuse := func(err error) (events.APIGatewayProxyResponse, bool) {
		return g.Backend.Respond(err, requestID), true
	}
	path := r.URL.Path
	if g.StageInPath {
		rest, ok := strings.CutPrefix(path, "/"+g.Stage)
		if !ok || (rest != "" && rest[0] != '/') {
			return refuse(Refuse(MissingAuthenticationToken, "path %s is outside stage %s", path, g.Stage))
		}
		path = rest
	}
	route, ok := g.Backend.Match(r.Method, path)
	if !ok {
		return refuse(Refuse(MissingAuthenticationToken, "no method %s on %s", r.Method, path))
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, g.MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return refuse(Refuse(RequestTooLarge, "body over %d bytes", g.MaxBodyBytes))
		}
		return refuse(fmt.Errorf("read the request body: %w", err))
	}
	ev := ProxyRequest(r, path, body, requestID, g.Stage)
	ev.Resource, ev.RequestContext.ResourcePath, ev.PathParameters = route.Resource, route.Resource, route.PathParameters
	authz, err := g.Backend.Authorize(r.Context(), route, &ev)
	if err != nil {
		return refuse(err)
	}
	ev.RequestContext.Authorizer = authz
	resp, err := g.Backend.Integrate(r.Context(), route, ev)
	if err != nil {
		return refuse(err)
	}
	return resp, false
}

// ProxyRequest builds the REST proxy event for r; path is the request path
// below the stage.
func ProxyRequest(r *http.Request, path string, body []byte, requestID, stage string) events.APIGatewayProxyRequest {
	headers := r.Header.Clone()
	headers.Set("Host", r.Host)
	query := r.URL.Query()
	sourceIP, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		sourceIP = r.RemoteAddr
	}
	now := time.Now()
	ev := events.APIGatewayProxyRequest{
		Path:                            path,
		HTTPMethod:                      r.Method,
		Headers:                         lastValues(headers),
		MultiValueHeaders:               headers,
		QueryStringParameters:           lastValues(query),
		MultiValueQueryStringParameters: query,
		RequestContext: events.APIGatewayProxyRequestContext{
			RequestID:        requestID,
			Stage:            stage,
			HTTPMethod:       r.Method,
			Path:             "/" + stage + path,
			Protocol:         r.Proto,
			DomainName:       r.Host,
			RequestTime:      now.UTC().Format("02/Jan/2006:15:04:05 -0700"),
			RequestTimeEpoch: now.UnixMilli(),
			Identity:         events.APIGatewayRequestIdentity{SourceIP: sourceIP, UserAgent: r.UserAgent()},
		},
	}
	if len(query) == 0 {
		ev.QueryStringParameters, ev.MultiValueQueryStringParameters = nil, nil
	}
	if utf8.Valid(body) {
		ev.Body = string(body)
	} else {
		ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString(body), true
	}
	return ev
}

// lastValues flattens multi-value parameters as API Gateway does: the last value wins.
func lastValues(m map[string][]string) map[string]string {
	flat := make(map[string]string, len(m))
	for k, vs := range m {
		if len(vs) > 0 {
			flat[k] = vs[len(vs)-1]
		}
	}
	return flat
}

// writeResponse writes a proxy response to w.
func writeResponse(w http.ResponseWriter, resp events.APIGatewayProxyResponse) {
	body := []byte(resp.Body)
	if resp.IsBase64Encoded {
		decoded, err := base64.StdEncoding.DecodeString(resp.Body)
		if err != nil {
			resp.StatusCode = http.StatusBadGateway
			decoded = []byte(`{"error":{"code":"internal","message":"the handler answered invalid base64"}}`)
		}
		body = decoded
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	for k, v := range resp.Headers {
		h.Set(k, v)
	}
	for k, vs := range resp.MultiValueHeaders {
		h.Del(k)
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(body)
}
