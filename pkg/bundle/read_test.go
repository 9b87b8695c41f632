package bundle_test

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kitaru/deployments/pkg/bundle"
	"github.com/kitaru/deployments/pkg/registry"
)

// visited is what Read showed of an entry, content read whole.
type visited struct {
	Name, Kind, Target, Content string
	Size                        int64
}

func readAll(t *testing.T, data []byte) ([]visited, bundle.Info, error) {
	t.Helper()
	var got []visited
	info, err := bundle.Read(bytes.NewReader(data), bundle.Limits{}, func(e bundle.Entry) error {
		v := visited{Name: e.Name, Kind: string(e.Kind), Target: e.Target, Size: e.Size}
		if e.Content != nil {
			b, err := io.ReadAll(e.Content)
			if err != nil {
				return err
			}
			v.Content = string(b)
		}
		got = append(got, v)
		return nil
	})
	return got, info, err
}

func TestReadVisitsFilesAndLinksWithTheirContent(t *testing.T) {
	data := archive(t, dir("./"), dir("src/"), file("./src/a.py", "print(1)\n"), file("b.bin", "\x00\x01"),
		symlink("src/link.py", "a.py"), hardlink("copy.py", "./src/a.py"))
	got, info, err := readAll(t, data)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	want := []visited{
		{Name: "src/a.py", Kind: "file", Size: 9, Content: "print(1)\n"},
		{Name: "b.bin", Kind: "file", Size: 2, Content: "\x00\x01"},
		{Name: "src/link.py", Kind: "symlink", Target: "a.py"},
		{Name: "copy.py", Kind: "hardlink", Target: "src/a.py"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("visited (-want +got):\n%s", diff)
	}
	valid, err := bundle.Validate(bytes.NewReader(data), bundle.Limits{}, "")
	if err != nil || info != valid {
		t.Errorf("Read info = %+v; Validate says %+v, %v", info, valid, err)
	}
}

func TestReadRefusesWhatValidateRefuses(t *testing.T) {
	tests := map[string][]byte{
		"a member with ..":                   archive(t, file("../evil.py", "x")),
		"a symlink escaping through another": archive(t, file("a.py", "x"), symlink("up", ".."), symlink("out", "up/..")),
		"bytes that are not gzip":            []byte("not a bundle"),
	}
	for name, data := range tests {
		t.Run(name+" is invalid_argument", func(t *testing.T) {
			_, _, err := readAll(t, data)
			if registry.CodeOf(err) != registry.CodeInvalidArgument {
				t.Fatalf("Read = %v; want invalid_argument", err)
			}
		})
	}
	t.Run("a bundle over the uncompressed limit is payload_too_large", func(t *testing.T) {
		data := archive(t, entry{name: "big", typ: '0', size: 4096})
		_, err := bundle.Read(bytes.NewReader(data), bundle.Limits{Compressed: 1 << 20, Uncompressed: 1024}, func(bundle.Entry) error { return nil })
		if registry.CodeOf(err) != registry.CodePayloadTooLarge {
			t.Fatalf("Read = %v; want payload_too_large", err)
		}
	})
}

func TestReadStopsAtTheVisitorsError(t *testing.T) {
	stop := errors.New("enough")
	calls := 0
	_, err := bundle.Read(bytes.NewReader(archive(t, file("a", "1"), file("b", "2"))), bundle.Limits{}, func(bundle.Entry) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("Read = %v after %d visits; want the visitor's error after 1", err, calls)
	}
}
