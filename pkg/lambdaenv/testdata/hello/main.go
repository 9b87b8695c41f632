// Command hello is the floor of BenchmarkRowBootstrap: the smallest
// aws-lambda-go function, built as scripts/build.sh builds ours.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(ctx context.Context, name string) (string, error) { return "hello " + name, nil })
}
