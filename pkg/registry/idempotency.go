package registry

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"strings"
	"time"
)

// Idempotent writes (docs/idempotency.md). A client sends one
// Idempotency-Key per logical write and reuses it on every retry; the server
// runs the write once and answers every repeat of the same request with the
// first answer for IdempotencyWindow. A repeat of the key with another
// request is refused with CodeIdempotencyMismatch.

// HeaderIdempotencyKey names the request header that carries the key.
const HeaderIdempotencyKey = "Idempotency-Key"

// MaxIdempotencyKeyLen bounds an Idempotency-Key (a UUID is 36).
const MaxIdempotencyKeyLen = 255

// IdempotencyLease is how long a claimed key stays "in progress" before
// another request may take it over. It outlasts a request: the API functions
// stop at 30 s (API Gateway gives up at 29 s), so a live claimant has always
// finished or died by then.
const IdempotencyLease = 60 * time.Second

// ValidateIdempotencyKey checks a key sent in the Idempotency-Key header: 1
// to MaxIdempotencyKeyLen printable ASCII characters. Errors: invalid_argument.
func ValidateIdempotencyKey(key string) error {
	if key == "" || len(key) > MaxIdempotencyKeyLen || strings.ContainsFunc(key, func(r rune) bool { return r < 0x20 || r > 0x7e }) {
		return Errorf(CodeInvalidArgument, "header %s must be 1 to %d printable ASCII characters (a UUID is a good key); got %d bytes", HeaderIdempotencyKey, MaxIdempotencyKeyLen, len(key)).
			WithDetails("header", HeaderIdempotencyKey)
	}
	return nil
}

// IdempotencyClaim asks to run one keyed write. The key is scoped by project
// and principal: the same key from another caller is another key.
type IdempotencyClaim struct {
	Project   string
	Principal string
	Key       string
	// Fingerprint identifies the request (Fingerprint builds one); a repeat
	// of the key with another fingerprint is an idempotency_mismatch.
	Fingerprint string
	// Token identifies this claimant; only it may complete or release the claim.
	Token string
	// Lease is how long the claim stays in progress; zero is IdempotencyLease.
	Lease time.Duration
}

// StoredResponse is the answer of a completed keyed write, replayed
// byte for byte to every repeat of the request.
type StoredResponse struct {
	Status  int
	Body    string
	Headers map[string]string
	// CreatedAt is when the answer was stored.
	CreatedAt time.Time
}

// IdempotencyStore keeps the claims and answers of keyed writes for
// IdempotencyWindow.
type IdempotencyStore interface {
	// ClaimIdempotencyKey claims c's key for c.Token, in progress until
	// the lease ends, when the key is free: never used, expired, or held by
	// a claim whose lease ran out (taken over). claimed=false means the same
	// request completed already: prior is its answer, to replay.
	// Errors: idempotency_mismatch (the key was used for another request),
	// conflict (the same request is still in progress: retry shortly),
	// invalid_argument, unavailable.
	ClaimIdempotencyKey(ctx context.Context, c IdempotencyClaim) (prior StoredResponse, claimed bool, err error)
	// CompleteIdempotencyKey stores the answer of c's request, if c.Token
	// still holds the claim (a claim taken over is left to its new holder).
	// Errors: unavailable.
	CompleteIdempotencyKey(ctx context.Context, c IdempotencyClaim, resp StoredResponse) error
	// ReleaseIdempotencyKey frees c's key, if c.Token still holds the claim,
	// so that a retry runs the request again (after a failure that changed
	// nothing the caller can rely on). Errors: unavailable.
	ReleaseIdempotencyKey(ctx context.Context, c IdempotencyClaim) error
}

// Fingerprint hashes the parts that make a request what it is (method,
// route, parameters, the headers that change its meaning) and its body,
// canonically: a JSON body hashes the same whatever its whitespace or key
// order, so a client that re-encodes a retry still matches. A body that is
// not a JSON document this API accepts hashes as its bytes.
func Fingerprint(parts []string, body []byte) string {
	h := sha256.New()
	for _, p := range parts {
		writePart(h, p)
	}
	writePart(h, string(CanonicalJSON(body)))
	return hex.EncodeToString(h.Sum(nil))
}

// writePart writes p length-prefixed, so that no two part lists hash alike.
func writePart(h hash.Hash, p string) {
	var n [8]byte
	for i, l := 0, len(p); i < 8; i, l = i+1, l>>8 {
		n[i] = byte(l)
	}
	h.Write(n[:])
	h.Write([]byte(p))
}

