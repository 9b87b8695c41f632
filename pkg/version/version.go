// Package version names this build of Kitaru deployments.
package version

// Version is the server and CLI version; release builds set it with
// -ldflags "-X github.com/kitaru/deployments/pkg/version.Version=v1.2.3".
var Version = "0.3.0-dev"
