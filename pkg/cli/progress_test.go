package cli

import (
	"os"
	"testing"
)

func TestWaitProgressIsOffWhereNoTerminalIs(t *testing.T) {
	devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer devNull.Close()
	regular, err := os.Create(t.TempDir() + "/stderr")
	if err != nil {
		t.Fatal(err)
	}
	defer regular.Close()
	for name, f := range map[string]*os.File{"/dev/null, a character device": devNull, "a regular file": regular} {
		t.Run(name+" shows no progress", func(t *testing.T) {
			if p := newWaitProgress(f); p != nil {
				t.Errorf("newWaitProgress(%s) shows progress; want none", f.Name())
			}
		})
	}
}
