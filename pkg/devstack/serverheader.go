package devstack

import "net/http"

// ServerHeader names the server on every answer of kitaru dev, errors
// included, so that a client refused by a dev server can say what works
// there: the key kitaru dev printed at start (client.Error.Server).
const (
	ServerHeader = "X-Kitaru-Server"
	ServerName   = "kitaru-dev"
)

// namedServer sets ServerHeader on every response of next.
func namedServer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(ServerHeader, ServerName)
		next.ServeHTTP(w, r)
	})
}
