package artifacts_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"testing"

	"github.com/kitaru/deployments/pkg/artifacts"
	"github.com/kitaru/deployments/pkg/blob/localblob"
	"github.com/kitaru/deployments/pkg/bundle"
	"github.com/kitaru/deployments/pkg/bundle/bundletest"
	"github.com/kitaru/deployments/pkg/registry"
)

func TestReadBundle(t *testing.T) {
	ctx := context.Background()
	srv, err := localblob.Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	store := &artifacts.Store{Blobs: srv.Store()}
	encoded, err := bundletest.ResearchArchive()
	if err != nil {
		t.Fatal(err)
	}
	archive, _ := base64.StdEncoding.DecodeString(encoded)
	src, err := store.SaveArchive(ctx, "alpha", archive, "flows/research.py")
	if err != nil {
		t.Fatal(err)
	}
	names := func(project, digest string) ([]string, error) {
		var got []string
		err := store.ReadBundle(ctx, project, digest, func(e bundle.Entry) error {
			got = append(got, e.Name)
			return nil
		})
		return got, err
	}

	t.Run("a stored bundle is visited file by file", func(t *testing.T) {
		got, err := names("alpha", src.Digest)
		if err != nil || len(got) != 2 || got[1] != "flows/research.py" {
			t.Errorf("ReadBundle = %v, %v; want .kitaru/config.json and flows/research.py", got, err)
		}
	})
	t.Run("another project's bundle is not found", func(t *testing.T) {
		if _, err := names("beta", src.Digest); registry.CodeOf(err) != registry.CodeNotFound {
			t.Errorf("ReadBundle from another project = %v; want not_found", err)
		}
	})
	t.Run("bytes stored under another digest are unprocessable", func(t *testing.T) {
		other := "sha256:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
		key, _ := bundle.KeyFor("alpha", other)
		if err := srv.Store().Put(ctx, key, bytes.NewReader(archive), int64(len(archive))); err != nil {
			t.Fatal(err)
		}
		if _, err := names("alpha", other); registry.CodeOf(err) != registry.CodeUnprocessable {
			t.Errorf("ReadBundle of mislabelled bytes = %v; want unprocessable", err)
		}
	})
}
