package localblob_test

import (
	"context"
	"strings"
	"testing"

	"github.com/kitaru/deployments/pkg/blob/localblob"
)

func TestOnDiskObjectsSurviveARestart(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	first, err := localblob.Start(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Store().Put(ctx, "k", strings.NewReader("kept"), 4); err != nil {
		t.Fatal(err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	second, err := localblob.Start(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := second.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	if size, exists, err := second.Store().Stat(ctx, "k"); err != nil || !exists || size != 4 {
		t.Errorf("Stat after restart = %d, %v, %v; want 4, true, nil", size, exists, err)
	}
}
