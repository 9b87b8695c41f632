// Package bundleenv reads the source bundle limit from the environment, once
// for the Lambda functions (lambdaenv) and kitaru dev (devstack), so both
// enforce the same limits. It is apart from lambdaenv so that kitaru dev does
// not link the Lambda runtime and the clients only the functions use.
package bundleenv

import (
	"fmt"
	"strconv"

	"github.com/kitaru/deployments/pkg/bundle"
)

// Variable holds the compressed bundle limit in whole MiB.
const Variable = "KITARU_MAX_BUNDLE_MB"

// maxMB bounds Variable: 5 GiB.
const maxMB = 5120

// ReadMaxBytes returns the compressed bundle limit Variable sets, in bytes,
// read through getenv (os.Getenv outside tests); 0 when it is unset, which
// every consumer of the limits takes as the default through
// bundle.Limits.WithDefaults (bundle.DefaultMaxCompressed).
func ReadMaxBytes(getenv func(string) string) (int64, error) {
	v := getenv(Variable)
	if v == "" {
		return 0, nil
	}
	mb, err := strconv.Atoi(v)
	if err != nil || mb < 1 || mb > maxMB {
		return 0, fmt.Errorf("%s is %q; set a whole number of MiB from 1 to %d (unset, it is %d)", Variable, v, maxMB, bundle.DefaultMaxCompressed>>20)
	}
	return int64(mb) << 20, nil
}
