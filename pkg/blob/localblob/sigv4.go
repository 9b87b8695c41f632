package localblob

import (
	"crypto/hmac"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Signature checks, as S3 makes them: a request is served only when it is
// signed (SigV4, in the Authorization header or presigned in the query) with
// this server's credentials, which are random per start and known only to
// the server's own client. The check signs the request again with the SDK's
// signer, from the method, path, query and signed headers that arrived, and
// compares signatures: a presigned URL is good for its one method, key and
// length until it expires, and nothing else.
const (
	region        = "us-east-1"
	service       = "s3"
	amzDateFormat = "20060102T150405Z"
	// maxClockSkew bounds the age of a header-signed request, as S3's clock skew does.
	maxClockSkew = 15 * time.Minute
)

// signedOnly serves next only the requests creds signed; the rest get 403.
type signedOnly struct {
	next  http.Handler
	creds aws.Credentials
	now   func() time.Time
}

func (s signedOnly) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.verify(r) {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
			`<Error><Code>AccessDenied</Code><Message>kitaru dev's object store serves only URLs the server signed</Message></Error>`))
		return
	}
	s.next.ServeHTTP(w, r)
}

func signer() *v4.Signer {
	// S3 signs the path as sent, without escaping it again.
	return v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
}

func (s signedOnly) verify(r *http.Request) bool {
	if q := r.URL.Query(); q.Get("X-Amz-Signature") != "" {
		return s.verifyPresigned(r, q)
	}
	return s.verifyHeader(r)
}

// verifyPresigned checks a query-signed (presigned) URL and its expiry.
func (s signedOnly) verifyPresigned(r *http.Request, q url.Values) bool {
	if q.Get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256" || !strings.HasPrefix(q.Get("X-Amz-Credential"), s.creds.AccessKeyID+"/") {
		return false
	}
	at, err := time.Parse(amzDateFormat, q.Get("X-Amz-Date"))
	expires, convErr := strconv.Atoi(q.Get("X-Amz-Expires"))
	if err != nil || convErr != nil || expires <= 0 {
		return false
	}
	// Only the server can sign, so a date in the future is its own choice
	// (its clock may be injected); what is checked is that a URL expires.
	if s.now().After(at.Add(time.Duration(expires) * time.Second)) {
		return false
	}
	got := q.Get("X-Amz-Signature")
	q.Del("X-Amz-Signature")
	req := s.replay(r, q, q.Get("X-Amz-SignedHeaders"))
	if req == nil {
		return false
	}
	signed, _, err := signer().PresignHTTP(r.Context(), s.creds, req, "UNSIGNED-PAYLOAD", service, region, at)
	if err != nil {
		return false
	}
	u, err := url.Parse(signed)
	if err != nil {
		return false
	}
	return hmac.Equal([]byte(got), []byte(u.Query().Get("X-Amz-Signature")))
}

// verifyHeader checks a request signed in its Authorization header (the
// server's own S3 client). The payload hash is the one the client declared
// and signed.
func (s signedOnly) verifyHeader(r *http.Request) bool {
	auth := r.Header.Get("Authorization")
	rest, ok := strings.CutPrefix(auth, "AWS4-HMAC-SHA256 ")
	if !ok {
		return false
	}
	var credential, signedHeaders, got string
	for _, part := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "Credential":
			credential = v
		case "SignedHeaders":
			signedHeaders = v
		case "Signature":
			got = v
		}
	}
	if !strings.HasPrefix(credential, s.creds.AccessKeyID+"/") || got == "" {
		return false
	}
	at, err := time.Parse(amzDateFormat, r.Header.Get("X-Amz-Date"))
	if err != nil {
		return false
	}
	if s.now().After(at.Add(maxClockSkew)) {
		return false
	}
	payload := r.Header.Get("X-Amz-Content-Sha256")
	if payload == "" {
		return false
	}
	req := s.replay(r, r.URL.Query(), signedHeaders)
	if req == nil {
		return false
	}
	if err := signer().SignHTTP(r.Context(), s.creds, req, payload, service, region, at); err != nil {
		return false
	}
	_, want, _ := strings.Cut(req.Header.Get("Authorization"), "Signature=")
	return hmac.Equal([]byte(got), []byte(want))
}

// replay rebuilds the request as it was signed: method, host, path as sent,
// query q, and only the headers named in signedHeaders.
func (s signedOnly) replay(r *http.Request, q url.Values, signedHeaders string) *http.Request {
	u := &url.URL{Scheme: "http", Host: r.Host, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: q.Encode()}
	req, err := http.NewRequestWithContext(r.Context(), r.Method, u.String(), nil)
	if err != nil {
		return nil
	}
	req.URL.RawPath = r.URL.RawPath
	req.ContentLength = -1
	for _, name := range strings.Split(signedHeaders, ";") {
		switch name = strings.ToLower(strings.TrimSpace(name)); name {
		case "", "host":
		case "content-length":
			req.ContentLength = r.ContentLength
		default:
			if v, ok := r.Header[http.CanonicalHeaderKey(name)]; ok {
				req.Header[http.CanonicalHeaderKey(name)] = v
			}
		}
	}
	if req.ContentLength < 0 {
		req.ContentLength = 0
	}
	return req
}
