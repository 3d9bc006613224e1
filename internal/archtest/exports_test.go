package archtest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/removetag/removetag/internal/gosource"
)

// maxCoreExports caps what pkg/imapi exports (issue 16): the client, the
// engine, limiters, errors and the report, not the records (pkg/records).
const maxCoreExports = 80

// exportedNames lists the exported top-level functions, types, constants and
// variables of the package in dir, and its exported methods ("Type.Method"),
// from its non-test files. Struct fields and interface methods are not counted.
func exportedNames(t *testing.T, dir string) []string {
	t.Helper()
	var names []string
	for _, f := range parseDir(t, token.NewFileSet(), dir) {
		names = append(names, fileExports(f)...)
	}
	slices.Sort(names)
	return names
}

// parseDir parses the non-test Go files of dir.
func parseDir(t *testing.T, fset *token.FileSet, dir string) []*ast.File {
	t.Helper()
	files, err := gosource.ParseDir(fset, dir)
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// fileExports lists the exported names that f declares at its top level.
func fileExports(f *ast.File) []string {
	var names []string
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			if !d.Name.IsExported() {
				continue
			}
			if d.Recv == nil {
				names = append(names, d.Name.Name)
				continue
			}
			if recv := receiverName(d.Recv.List[0].Type); ast.IsExported(recv) {
				names = append(names, recv+"."+d.Name.Name)
			}
		case *ast.GenDecl:
			for _, s := range d.Specs {
				switch s := s.(type) {
				case *ast.TypeSpec:
					if s.Name.IsExported() {
						names = append(names, s.Name.Name)
					}
				case *ast.ValueSpec:
					for _, n := range s.Names {
						if n.IsExported() {
							names = append(names, n.Name)
						}
					}
				}
			}
		}
	}
	return names
}

// receiverName is the type name of a method's receiver: T for T, *T, T[P] or *T[P].
func receiverName(e ast.Expr) string {
	for {
		switch x := e.(type) {
		case *ast.StarExpr:
			e = x.X
		case *ast.IndexExpr:
			e = x.X
		case *ast.IndexListExpr:
			e = x.X
		case *ast.Ident:
			return x.Name
		default:
			return ""
		}
	}
}

func TestCoreExportsAtMost80(t *testing.T) {
	names := exportedNames(t, filepath.Join("..", "..", "pkg", "imapi"))
	if len(names) == 0 {
		t.Fatal("pkg/imapi exports nothing: the test reads the wrong directory")
	}
	t.Logf("pkg/imapi exports %d names", len(names))
	if len(names) > maxCoreExports {
		t.Errorf("pkg/imapi exports %d names, more than %d:\n%s", len(names), maxCoreExports, strings.Join(names, "\n"))
	}
}

// TestExportCountCatches shows the count on a file that exports one name of
// each kind, and none of what it must not count.
func TestExportCountCatches(t *testing.T) {
	const src = `package p
func F() {}
func f() {}
type T struct{ Field int; field int }
type I interface{ M() }
type g[P any] struct{}
func (T) M() {}
func (*T) N() {}
func (t T) m() {}
func (g[P]) M() {}
const C, c = 1, 2
var V, v int
`
	f, err := parser.ParseFile(token.NewFileSet(), "p.go", src, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	got := fileExports(f)
	slices.Sort(got)
	want := []string{"C", "F", "I", "T", "T.M", "T.N", "V"}
	if !slices.Equal(got, want) {
		t.Errorf("exports = %q, want %q", got, want)
	}
}
