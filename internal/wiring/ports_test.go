package wiring

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/removetag/removetag/internal/gosource"
	"github.com/removetag/removetag/pkg/adapters/invoke"
	"github.com/removetag/removetag/pkg/adapters/objstore"
	"github.com/removetag/removetag/pkg/adapters/secrets"
	"github.com/removetag/removetag/pkg/adapters/trigger"
	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/job"
	"github.com/removetag/removetag/pkg/quota"
)

// The adapters the wiring hands to the service implement its ports. The
// driven adapters may not import the service or the driving side, so the
// checks of the ports they cannot name are here.
var (
	_ trigger.TokenSource   = (*secrets.Cache)(nil)
	_ imapi.KeySource       = (*secrets.Cache)(nil)
	_ job.StoreOpener       = (*objstore.Opener)(nil)
	_ objstore.BucketOpener = (*objstore.Opener)(nil)
	_ job.Quota             = (*quota.Sharer)(nil)
	_ job.Invoker           = (*invoke.Lambda)(nil)
	_ job.Invoker           = (*invoke.SCF)(nil)
)

const module = "github.com/removetag/removetag"

// portMethods returns the methods of the interfaces declared (in non-test
// files) by the packages of this module that the files import: the ports the
// wiring connects, whatever package declares them.
func portMethods(t *testing.T, files []*ast.File) map[string]string {
	t.Helper()
	root := filepath.Join("..", "..")
	methods := map[string]string{} // method name → the interface declaring it
	seen := map[string]bool{}
	for _, f := range files {
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			rel, ok := strings.CutPrefix(path, module+"/")
			if !ok || seen[rel] {
				continue
			}
			seen[rel] = true
			for _, pf := range parseDir(t, filepath.Join(root, rel)) {
				for name, ifc := range interfaces(pf) {
					for _, m := range ifc.Methods.List {
						for _, n := range m.Names {
							methods[n.Name] = rel + "." + name
						}
					}
				}
			}
		}
	}
	if len(methods) == 0 {
		t.Fatal("no port found in the packages the wiring imports")
	}
	return methods
}

// interfaces returns the exported interface types a file declares.
func interfaces(f *ast.File) map[string]*ast.InterfaceType {
	out := map[string]*ast.InterfaceType{}
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.TYPE {
			continue
		}
		for _, spec := range gd.Specs {
			ts := spec.(*ast.TypeSpec)
			if ifc, ok := ts.Type.(*ast.InterfaceType); ok && ts.Name.IsExported() {
				out[ts.Name.Name] = ifc
			}
		}
	}
	return out
}

// parseDir parses the non-test Go files of dir.
func parseDir(t *testing.T, dir string) []*ast.File {
	t.Helper()
	files, err := gosource.ParseDir(token.NewFileSet(), dir)
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// portImplementations lists what in files could implement a port: a method
// named as a port's method, or a struct embedding a type (whose methods it
// would take on).
func portImplementations(files []*ast.File, ports map[string]string) []string {
	var found []string
	for _, f := range files {
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if d.Recv != nil {
					if port, ok := ports[d.Name.Name]; ok {
						found = append(found, "method "+d.Name.Name+" (of "+port+")")
					}
				}
			case *ast.GenDecl:
				for _, spec := range d.Specs {
					ts, ok := spec.(*ast.TypeSpec)
					if !ok {
						continue
					}
					if st, ok := ts.Type.(*ast.StructType); ok {
						for _, field := range st.Fields.List {
							if len(field.Names) == 0 {
								found = append(found, "type "+ts.Name.Name+" embeds a type")
							}
						}
					}
				}
			}
		}
	}
	slices.Sort(found)
	return found
}

// TestNoPortImplementedHere: the wiring builds and returns; no type of it
// implements a port (the adapters do, each owning its lazy clients and its
// credentials), so that no call of the service goes through the wiring.
func TestNoPortImplementedHere(t *testing.T) {
	files := parseDir(t, ".")
	ports := portMethods(t, files)
	for _, m := range []string{"InvokeAsync", "HTTPToken", "Key", "Read", "Open", "Put", "PutIf", "Get", "List", "Delete", "Share"} {
		if _, ok := ports[m]; !ok {
			t.Errorf("the ports found have no method %s: the scan misses a port", m)
		}
	}
	if found := portImplementations(files, ports); len(found) > 0 {
		t.Errorf("internal/wiring implements ports: %s", strings.Join(found, "; "))
	}
}

// TestNoPortImplementedHereCatches shows the check failing on the wiring as
// it was: a lazy invoker, a token source and a store that embeds another.
func TestNoPortImplementedHereCatches(t *testing.T) {
	const src = `package wiring

type lambdaInvoker struct{ name string }

func (l *lambdaInvoker) InvokeAsync(ctx context.Context, payload []byte) error { return nil }

type secretToken struct{ c *secrets.Cache }

func (t secretToken) HTTPToken(ctx context.Context) (string, error) { return "", nil }

type lazyStore struct{ storage.Store }

func (l *lambdaInvoker) describe() string { return l.name }
`
	f, err := parser.ParseFile(token.NewFileSet(), "old.go", src, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	ports := portMethods(t, parseDir(t, "."))
	got := strings.Join(portImplementations([]*ast.File{f}, ports), "; ")
	for _, want := range []string{"method HTTPToken", "method InvokeAsync", "type lazyStore embeds a type"} {
		if !strings.Contains(got, want) {
			t.Errorf("the check found %q, not %q", got, want)
		}
	}
	if strings.Contains(got, "describe") {
		t.Errorf("the check flags a method no port has: %q", got)
	}
}