// CanonicalJSON re-encodes a JSON document with sorted keys, no whitespace
// and numbers as written; anything that is not one valid document without
// duplicate keys (CheckJSON) is returned unchanged.
func CanonicalJSON(body []byte) []byte {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || CheckJSON(trimmed, "body", MaxJSONDepth+1) != nil {
		return body
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil || dec.More() {
		return body
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return body
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// Validate checks a claim. Errors: invalid_argument.
func (c IdempotencyClaim) Validate() error {
	if err := ValidateProject(c.Project); err != nil {
		return err
	}
	if err := ValidateIdempotencyKey(c.Key); err != nil {
		return err
	}
	if c.Principal == "" || c.Fingerprint == "" || c.Token == "" {
		return Errorf(CodeInvalidArgument, "an idempotency claim needs a principal, a fingerprint and a token")
	}
	return nil
}

// IdempotencyRecord is what a store keeps for one key: a claim in progress
// (leased to Token until LeaseUntil) or, when Completed, the answer.
type IdempotencyRecord struct {
	Completed   bool
	Fingerprint string
	Token       string
	LeaseUntil  time.Time
	// Response is the stored answer of a completed record.
	Response StoredResponse
	// BodyDropped says the answer's body was too large to keep (PackBody).
	BodyDropped bool
}

// Answer is what a claim of c gets from the live record rec that refused
// it: claimed=true when c itself holds it (a re-sent claim), prior when the
// same request completed. A record in progress whose lease ran out answers
// claimed=false with no error: claim again to take it over.
// Errors: idempotency_mismatch, conflict (in progress, or the answer was dropped).
func (rec IdempotencyRecord) Answer(c IdempotencyClaim, now time.Time) (prior StoredResponse, claimed bool, err error) {
	switch {
	case !rec.Completed && rec.Token == c.Token:
		return StoredResponse{}, true, nil
	case rec.Fingerprint != c.Fingerprint:
		return StoredResponse{}, false, Errorf(CodeIdempotencyMismatch,
			"this %s was already used, within %g hours, for a different request (another method, path, body or If-Match); send a new key for a new request, or repeat the original request unchanged",
			HeaderIdempotencyKey, IdempotencyWindow.Hours()).WithDetails("header", HeaderIdempotencyKey)
	case !rec.Completed && rec.LeaseUntil.UnixMilli() >= now.UnixMilli():
		wait := max(rec.LeaseUntil.Sub(now).Round(time.Second), time.Second)
		return StoredResponse{}, false, Errorf(CodeConflict,
			"a request with this %s is still in progress; retry in a few seconds to get its answer", HeaderIdempotencyKey).
			WithDetails("header", HeaderIdempotencyKey).WithDetails("retry_after_seconds", int(wait.Seconds()))
	case !rec.Completed:
		return StoredResponse{}, false, nil
	case rec.BodyDropped:
		return StoredResponse{}, false, Errorf(CodeConflict,
			"the request with this %s already succeeded (status %d) but its answer was too large to keep for replay; read the result instead (Location: %q)",
			HeaderIdempotencyKey, rec.Response.Status, rec.Response.Headers["Location"]).WithDetails("status", rec.Response.Status)
	}
	return rec.Response, false, nil
}

// Limits of a stored answer's body, as DynamoDB's 400 KB item holds it;
// every store keeps to them, so replays behave alike on all.
const (
	// IdempotencyGzipAbove is the body size from which an answer is stored gzipped.
	IdempotencyGzipAbove = 32 << 10
	// MaxIdempotencyBodyBytes is the largest (gzipped) body kept for replay.
	MaxIdempotencyBodyBytes = 380 << 10
)

// PackBody is how an answer's body is stored: as is up to
// IdempotencyGzipAbove, else gzipped, or dropped (nothing kept) when even
// gzipped it is over MaxIdempotencyBodyBytes.
func PackBody(body string) (plain string, gz []byte, dropped bool, err error) {
	if len(body) <= IdempotencyGzipAbove {
		return body, nil, false, nil
	}
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	if _, err := w.Write([]byte(body)); err != nil {
		return "", nil, false, fmt.Errorf("compress answer: %w", err)
	}
	if err := w.Close(); err != nil {
		return "", nil, false, fmt.Errorf("compress answer: %w", err)
	}
	if buf.Len() > MaxIdempotencyBodyBytes {
		return "", nil, true, nil
	}
	return "", buf.Bytes(), false, nil
}

// UnpackBody is the body PackBody stored as plain or gz.
func UnpackBody(plain string, gz []byte) (string, error) {
	if len(gz) == 0 {
		return plain, nil
	}
	r, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return "", fmt.Errorf("decode stored answer: %w", err)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return "", fmt.Errorf("decode stored answer: %w", err)
	}
	return string(b), nil
}
