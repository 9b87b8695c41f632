// Command stagerunner writes the Python runner's Lambda code directory
// (runner.py and the kitaru package, pkg/runnerfiles) into the directory
// named by its argument; scripts/build.sh calls it for dist/runner.
package main

import (
	"fmt"
	"os"

	"github.com/kitaru/deployments/pkg/runnerfiles"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: go run ./scripts/stagerunner DIR")
		os.Exit(2)
	}
	if err := runnerfiles.Write(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}
