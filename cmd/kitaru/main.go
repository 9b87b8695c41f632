// Command kitaru is the Kitaru CLI; the command tree lives in pkg/cli.
package main

import (
	"context"
	"os"

	"github.com/kitaru/deployments/pkg/cli"
)

func main() {
	os.Exit(cli.Run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}
