// Package s3env builds the S3 adapter of the Lambda functions that store
// source bundles and results (deploy, invoke). It is apart from lambdaenv so
// that the other functions do not link the S3 client.
package s3env

import (
	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/kitaru/deployments/pkg/blob"
	"github.com/kitaru/deployments/pkg/blob/s3blob"
	"github.com/kitaru/deployments/pkg/lambdaenv"
)

var _ = lambdaenv.Services{Blobs: NewBlobs}

// NewBlobs builds the blob store on the bucket env names (KITARU_BUCKET,
// S3_ENDPOINT); service.New puts the artifact store and its bundle limits
// on it.
func NewBlobs(cfg aws.Config, env lambdaenv.Env) (blob.Store, error) {
	return s3blob.New(cfg, env.Bucket, env.S3Endpoint)
}
