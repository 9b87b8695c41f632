package httpapi

import (
	"strings"
	"time"

	"github.com/kitaru/deployments/pkg/registry"
)

// executionFilter reads the filters of GET /v1/flows/{flow}/executions:
// version, tag, status and since (an RFC 3339 time, or a duration such as
// 1h or 90m before now).
func (c *call) executionFilter(now time.Time) (registry.ExecutionFilter, error) {
	f, err := c.routeFilter(now)
	if err != nil {
		return f, err
	}
	if v, ok, err := c.query("status"); err != nil {
		return f, err
	} else if ok {
		f.Status = registry.ExecStatus(v)
	}
	return f, f.Validate()
}

// routeFilter reads the version, tag and since query parameters, which
// the execution list and flow stats share.
func (c *call) routeFilter(now time.Time) (registry.ExecutionFilter, error) {
	var f registry.ExecutionFilter
	if v, ok, err := c.query("version"); err != nil {
		return f, err
	} else if ok {
		if f.Version, err = registry.ParseVersion(v); err != nil {
			return f, err
		}
	}
	if v, ok, err := c.query("tag"); err != nil {
		return f, err
	} else if ok {
		if err := registry.ValidateTagName(v); err != nil {
			return f, err
		}
		f.Tag = v
	}
	if v, ok, err := c.query("since"); err != nil {
		return f, err
	} else if ok {
		if f.Since, err = parseSince(v, now); err != nil {
			return f, err
		}
	}
	return f, nil
}

// parseSince reads since: an RFC 3339 time, or a positive duration before now.
func parseSince(v string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t.UTC(), nil
	}
	if d, ok := sinceAgo(v); ok {
		return now.Add(-d).UTC(), nil
	}
	return time.Time{}, registry.Errorf(registry.CodeInvalidArgument, "since %q is neither an RFC 3339 time (2026-12-01T08:00:00Z) nor a positive duration before now (90s, 15m, 1h, 24h)", clipID(v)).
		WithDetails("since", clipID(v)).WithReason(registry.ReasonSinceInvalid)
}

// sinceAgo reads a since given as a positive duration before now (1h, 90m).
func sinceAgo(v string) (time.Duration, bool) {
	d, err := time.ParseDuration(v)
	return d, err == nil && d > 0 && !strings.HasPrefix(v, "+")
}
