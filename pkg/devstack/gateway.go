package devstack

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"

	"github.com/kitaru/deployments/pkg/auth"
	"github.com/kitaru/deployments/pkg/gatewayauth"
	"github.com/kitaru/deployments/pkg/httpapi"
	"github.com/kitaru/deployments/pkg/registry"
)

// stage is the API Gateway stage name kitaru dev reports.
const stage = "dev"

// serveHTTP plays API Gateway: it turns the request into the proxy event
// API Gateway would send, runs the handler and writes its response back.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	requestID := rand.Text()
	resp, err := s.answer(w, r, requestID)
	if err != nil {
		s.logger.Error("request failed", "request_id", requestID, "error", err)
		resp = events.APIGatewayProxyResponse{
			StatusCode: http.StatusInternalServerError,
			Body:       `{"error":{"code":"internal","message":"internal error; see the kitaru dev log"}}`,
		}
	}
	writeResponse(w, resp)
}

// answer reads the body (refusing it over MaxBodyBytes, as API Gateway
// would, before any handler runs) and runs the handler.
func (s *Server) answer(w http.ResponseWriter, r *http.Request, requestID string) (events.APIGatewayProxyResponse, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		resp, encodeErr := httpapi.ErrorResponse(bodyError(err), requestID)
		s.logger.Info("request", "request_id", requestID, "method", r.Method, "path", r.URL.Path, "status", resp.StatusCode)
		return resp, encodeErr
	}
	ev := proxyRequest(r, body, requestID)
	// As API Gateway runs the authorizer before the integration, kitaru dev
	// runs the same authenticator before the handler.
	p, err := s.authn.Authenticate(r.Context(), r.Header.Get(auth.HeaderAuthorization), r.Header.Get(auth.HeaderProject))
	if err != nil {
		resp, encodeErr := httpapi.ErrorResponse(err, requestID)
		s.logger.Info("request", "request_id", requestID, "method", r.Method, "path", r.URL.Path, "status", resp.StatusCode)
		return resp, encodeErr
	}
	ev.RequestContext.Authorizer = gatewayauth.Context(p)
	return s.handler.Handle(r.Context(), ev)
}

func bodyError(err error) error {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return registry.Errorf(registry.CodePayloadTooLarge, "request body is over %d MiB; pass large data by reference (a URL or object key)", MaxBodyBytes>>20)
	}
	return registry.Errorf(registry.CodeInvalidArgument, "could not read the request body: %v", err)
}

// proxyRequest builds the API Gateway REST proxy event for r.
func proxyRequest(r *http.Request, body []byte, requestID string) events.APIGatewayProxyRequest {
	headers := r.Header.Clone()
	headers.Set("Host", r.Host)
	query := r.URL.Query()
	sourceIP, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		sourceIP = r.RemoteAddr
	}
	now := time.Now()
	ev := events.APIGatewayProxyRequest{
		Path:                            r.URL.Path,
		HTTPMethod:                      r.Method,
		Headers:                         lastValues(headers),
		MultiValueHeaders:               headers,
		QueryStringParameters:           lastValues(query),
		MultiValueQueryStringParameters: query,
		RequestContext: events.APIGatewayProxyRequestContext{
			RequestID:        requestID,
			Stage:            stage,
			HTTPMethod:       r.Method,
			Path:             "/" + stage + r.URL.Path,
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
	if template, params, ok := httpapi.MatchPath(r.URL.Path); ok {
		ev.Resource, ev.PathParameters, ev.RequestContext.ResourcePath = template, params, template
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

// writeResponse writes an API Gateway proxy response to w.
func writeResponse(w http.ResponseWriter, resp events.APIGatewayProxyResponse) {
	body := []byte(resp.Body)
	if resp.IsBase64Encoded {
		decoded, err := base64.StdEncoding.DecodeString(resp.Body)
		if err != nil {
			resp.StatusCode = http.StatusInternalServerError
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
