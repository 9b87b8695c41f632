package httpapi

import (
	"context"
	"fmt"
	"net/http"

	"github.com/kitaru/deployments/pkg/api"
	"github.com/kitaru/deployments/pkg/registry"
	"github.com/kitaru/deployments/pkg/secrets"
)

// The secrets routes never answer a value, and their errors never quote
// one: the value is decoded, validated by length and content, stored.

func (h *Handler) putSecret(ctx context.Context, c *call) (reply, error) {
	store, err := h.secretStore()
	if err != nil {
		return reply{}, err
	}
	name, err := secretName(c)
	if err != nil {
		return reply{}, err
	}
	var b api.SecretRequest
	if err := decodeRequest(c, &b, false); err != nil {
		return reply{}, err
	}
	if b.Value == nil {
		return reply{}, registry.Errorf(registry.CodeInvalidArgument, "field \"value\" is required: the secret's value, a string")
	}
	info, err := store.Set(ctx, c.principal.Project, name, *b.Value)
	if err != nil {
		return reply{}, fmt.Errorf("set secret %s: %w", name, err)
	}
	return reply{status: http.StatusOK, body: api.Secret{Name: info.Name, UpdatedAt: info.UpdatedAt}}, nil
}

func (h *Handler) listSecrets(ctx context.Context, c *call) (reply, error) {
	store, err := h.secretStore()
	if err != nil {
		return reply{}, err
	}
	infos, err := store.List(ctx, c.principal.Project)
	if err != nil {
		return reply{}, fmt.Errorf("list secrets: %w", err)
	}
	out := api.SecretList{Items: make([]api.Secret, len(infos))}
	for i, info := range infos {
		out.Items[i] = api.Secret{Name: info.Name, UpdatedAt: info.UpdatedAt}
	}
	return reply{status: http.StatusOK, body: out}, nil
}

func (h *Handler) deleteSecret(ctx context.Context, c *call) (reply, error) {
	store, err := h.secretStore()
	if err != nil {
		return reply{}, err
	}
	name, err := secretName(c)
	if err != nil {
		return reply{}, err
	}
	if err := store.Delete(ctx, c.principal.Project, name); err != nil {
		return reply{}, fmt.Errorf("delete secret %s: %w", name, err)
	}
	return reply{status: http.StatusNoContent}, nil
}

func (h *Handler) secretStore() (secrets.Store, error) {
	if h.cfg.Secrets == nil {
		return nil, registry.Errorf(registry.CodeUnavailable, "this server keeps no flow secrets (it has no secret store configured); ask its operator")
	}
	return h.cfg.Secrets, nil
}

func secretName(c *call) (string, error) {
	name := c.params["name"]
	return name, registry.ValidateSecretName(name)
}
