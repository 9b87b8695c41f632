package artifacts_test

import (
	"github.com/kitaru/deployments/pkg/artifacts"
	"github.com/kitaru/deployments/pkg/httpapi"
)

// The store is the API's artifact store; the check lives in a test so that
// pkg/artifacts does not import the HTTP adapter for it.
var _ httpapi.Artifacts = (*artifacts.Store)(nil)
