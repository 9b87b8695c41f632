// Package dynamotest gives tests of other packages a real registry table:
// an in-process minidyn with the table created, stopped when the test ends.
package dynamotest

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/kitaru/deployments/pkg/dynamo"
	"github.com/kitaru/deployments/pkg/dynamo/defaultconfig"
	"github.com/kitaru/deployments/pkg/localdynamo"
)

// Table is a fresh registry table on its own in-process minidyn.
type Table struct {
	Store    *dynamo.Store
	DB       *dynamodb.Client
	Endpoint string
	Name     string
}

var seq atomic.Int64

// New starts minidyn, creates a table and returns the store on it.
func New(t testing.TB) Table {
	t.Helper()
	srv, err := localdynamo.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	ctx := context.Background()
	db, err := defaultconfig.NewClient(ctx, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("kitaru-test-%d", seq.Add(1))
	if err := dynamo.CreateTable(ctx, db, name); err != nil {
		t.Fatal(err)
	}
	return Table{Store: dynamo.New(db, name), DB: db, Endpoint: srv.URL, Name: name}
}
