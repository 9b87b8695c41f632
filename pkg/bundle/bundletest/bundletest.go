// Package bundletest builds small source bundles for tests of packages that
// deploy: a project root holding flows/research.py.
package bundletest

import (
	"encoding/base64"
	"os"
	"path/filepath"
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
	dir, err := os.MkdirTemp("", "bundletest-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	files := map[string]string{
		".kitaru/config.json": `{"version": 1}`,
		"flows/research.py":   researchFlow + extra,
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			return "", err
		}
	}
	b, err := bundle.Build(dir)
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(b.Data), nil
}
