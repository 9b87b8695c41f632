// Package bundletest builds small source bundles for tests of packages that
// deploy: a project root holding flows/research.py, or any files.
package bundletest

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/kitaru/deployments/pkg/bundle"
)

var (
	once     sync.Once
	research string
	buildErr error
)

// researchFlow is flows/research.py of the research project.
const researchFlow = "from kitaru import flow\n\n\n@flow\ndef research_agent(topic: str) -> str:\n    return f\"research notes on {topic}\"\n"

// ResearchArchive returns the base64 bundle of a project whose
// flows/research.py defines research_agent(topic), for deploy bodies'
// "source": {"archive": …}.
func ResearchArchive() (string, error) {
	once.Do(func() { research, buildErr = ResearchArchiveWith("") })
	return research, buildErr
}

// ResearchArchiveWith is ResearchArchive with extra appended to
// flows/research.py: another bundle (another digest) of the same flow.
func ResearchArchiveWith(extra string) (string, error) {
	b, err := FromFiles(map[string]string{
		".kitaru/config.json": `{"version": 1}`,
		"flows/research.py":   researchFlow + extra,
	})
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(b.Data), nil
}

// FromFiles builds, as kitaru deploy does, the bundle of a project root
// holding files: slash-separated name → content, where content "->target"
// makes a symlink to target instead.
func FromFiles(files map[string]string) (bundle.Bundle, error) {
	dir, err := os.MkdirTemp("", "bundletest-")
	if err != nil {
		return bundle.Bundle{}, err
	}
	defer os.RemoveAll(dir)
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return bundle.Bundle{}, err
		}
		if target, ok := strings.CutPrefix(body, "->"); ok {
			err = os.Symlink(target, p)
		} else {
			err = os.WriteFile(p, []byte(body), 0o644)
		}
		if err != nil {
			return bundle.Bundle{}, err
		}
	}
	return bundle.Build(dir)
}
