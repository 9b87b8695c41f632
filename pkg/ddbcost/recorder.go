package ddbcost

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// targetPrefix starts the X-Amz-Target header of every DynamoDB operation.
const targetPrefix = "DynamoDB_20120810."

// Recorder records what every DynamoDB request of the clients it is
// installed on costs: it wraps their HTTP client, forwards each request,
// and analyses request and response (Analyze). Where the wire does not show
// a size DynamoDB charges for (an update's item, the item a put replaces, a
// projected read), it reads the item with a consistent GetItem through the
// same transport, uncounted: before the request for a write, after it for
// both. The sizes are exact when no other writer changes the item in
// between. Operations it cannot price (CreateTable, DescribeTable…) pass
// unrecorded.
//
// Its own GetItems reuse the request's headers, signature included, so it
// works against engines that do not check signatures (DynamoDB Local,
// minidyn): it measures, it is not for production. Keys must be strings.
type Recorder struct {
	// Schema names the key attributes; the zero value means DefaultSchema.
	Schema Schema

	mu    sync.Mutex
	calls []Call
	errs  []error
}

// Option returns the client option that installs the recorder.
func (r *Recorder) Option() func(*dynamodb.Options) {
	return func(o *dynamodb.Options) {
		next := o.HTTPClient
		if next == nil {
			next = http.DefaultClient
		}
		o.HTTPClient = &recordingClient{next: next, rec: r}
	}
}

// Calls returns the calls recorded so far, in the order they were answered.
func (r *Recorder) Calls() []Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Call(nil), r.calls...)
}

// Take returns the calls recorded so far and forgets them, so a caller can
// measure one operation at a time.
func (r *Recorder) Take() []Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	calls := r.calls
	r.calls = nil
	return calls
}

// Err reports the requests the recorder could not analyse (they were
// forwarded all the same); nil when there were none.
func (r *Recorder) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return errors.Join(r.errs...)
}

func (r *Recorder) schema() Schema {
	if r.Schema == (Schema{}) {
		return DefaultSchema
	}
	return r.Schema
}

func (r *Recorder) fail(err error) {
	r.mu.Lock()
	r.errs = append(r.errs, err)
	r.mu.Unlock()
}

type recordingClient struct {
	next dynamodb.HTTPClient
	rec  *Recorder
}

func (c *recordingClient) Do(req *http.Request) (*http.Response, error) {
	op, ok := strings.CutPrefix(req.Header.Get("X-Amz-Target"), targetPrefix)
	if !ok || !priced[op] {
		return c.next.Do(req)
	}
	body, err := readBody(req)
	if err != nil {
		return nil, err
	}
	schema := c.rec.schema()
	pre, err := schema.Analyze(op, body, nil)
	if err != nil {
		c.rec.fail(err)
		return c.next.Do(req)
	}
	before := map[itemKey]int{}
	for _, a := range pre.Accesses {
		if a.Write && a.SizeUnknown {
			if before[keyOf(a)], err = c.size(req, a); err != nil {
				c.rec.fail(fmt.Errorf("%s: size before: %w", op, err))
			}
		}
	}
	resp, sendErr := c.next.Do(req)
	var answer []byte
	if sendErr == nil {
		if answer, err = io.ReadAll(resp.Body); err != nil {
			return nil, err
		}
		_ = resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(answer))
	}
	call := pre
	if sendErr != nil {
		call.Err = "no answer: " + sendErr.Error()
	} else if call, err = schema.Analyze(op, body, answer); err != nil {
		c.rec.fail(err)
		return resp, nil
	}
	call.Attempt = attempt(req.Header.Get("Amz-Sdk-Request"))
	filtered := bytes.Contains(body, []byte(`"FilterExpression"`))
	for i := range call.Accesses {
		a := &call.Accesses[i]
		if !a.SizeUnknown || filtered || sendErr != nil {
			continue
		}
		after, err := c.size(req, *a)
		if err != nil {
			c.rec.fail(fmt.Errorf("%s: size after: %w", op, err))
			continue
		}
		if a.Write {
			a.Before, a.After = max(a.Before, before[keyOf(*a)]), after
		} else {
			a.Bytes = after
		}
		a.SizeUnknown = false
	}
	Price(&call)
	c.rec.mu.Lock()
	c.rec.calls = append(c.rec.calls, call)
	c.rec.mu.Unlock()
	return resp, sendErr
}

// priced are the operations Analyze knows.
var priced = map[string]bool{
	"GetItem": true, "PutItem": true, "UpdateItem": true, "DeleteItem": true, "Query": true, "Scan": true,
	"BatchGetItem": true, "BatchWriteItem": true, "TransactGetItems": true, "TransactWriteItems": true,
}

type itemKey struct{ table, pk, sk string }

func keyOf(a Access) itemKey { return itemKey{a.Table, a.PK, a.SK} }

// readBody reads req's body and puts an unread copy back.
func readBody(req *http.Request) ([]byte, error) {
	if req.Body == nil {
		return nil, nil
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, err
	}
	_ = req.Body.Close()
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	return body, nil
}

// attempt reads the SDK's "attempt=2; max=3" header; 1 when absent.
func attempt(header string) int {
	for part := range strings.SplitSeq(header, ";") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(part), "attempt="); ok {
			if n, err := strconv.Atoi(v); err == nil {
				return n
			}
		}
	}
	return 1
}

// size reads a's item with a consistent GetItem through the same transport
// and returns its size (0 when there is none).
func (c *recordingClient) size(req *http.Request, a Access) (int, error) {
	schema := c.rec.schema()
	key := map[string]map[string]string{schema.PK: {"S": a.PK}}
	if a.SK != "" {
		key[schema.SK] = map[string]string{"S": a.SK}
	}
	body, err := json.Marshal(map[string]any{"TableName": a.Table, "Key": key, "ConsistentRead": true})
	if err != nil {
		return 0, err
	}
	get := req.Clone(req.Context())
	get.Header.Set("X-Amz-Target", targetPrefix+"GetItem")
	get.Body = io.NopCloser(bytes.NewReader(body))
	get.GetBody = nil
	get.ContentLength = int64(len(body))
	get.Header.Set("Content-Length", strconv.Itoa(len(body)))
	resp, err := c.next.Do(get)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GetItem answered %d: %.200s", resp.StatusCode, answer)
	}
	var out struct{ Item Item }
	if err := json.Unmarshal(answer, &out); err != nil {
		return 0, err
	}
	return ItemSize(out.Item)
}
