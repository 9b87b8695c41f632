package registry

// Role says what a principal may do.
type Role string

// The roles: a producer deploys and moves tags; a consumer reads, resolves,
// invokes and follows executions.
const (
	RoleProducer Role = "producer"
	RoleConsumer Role = "consumer"
)

// ValidRole reports whether r is a known role.
func ValidRole(r Role) bool { return r == RoleProducer || r == RoleConsumer }

// Credential says how a principal authenticated.
type Credential string

// Credentials: an API key, or a short-lived token exchanged for one.
const (
	CredentialAPIKey Credential = "api_key"
	CredentialToken  Credential = "token"
)

// ValidCredential reports whether c is a known credential kind.
func ValidCredential(c Credential) bool { return c == CredentialAPIKey || c == CredentialToken }

// Principal is an authenticated caller acting in one project. Every
// request's project comes from here, never from a path or a body.
type Principal struct {
	Project    string     `json:"project"`
	Role       Role       `json:"role"`
	ID         string     `json:"principal"`  // the API key id
	Credential Credential `json:"credential"` // how it authenticated
}
