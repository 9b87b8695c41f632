package devstack

import (
	"path/filepath"

	"github.com/kitaru/deployments/pkg/secrets"
)

// SecretsFile is the flow secrets' file name in Config.DataDir (mode 0600;
// isolated runs see an empty directory there, as for the rest of DataDir).
const SecretsFile = "secrets.json"

// openSecrets keeps flow secrets in DataDir/secrets.json, or in memory
// when there is no data directory (`kitaru dev --memory`).
func openSecrets(dataDir string) (secrets.Store, error) {
	if dataDir == "" {
		return secrets.NewMemory(nil), nil
	}
	return secrets.OpenFile(filepath.Join(dataDir, SecretsFile), nil)
}
