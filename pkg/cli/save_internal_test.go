package cli

import (
	"slices"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// TestDeployAndBuildShareTheirFlags: build is deploy without a routing tag,
// so every build flag is deploy's (name, shorthand, type, default, help;
// the stack's help differs in its verb only) and deploy's only others are
// the routing tag and the secrets.
func TestDeployAndBuildShareTheirFlags(t *testing.T) {
	deploy, build := newDeployCommand().Flags(), newBuildCommand().Flags()
	var deployOnly []string
	deploy.VisitAll(func(d *pflag.Flag) {
		b := build.Lookup(d.Name)
		if b == nil {
			deployOnly = append(deployOnly, d.Name)
			return
		}
		usage := strings.Replace(b.Usage, "stack to build for", "stack to deploy to", 1)
		if b.Shorthand != d.Shorthand || b.Value.Type() != d.Value.Type() || b.DefValue != d.DefValue || usage != d.Usage {
			t.Errorf("--%s differs: build %+v, deploy %+v", d.Name, *b, *d)
		}
	})
	build.VisitAll(func(b *pflag.Flag) {
		if deploy.Lookup(b.Name) == nil {
			t.Errorf("build has --%s, deploy does not", b.Name)
		}
	})
	if want := []string{"exclusive", "tag"}; !slices.Equal(deployOnly, want) {
		t.Errorf("flags only deploy has: %q; want %q", deployOnly, want)
	}
}
