package pysig_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kitaru/deployments/pkg/pysig"
)

func write(t *testing.T, src string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "flow.py")
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLookupReadsWithoutImporting(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "imported")
	file := write(t, "open("+`"`+marker+`"`+", 'w').close()\nimport no_such_module\n\ndef greet(name: str, n: int = 1): pass\n")
	fn, err := pysig.Lookup(context.Background(), file, "greet")
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"type": "object", "properties": {"name": {"type": "string"}, "n": {"type": "integer", "default": 1}}, "required": ["name"], "additionalProperties": false}`; !fn.Found || string(fn.Schema) != want {
		t.Errorf("got %+v, schema %s; want %s", fn, fn.Schema, want)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("the file was run")
	}
}

func TestLookupAnswers(t *testing.T) {
	file := write(t, "import os\nfrom x import y as imported\ndef f(): pass\ndef g(): pass\n")
	fn, err := pysig.Lookup(context.Background(), file, "nosuch")
	if err != nil || fn.Found || strings.Join(fn.Functions, ",") != "f,g" {
		t.Errorf("nosuch: %+v, %v", fn, err)
	}
	fn, err = pysig.Lookup(context.Background(), file, "imported")
	if err != nil || !fn.Found || fn.Schema != nil || !strings.Contains(fn.Reason, "imported") {
		t.Errorf("imported: %+v, %v", fn, err)
	}
	_, err = pysig.Lookup(context.Background(), write(t, "def f(:\n"), "f")
	var pe *pysig.ParseError
	if !errors.As(err, &pe) || !strings.Contains(pe.Message, "line 1") {
		t.Errorf("syntax error: %v", err)
	}
}

func TestLookupWithoutPython(t *testing.T) {
	t.Setenv(pysig.PythonEnv, filepath.Join(t.TempDir(), "python-missing"))
	_, err := pysig.Lookup(context.Background(), write(t, "def f(): pass\n"), "f")
	if !errors.Is(err, pysig.ErrNoPython) || !strings.Contains(err.Error(), pysig.PythonEnv) {
		t.Errorf("got %v; want ErrNoPython naming %s", err, pysig.PythonEnv)
	}
}
