package cli_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/kitaru/deployments/pkg/cli"
	"github.com/kitaru/deployments/pkg/client"
)

func TestFlowStatusOnKitaruDev(t *testing.T) {
	startKitaruDev(t)
	deployResearch(t) // 1: default, 2: canary (exclusive)
	mustKitaru(t, "invoke", "research_agent", "--tag", "canary", "--wait")
	mustKitaru(t, "invoke", "research_agent", "--tag", "canary", "--wait")
	mustKitaru(t, "invoke", "research_agent", "--wait")

	t.Run("-o json has a row per routed version with its outcomes", func(t *testing.T) {
		st := itemOf[client.FlowStats](t, "flow status", mustKitaru(t, "flow", "status", "research_agent", "-o", "json"))
		var got []string
		for _, v := range st.Versions {
			if v.Completed != v.Started || v.P50Seconds == nil {
				t.Errorf("row %+v: want every execution completed, with a median", v)
			}
			got = append(got, strings.Join(v.Tags, ",")+"="+strings.Repeat("x", v.Started))
		}
		if want := []string{"canary=xx", "default=x"}; !slices.Equal(got, want) || st.Read != 3 || st.Sampled {
			t.Errorf("rows %q read %d sampled %v, want %q from 3 records", got, st.Read, st.Sampled, want)
		}
	})
	t.Run("--tag counts the executions through the tag", func(t *testing.T) {
		st := itemOf[client.FlowStats](t, "flow status", mustKitaru(t, "flow", "status", "research_agent", "--tag", "canary", "--since", "1h", "-o", "json"))
		if len(st.Versions) != 1 || st.Versions[0].Version != 2 || st.Versions[0].Started != 2 {
			t.Errorf("rows %+v, want version 2 with 2 executions", st.Versions)
		}
	})
	t.Run("the text table has the columns and a row per version", func(t *testing.T) {
		out := mustKitaru(t, "flow", "status", "research_agent")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 4 || !strings.HasPrefix(lines[0], "Executions of research_agent started ") ||
			strings.Join(strings.Fields(lines[1]), " ") != "VERSION TAGS STARTED COMPLETED FAILED CANCELLED RUNNING P50 P95 LAST FAILURE" ||
			!strings.HasPrefix(strings.Join(strings.Fields(lines[2]), " "), "2 canary 2 2 0 0 0 ") ||
			!strings.HasSuffix(lines[3], " -") {
			t.Errorf("stdout:\n%s", out)
		}
	})
	for _, args := range [][]string{{"--since", "yesterday"}, {"--version", "0"}, {"--tag", "bad tag"}} {
		t.Run("a usage error: "+strings.Join(args, " "), func(t *testing.T) {
			exit, stdout, stderr := kitaru(t, append([]string{"flow", "status", "research_agent"}, args...)...)
			if exit != cli.ExitUsage || stdout != "" || stderr == "" {
				t.Errorf("exit %d, stdout %q, stderr %q", exit, stdout, stderr)
			}
		})
	}
	t.Run("an unknown flow is not found", func(t *testing.T) {
		exit, _, stderr := kitaru(t, "flow", "status", "nope")
		if exit == cli.ExitOK || !strings.Contains(stderr, "kitaru deploy") {
			t.Errorf("exit %d, stderr %q", exit, stderr)
		}
	})
}
