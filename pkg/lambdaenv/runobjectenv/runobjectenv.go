// Package runobjectenv builds the run-object store of the functions that
// delete an execution's run object when it ends (finish, reaper): the
// bucket KITARU_BUCKET names. It is apart from s3env, which links the API's
// wiring, so that those two link only the S3 client.
package runobjectenv

import (
	"log/slog"
	"os"

	"github.com/kitaru/deployments/pkg/artifacts"
	"github.com/kitaru/deployments/pkg/blob/s3blob"
	"github.com/kitaru/deployments/pkg/lambdaenv/storeenv"
)

// FromEnv builds the store on the bucket KITARU_BUCKET names (S3_ENDPOINT
// overrides the endpoint), loading the AWS configuration with load.
func FromEnv(getenv func(string) string, load storeenv.ConfigLoader) (*artifacts.Store, error) {
	cfg, err := load(getenv)
	if err != nil {
		return nil, err
	}
	blobs, err := s3blob.New(cfg, getenv("KITARU_BUCKET"), getenv("S3_ENDPOINT"))
	if err != nil {
		return nil, err
	}
	return &artifacts.Store{Blobs: blobs}, nil
}

// Start is FromEnv at a cold start: a configuration error is logged and
// ends the process.
func Start(logger *slog.Logger) *artifacts.Store {
	objects, err := FromEnv(os.Getenv, storeenv.LoadAWSConfig)
	if err != nil {
		logger.Error("cold start failed", "error", err)
		os.Exit(1)
	}
	return objects
}
