package throttle

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/kitaru/deployments/pkg/ddbcost"
)

// Table is the DynamoDB throttling decorator: install it on a client with
// Option. It charges every request to Budgets and refuses those the
// budgets cannot pay, as DynamoDB does (see the package comment).
type Table struct {
	// Budgets are charged; share one Table between clients of one table.
	Budgets  *Budgets
	sizes    *sizes
	timeline *timeline
}

// NewTable returns a decorator with fresh budgets of limits.
func NewTable(limits Limits) *Table {
	return &Table{Budgets: NewBudgets(limits), sizes: newSizes(), timeline: newTimeline()}
}

// Option returns the client option that installs the decorator on a
// client's transport, and makes the client's retry waits virtual: the
// retryer waits no real time, and the retried request is charged at the
// virtual time its wait would have ended.
func (t *Table) Option() func(*dynamodb.Options) {
	return func(o *dynamodb.Options) {
		o.HTTPClient = decorate(t.timeline, &o.Retryer, o.HTTPClient, func(next HTTPClient) HTTPClient {
			return &tableClient{next: next, table: t}
		})
	}
}

type tableClient struct {
	next  HTTPClient
	table *Table
}

func (c *tableClient) Do(r *http.Request) (*http.Response, error) {
	_, op, _ := strings.Cut(r.Header.Get("X-Amz-Target"), ".")
	body, err := readBody(r)
	if err != nil {
		return nil, err
	}
	at, timed := c.table.timeline.at(r)
	admitted, err := c.table.sizes.price(op, body, nil)
	if err != nil || len(admitted) == 0 {
		// Not a data request (CreateTable, DescribeTable), or one the
		// analysis cannot read: the engine answers it unmetered.
		return c.next.Do(r)
	}
	if i := c.table.Budgets.Admit(at, timed, admitted); i >= 0 {
		return throttled(r, op, admitted, i), nil
	}
	resp, err := c.next.Do(r)
	if err != nil || resp.StatusCode != http.StatusOK {
		// A failed condition costs what was admitted; DynamoDB charges it.
		return resp, err
	}
	c.table.timeline.forget(r)
	if !answerShowsSizes(op) {
		c.table.sizes.learn(admitted)
		return resp, nil
	}
	answer, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("read DynamoDB answer: %w", err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(answer))
	if consumed, err := c.table.sizes.price(op, body, answer); err == nil {
		c.table.Budgets.Settle(difference(admitted, consumed))
	}
	return resp, nil
}

// difference is consumed less admitted, as accesses to charge.
func difference(admitted, consumed []ddbcost.Access) []ddbcost.Access {
	out := make([]ddbcost.Access, 0, len(admitted)+len(consumed))
	for _, a := range admitted {
		a.Units = -a.Units
		out = append(out, a)
	}
	return append(out, consumed...)
}

// throttled is DynamoDB's answer to a request a partition cannot serve:
// the whole transaction cancelled for a transactional one (reason
// ThrottlingError on the item that could not be paid), otherwise
// ProvisionedThroughputExceededException with its throttling reason.
func throttled(r *http.Request, op string, accesses []ddbcost.Access, refused int) *http.Response {
	const prefix = "com.amazonaws.dynamodb.v20120810#"
	a := accesses[refused]
	kind := "Read"
	if a.Write {
		kind = "Write"
	}
	msg := "The level of configured provisioned throughput for the table was exceeded (simulated: key range of " + Pattern(a) + ")"
	if op == "TransactWriteItems" || op == "TransactGetItems" {
		reasons := make([]cancellationReason, len(accesses))
		codes := make([]string, len(accesses))
		for i := range reasons {
			reasons[i], codes[i] = cancellationReason{Code: "None"}, "None"
		}
		codes[refused] = "ThrottlingError"
		reasons[refused] = cancellationReason{Code: "ThrottlingError", Message: "Throughput exceeds the current capacity for one or more global secondary indexes or the table (simulated)"}
		b, _ := json.Marshal(map[string]any{
			"__type": prefix + "TransactionCanceledException", "Message": "Transaction cancelled, please refer cancellation reasons for specific reasons [" + strings.Join(codes, ", ") + "]",
			"CancellationReasons": reasons,
		})
		return jsonError(r, http.StatusBadRequest, string(b))
	}
	b, _ := json.Marshal(map[string]any{
		"__type": prefix + "ProvisionedThroughputExceededException", "message": msg,
		"ThrottlingReasons": []map[string]string{{"reason": "Table" + kind + "KeyRangeThroughputExceeded", "resource": a.Table}},
	})
	return jsonError(r, http.StatusBadRequest, string(b))
}

// cancellationReason is one entry of TransactionCanceledException's
// CancellationReasons.
type cancellationReason struct{ Code, Message string }
