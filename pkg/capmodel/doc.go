// Package capmodel measures what every HTTP route of the API costs in
// DynamoDB capacity and other AWS calls. Its test drives each route
// through the real handler over the DynamoDB store with a ddbcost.Recorder
// on the client, and keeps the result in docs/scale-routes.md (run
// `go test ./pkg/capmodel -update` to rewrite it), the measured input of
// the capacity model in docs/scale.md.
package capmodel
