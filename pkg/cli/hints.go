package cli

import (
	"fmt"
	"strings"

	"github.com/kitaru/deployments/pkg/client"
	"github.com/kitaru/deployments/pkg/registry"
)

// The server writes its messages for every surface (HTTP, MCP, the SDKs):
// they name API fields and concepts, never a kitaru command. For the
// refusals it marks with details.reason, the CLI adds the command or flags
// that take the next step.

// replacesServerStep are the reasons whose server message ends in a next
// step ("; list the flow's deployments to see its versions") that the
// CLI's hint says as a command: the CLI gives the command instead of both.
var replacesServerStep = map[string]bool{
	registry.ReasonExecutionNotFound: true, registry.ReasonNoDeployments: true, registry.ReasonVersionNotFound: true,
	registry.ReasonTagNotFound: true, registry.ReasonTagNotHeld: true, registry.ReasonSecretNotFound: true,
}

// withNextStep is a server message with the CLI's next step for its
// details: in place of the server's own last clause for the reasons of
// replacesServerStep, else after it.
func withNextStep(message string, details map[string]any, conn func() connection) string {
	step := nextStep(details, conn)
	reason, _ := details[registry.DetailReason].(string)
	if i := strings.LastIndex(message, "; "); step != "" && replacesServerStep[reason] && i >= 0 {
		message = message[:i]
	}
	return message + step
}

// nextStep is what the CLI adds to a server error with details: the kitaru
// command or flags for its reason, or "" when it has none. conn is asked for
// the active connection only when a credential was refused, to name its URL
// and where the credential came from.
func nextStep(details map[string]any, conn func() connection) string {
	reason, _ := details[registry.DetailReason].(string)
	d := hintDetails(details)
	flow, tag := d.text("flow", "FLOW"), d.text("tag", "TAG")
	moveTag := func(tag string) string {
		return fmt.Sprintf("kitaru flow tag %s %s --version N --exclusive", flow, tag)
	}
	switch reason {
	case registry.ReasonAmbiguousTag:
		return flagHint(details)
	case registry.ReasonNoDeployments:
		return fmt.Sprintf("; deploy it with kitaru deploy path/to/file.py:%s", flow)
	case registry.ReasonVersionNotFound:
		return "; list its versions with kitaru flow deployments list " + flow
	case registry.ReasonTagNotFound, registry.ReasonTagNotHeld:
		return "; see its tags with kitaru flow show " + flow
	case registry.ReasonNoDefault:
		return "; pass --tag T or --version N, or move default: " + moveTag(registry.DefaultTag)
	case registry.ReasonDefaultExclusive, registry.ReasonDefaultNotRemovable:
		return "; move it with " + moveTag(registry.DefaultTag)
	case registry.ReasonHoldsExclusiveTags:
		switch held := d.texts("exclusive_tags"); len(held) {
		case 0:
			return "; move each with " + moveTag("TAG")
		case 1:
			return "; move it with " + moveTag(held[0])
		default:
			return fmt.Sprintf("; move each with %s (TAG: %s)", moveTag("TAG"), strings.Join(held, ", "))
		}
	case registry.ReasonFlowHasRoutes, registry.ReasonFlowBeingDeleted:
		return flowDeleteHint(reason, flow, d.texts("exclusive_tags"))
	case registry.ReasonNoEarlierVersion, registry.ReasonRollbackTargetDeleted:
		return "; move it with " + moveTag(tag)
	case registry.ReasonTooManyTags:
		return fmt.Sprintf("; see its tags with kitaru flow show %s and remove one with kitaru flow untag %s TAG --version N", flow, flow)
	case registry.ReasonMovedDuringRollback:
		return fmt.Sprintf("; see its moves with kitaru flow history %s %s", flow, tag)
	case registry.ReasonInputsMismatch:
		return "; see the flow's parameters with kitaru flow deployments get FLOW --version N"
	case registry.ReasonExecutionNotFound:
		return "; list a flow's executions with kitaru executions list FLOW"
	case registry.ReasonNoRoute:
		return fmt.Sprintf("; check the server URL (kitaru info shows it; %s overrides the saved one)", client.EnvServerURL)
	case registry.ReasonNoCredentials, registry.ReasonCredentialInvalid, registry.ReasonTokenExpired, registry.ReasonCredentialOtherProject:
		return loginHint(conn(), d.text("project", ""))
	case registry.ReasonSecretMissing:
		return secretsHint(d.texts("missing"))
	case registry.ReasonSecretNotFound:
		return "; list the secrets with kitaru secrets list"
	case registry.ReasonSinceInvalid:
		return "; pass --since as a duration (15m, 1h, 7d) or an RFC 3339 time (2026-12-01T08:00:00Z)"
	case registry.ReasonSinceOutOfRange:
		return "; pass --since 30d or less"
	case registry.ReasonBundleBeingCollected:
		return "; run kitaru deploy again once the prune has finished: it uploads the bundle again"
	case registry.ReasonVersionRouted:
		return fmt.Sprintf("; remove each tag with kitaru flow untag %s TAG --version N first", flow)
	case registry.ReasonInvalidSplit, registry.ReasonSplitShared:
		return fmt.Sprintf("; split an exclusive tag with kitaru flow tag %s %s --split 3=90,4=10", flow, tag)
	case registry.ReasonTagSplit:
		return fmt.Sprintf("; move it to one version with %s, or set another split with kitaru flow tag %s %s --split V=W,...", moveTag(tag), flow, tag)
	}
	return ""
}

// loginHint is the next step after a refused credential: set the variable
// that overrides any login, or log in with an API key (project, when the
// credential was for another one).
func loginHint(conn connection, project string) string {
	if conn.sources.AuthToken == client.SourceEnv {
		return fmt.Sprintf("; set %s to a valid API key or token of the project (it overrides any saved login)", client.EnvAuthToken)
	}
	url := conn.ServerURL
	if url == "" {
		url = "URL"
	}
	login := fmt.Sprintf("kitaru login %s --api-key KEY", url)
	if project != "" {
		login += " --project " + project
	}
	return "; with a new API key, log in: " + login
}

// flagHint answers an ambiguous shared tag: the --version flags that pick
// one of its versions.
func flagHint(details map[string]any) string {
	var flags []string
	switch vs := details["versions"].(type) {
	case []any: // decoded from JSON
		for _, v := range vs {
			if n, ok := v.(float64); ok {
				flags = append(flags, fmt.Sprintf("--version %d", int(n)))
			}
		}
	case []int:
		for _, v := range vs {
			flags = append(flags, fmt.Sprintf("--version %d", v))
		}
	}
	if len(flags) < 2 {
		return "; pass --version N instead of --tag"
	}
	return fmt.Sprintf("; pass %s or %s instead of --tag", strings.Join(flags[:len(flags)-1], ", "), flags[len(flags)-1])
}

// hintDetails reads error details as the client decoded them from JSON, or
// as a registry.Error built in process holds them.
type hintDetails map[string]any

// text is the string detail key, or placeholder when there is none.
func (d hintDetails) text(key, placeholder string) string {
	if s, ok := d[key].(string); ok && s != "" {
		return s
	}
	return placeholder
}

// texts is the list-of-strings detail key.
func (d hintDetails) texts(key string) []string {
	switch vs := d[key].(type) {
	case []string:
		return vs
	case []any:
		var out []string
		for _, v := range vs {
			if s, ok := v.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}
