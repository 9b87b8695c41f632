package dynamo

import (
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/kitaru/deployments/pkg/registry"
)

// Store is the registry on DynamoDB.
type Store struct {
	db    *dynamodb.Client
	table string
	now   func() time.Time
	// maxLiveTags is registry.MaxLiveTags unless a test lowers it.
	maxLiveTags int
}

var _ registry.Store = (*Store)(nil)

// Option configures a Store.
type Option func(*Store)

// WithClock sets the time source (tests make it deterministic).
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// New returns a Store on the given table.
func New(db *dynamodb.Client, table string, opts ...Option) *Store {
	s := &Store{db: db, table: table, now: time.Now, maxLiveTags: registry.MaxLiveTags}
	for _, o := range opts {
		o(s)
	}
	return s
}
