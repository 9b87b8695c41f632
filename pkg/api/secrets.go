package api

import "time"

// SecretRequest is the body of PUT /v1/secrets/{name}. The value is write
// only: no route ever answers it.
type SecretRequest struct {
	Value *string `json:"value"`
}

// Secret describes a stored flow secret, never its value: the answer of
// PUT /v1/secrets/{name} and the items of GET /v1/secrets.
type Secret struct {
	Name      string    `json:"name"`
	UpdatedAt time.Time `json:"updated_at"`
}

// SecretList is the answer of GET /v1/secrets, by name.
type SecretList struct {
	Items []Secret `json:"items"`
}
