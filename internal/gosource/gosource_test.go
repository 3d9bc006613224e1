package gosource_test

import (
	"go/token"
	"os"
	"path/filepath"
	"testing"

	"github.com/removetag/removetag/internal/gosource"
)

func TestParseDir(t *testing.T) {
	cases := []struct {
		name  string
		files map[string]string
		want  []string // package clauses' file names, in order
		fails bool
	}{
		{name: "test files and other files skipped", files: map[string]string{
			"b.go": "package p\n", "a.go": "package p\n", "a_test.go": "package p\n", "notes.txt": "x",
		}, want: []string{"a.go", "b.go"}},
		{name: "no Go files", files: map[string]string{"a_test.go": "package p\n"}, fails: true},
		{name: "a syntax error", files: map[string]string{"a.go": "package p\nfunc {"}, fails: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			for n, src := range c.files {
				if err := os.WriteFile(filepath.Join(dir, n), []byte(src), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			fset := token.NewFileSet()
			files, err := gosource.ParseDir(fset, dir)
			if c.fails {
				if err == nil {
					t.Fatal("no error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range files {
				got = append(got, filepath.Base(fset.Position(f.Package).Filename))
			}
			if len(got) != len(c.want) || got[0] != c.want[0] || got[len(got)-1] != c.want[len(c.want)-1] {
				t.Errorf("parsed %v, want %v", got, c.want)
			}
		})
	}
}
