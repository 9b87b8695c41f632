package devstack_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kitaru/deployments/pkg/auth"
	"github.com/kitaru/deployments/pkg/registry"
)

// resolveLoad is the load of BenchmarkRowResolveHTTP: this many keep-alive
// clients send this many requests in all, per measured server.
const (
	resolveClients  = 16
	resolveRequests = 4000
)

// BenchmarkRowResolveHTTP measures resolve by tag over HTTP on kitaru dev
// (a token-authenticated GET /v1/flows/{flow}/resolve?tag=stable through the
// dev gateway, the authorizer and the store) against its floor, measured in
// the same run with the same clients: a bare net/http server that checks the
// same kind of token (an HMAC-signed JWT, auth.Signer.Verify) and answers the
// same body from memory. It reports requests per second for both and their
// ratio (issue 15 asks for at least 0.3).
func BenchmarkRowResolveHTTP(b *testing.B) {
	a := startDevB(b)
	a.deployProject("research", "flows/research.py:research_agent", map[string]any{"inputs": map[string]any{"topic": "x"}})
	if status := a.do("PUT", "/v1/flows/research_agent/tags/stable", map[string]any{"version": 1, "exclusive": true}, nil, nil); status != http.StatusOK {
		b.Fatalf("tag: %d", status)
	}
	var tok struct {
		Token string `json:"token"`
	}
	if status := a.do("POST", "/v1/auth/token", map[string]any{"ttl_seconds": 3600}, nil, &tok); status != http.StatusOK || tok.Token == "" {
		b.Fatalf("token: %d", status)
	}
	const path = "/v1/flows/research_agent/resolve?tag=stable"
	header := http.Header{"Authorization": {"Bearer " + tok.Token}, "X-Kitaru-Project": {"default"}}
	body := getOnce(b, a.url+path, header)

	floorURL, floorToken := startFloor(b, body)
	floorHeader := http.Header{"Authorization": {"Bearer " + floorToken}, "X-Kitaru-Project": {"default"}}
	var dev, floor float64
	for b.Loop() {
		dev = requestsPerSecond(b, a.url+path, header, len(body))
		floor = requestsPerSecond(b, floorURL+path, floorHeader, len(body))
	}
	b.ReportMetric(dev, "req/s")
	b.ReportMetric(floor, "floor-req/s")
	b.ReportMetric(dev/floor, "x-floor")
	b.ReportMetric(0.3, "target-x-floor")
}

// getOnce GETs url and returns its 200 body.
func getOnce(b *testing.B, url string, header http.Header) []byte {
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		b.Fatal(err)
	}
	req.Header = header
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		b.Fatalf("GET %s: %d %s %v", url, resp.StatusCode, raw, err)
	}
	return raw
}

// startFloor serves body on loopback to requests that carry a valid token of
// a signer of its own, and returns its URL and such a token.
func startFloor(b *testing.B, body []byte) (string, string) {
	secret, err := auth.NewSecret()
	if err != nil {
		b.Fatal(err)
	}
	signer := &auth.Signer{Secret: secret}
	token, _, err := signer.Issue(registry.Principal{Project: "default", Role: registry.RoleConsumer, ID: "floor"}, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := signer.Verify(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	b.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	return "http://" + ln.Addr().String(), token
}

// requestsPerSecond sends resolveRequests GETs from resolveClients
// keep-alive clients and returns the rate; every answer must be a 200 of
// wantBytes bytes.
func requestsPerSecond(b *testing.B, url string, header http.Header, wantBytes int) float64 {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: resolveClients}}
	defer client.CloseIdleConnections()
	var left atomic.Int64
	left.Store(resolveRequests)
	var wg sync.WaitGroup
	start := time.Now()
	for range resolveClients {
		wg.Go(func() {
			for left.Add(-1) >= 0 {
				req, err := http.NewRequest("GET", url, nil)
				if err != nil {
					b.Error(err)
					return
				}
				req.Header = header
				resp, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				n, _ := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || int(n) != wantBytes {
					b.Errorf("GET %s: %d, %d bytes", url, resp.StatusCode, n)
					return
				}
			}
		})
	}
	wg.Wait()
	return resolveRequests / time.Since(start).Seconds()
}
