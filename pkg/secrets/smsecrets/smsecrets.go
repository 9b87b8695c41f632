// Package smsecrets keeps flow secrets in AWS Secrets Manager, one secret
// per project and name under a prefix: <Prefix><project>/<NAME>, e.g.
// kitaru/default/OPENAI_API_KEY, so that IAM policies scope each function
// to the prefix (infra/stack.go).
package smsecrets

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/kitaru/deployments/pkg/registry"
	"github.com/kitaru/deployments/pkg/secrets"
)

// DefaultPrefix starts every secret name the store writes.
const DefaultPrefix = "kitaru/"

// API is the part of the Secrets Manager client the store uses.
type API interface {
	CreateSecret(ctx context.Context, in *secretsmanager.CreateSecretInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.CreateSecretOutput, error)
	PutSecretValue(ctx context.Context, in *secretsmanager.PutSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error)
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
	DescribeSecret(ctx context.Context, in *secretsmanager.DescribeSecretInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error)
	DeleteSecret(ctx context.Context, in *secretsmanager.DeleteSecretInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.DeleteSecretOutput, error)
	ListSecrets(ctx context.Context, in *secretsmanager.ListSecretsInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.ListSecretsOutput, error)
}

// Store is a secrets.Store on Secrets Manager.
type Store struct {
	api    API
	prefix string
}

var _ secrets.Store = (*Store)(nil)

// New returns a store on api whose secret names start with prefix (empty
// is DefaultPrefix; it should end with /).
func New(api API, prefix string) *Store {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return &Store{api: api, prefix: prefix}
}

func (s *Store) id(project, name string) string { return s.prefix + project + "/" + name }

// Set implements secrets.Store: PutSecretValue, or CreateSecret the first time.
func (s *Store) Set(ctx context.Context, project, name, value string) (secrets.Info, error) {
	if err := registry.ValidateSecretName(name); err != nil {
		return secrets.Info{}, err
	}
	if err := secrets.ValidateValue(value); err != nil {
		return secrets.Info{}, err
	}
	id := s.id(project, name)
	_, err := s.api.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: &id, SecretString: &value})
	if isNotFound(err) {
		_, err = s.api.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
			Name: &id, SecretString: &value,
			Description: aws.String("Kitaru flow secret " + name + " of project " + project),
			Tags:        []types.Tag{{Key: aws.String("kitaru:project"), Value: aws.String(project)}},
		})
		var exists *types.ResourceExistsException
		if errors.As(err, &exists) { // created meanwhile by another Set: last write wins
			_, err = s.api.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: &id, SecretString: &value})
		}
	}
	if err != nil {
		return secrets.Info{}, fmt.Errorf("store secret %s: %w", name, err)
	}
	d, err := s.api.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: &id})
	if err != nil {
		return secrets.Info{}, fmt.Errorf("describe secret %s: %w", name, err)
	}
	return info(name, d.LastChangedDate, d.CreatedDate), nil
}

// List implements secrets.Store with ListSecrets filtered on the project's prefix.
func (s *Store) List(ctx context.Context, project string) ([]secrets.Info, error) {
	prefix := s.id(project, "")
	var out []secrets.Info
	p := secretsmanager.NewListSecretsPaginator(s.api, &secretsmanager.ListSecretsInput{
		Filters: []types.Filter{{Key: types.FilterNameStringTypeName, Values: []string{prefix}}},
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list secrets: %w", err)
		}
		for _, e := range page.SecretList {
			// The name filter matches prefixes of words too: keep exact ones.
			name, ok := strings.CutPrefix(aws.ToString(e.Name), prefix)
			if !ok || registry.ValidateSecretName(name) != nil || e.DeletedDate != nil {
				continue
			}
			out = append(out, info(name, e.LastChangedDate, e.CreatedDate))
		}
	}
	sortInfos(out)
	return out, nil
}

// Delete implements secrets.Store. It deletes without a recovery window,
// so the name can be set again at once, as on every other store.
func (s *Store) Delete(ctx context.Context, project, name string) error {
	if err := registry.ValidateSecretName(name); err != nil {
		return err
	}
	id := s.id(project, name)
	if _, err := s.api.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: &id}); err != nil {
		if isNotFound(err) {
			return secrets.NotFoundError(name)
		}
		return fmt.Errorf("delete secret %s: %w", name, err)
	}
	_, err := s.api.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: &id, ForceDeleteWithoutRecovery: aws.Bool(true)})
	if isNotFound(err) {
		return secrets.NotFoundError(name)
	}
	if err != nil {
		return fmt.Errorf("delete secret %s: %w", name, err)
	}
	return nil
}

// Resolve implements secrets.Store, one GetSecretValue per name.
func (s *Store) Resolve(ctx context.Context, project string, names []string) (map[string]string, error) {
	values := make(map[string]string, len(names))
	var missing []string
	for _, name := range names {
		id := s.id(project, name)
		out, err := s.api.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: &id})
		switch {
		case isNotFound(err):
			missing = append(missing, name)
		case err != nil:
			return nil, fmt.Errorf("read secret %s: %w", name, err)
		case out.SecretString == nil:
			return nil, registry.Errorf(registry.CodeUnprocessable, "secret %s holds binary data, which Kitaru does not set; set it again through PUT /v1/secrets/{name}", name)
		default:
			values[name] = *out.SecretString
		}
	}
	if len(missing) > 0 {
		return nil, secrets.MissingError(missing)
	}
	return values, nil
}

func isNotFound(err error) bool {
	var nf *types.ResourceNotFoundException
	return errors.As(err, &nf)
}

// info describes a secret by its last change, or its creation when the
// engine reports no change.
func info(name string, changed, created *time.Time) secrets.Info {
	at := aws.ToTime(changed)
	if at.IsZero() {
		at = aws.ToTime(created)
	}
	return secrets.Info{Name: name, UpdatedAt: at.UTC()}
}

func sortInfos(infos []secrets.Info) {
	slices.SortFunc(infos, func(a, b secrets.Info) int { return strings.Compare(a.Name, b.Name) })
}
