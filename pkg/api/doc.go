// Package api holds the wire types of the HTTP API: the request and
// response bodies, the error envelope and the one table of error code ↔
// HTTP status. The server (pkg/httpapi), the Go client, the MCP server and
// the CLI all use these types, so a body is described once; api/openapi.yaml
// is tested against them.
//
// The package imports only the domain (pkg/registry) and the standard
// library: no AWS and no Lambda types.
package api
