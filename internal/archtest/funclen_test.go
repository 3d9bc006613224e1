package archtest

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// maxFuncLines caps a non-test function of the core, from its func line to
// its closing brace.
const maxFuncLines = 80

// longFuncs lists the non-test functions of the package in dir longer than max lines.
func longFuncs(t *testing.T, dir string, max int) []string {
	t.Helper()
	fset := token.NewFileSet()
	var long []string
	for _, f := range parseDir(t, fset, dir) {
		long = append(long, fileLongFuncs(fset, f, max)...)
	}
	return long
}

// fileLongFuncs lists the functions of f longer than max lines, as "file:line name (n lines)".
func fileLongFuncs(fset *token.FileSet, f *ast.File, max int) []string {
	var long []string
	for _, d := range f.Decls {
		fd, ok := d.(*ast.FuncDecl)
		if !ok || fd.Body == nil {
			continue
		}
		start, end := fset.Position(fd.Pos()), fset.Position(fd.End())
		if n := end.Line - start.Line + 1; n > max {
			long = append(long, fmt.Sprintf("%s:%d %s (%d lines)", filepath.Base(start.Filename), start.Line, fd.Name.Name, n))
		}
	}
	return long
}

func TestCoreFunctionsAtMost80Lines(t *testing.T) {
	for _, dir := range []string{"pkg/imapi", "pkg/records"} {
		if long := longFuncs(t, filepath.Join("..", "..", dir), maxFuncLines); len(long) > 0 {
			t.Errorf("%s has functions over %d lines:\n%s", dir, maxFuncLines, strings.Join(long, "\n"))
		}
	}
}

// TestFunctionLengthCatches shows the count on a function one line too long.
func TestFunctionLengthCatches(t *testing.T) {
	src := "package p\nfunc short() {}\nfunc long() {\n" + strings.Repeat("\t_ = 1\n", 3) + "}\n"
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "p.go", src, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	if got := fileLongFuncs(fset, f, 4); len(got) != 1 || !strings.Contains(got[0], "long (5 lines)") {
		t.Errorf("long functions = %q, want long (5 lines) only", got)
	}
	if got := fileLongFuncs(fset, f, 5); len(got) != 0 {
		t.Errorf("long functions at a cap of 5 = %q, want none", got)
	}
}
