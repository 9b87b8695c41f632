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

// ResearchArchive returns the base64 bundle of a project whose
// flows/research.py defines research_agent(topic), for deploy bodies'
// "source": {"archive": …}.
func ResearchArchive() (string, error) {
	once.Do(func() {
		dir, err := os.MkdirTemp("", "bundletest-")
		if err != nil {
			buildErr = err
			return
		}
		defer os.RemoveAll(dir)
		files := map[string]string{
			".kitaru/config.json": `{"version": 1}`,
			"flows/research.py":   "from kitaru import flow\n\n\n@flow\ndef research_agent(topic: str) -> str:\n    return f\"research notes on {topic}\"\n",
		}
		for name, body := range files {
			p := filepath.Join(dir, name)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				buildErr = err
				return
			}
			if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
				buildErr = err
				return
			}
		}
		b, err := bundle.Build(dir)
		if err != nil {
			buildErr = err
			return
		}
		research = base64.StdEncoding.EncodeToString(b.Data)
	})
	return research, buildErr
}
