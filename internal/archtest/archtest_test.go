package archtest

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/removetag/removetag"

// signingLibrary is the one third-party package pkg/imapi may use: Tencent's
// UserSig signer (TLSSigAPIv2), a pure computation with no platform in it.
const signingLibrary = "github.com/tencentyun/tls-sig-api-v2-golang/tencentyun"

// inflate reports whether dep is of klauspost/compress, the records' gzip
// (a drop-in for compress/gzip with a faster inflate): an algorithm, no
// platform, that pkg/records and whatever imports it may use.
func inflate(dep string) bool { return strings.HasPrefix(dep, "github.com/klauspost/compress/") }

// rule says which packages the (non-test) dependencies of pkgs must not include.
type rule struct {
	name      string
	pkgs      []string
	forbidden func(dep string) bool
}

var rules = []rule{
	{
		name: "the job service depends on no adapter",
		pkgs: []string{module + "/pkg/job/..."},
		forbidden: func(dep string) bool {
			return dep == module+"/pkg/adapters" || strings.HasPrefix(dep, module+"/pkg/adapters/")
		},
	},
	{
		name: "the driven adapters depend on the ports only, not on the service or the driving side",
		pkgs: []string{module + "/pkg/adapters/objstore/...", module + "/pkg/adapters/invoke/...", module + "/pkg/adapters/secrets/..."},
		forbidden: func(dep string) bool {
			return dep == module+"/pkg/job" || within(dep, "/pkg/adapters/trigger", "/pkg/adapters/scf",
				"/pkg/adapters/awslambda", "/internal/wiring")
		},
	},
	{
		name:      "the shared quota depends on no adapter and not on the service",
		pkgs:      []string{module + "/pkg/quota/..."},
		forbidden: func(dep string) bool { return within(dep, "/pkg/adapters", "/pkg/job", "/internal") },
	},
	{
		name: "the IM core depends on no platform, SDK or storage package",
		pkgs: []string{module + "/pkg/imapi"},
		forbidden: func(dep string) bool {
			if strings.HasPrefix(dep, module+"/") {
				return !within(dep, "/pkg/imapi", "/pkg/records")
			}
			return dep != signingLibrary && !inflate(dep)
		},
	},
	{
		name: "the metrics depend on no platform library or SDK: they write text, the platforms read it",
		pkgs: []string{module + "/pkg/adapters/metrics/..."},
		forbidden: func(dep string) bool {
			if strings.HasPrefix(dep, module+"/") {
				return within(dep, "/internal/wiring", "/pkg/adapters/scf", "/pkg/adapters/awslambda", "/pkg/adapters/objstore", "/pkg/adapters/invoke", "/pkg/adapters/secrets")
			}
			return dep != signingLibrary && !inflate(dep)
		},
	},
	{
		name: "the records depend on the standard library and one inflate only: not on the IM client, a platform, an SDK or storage",
		pkgs: []string{module + "/pkg/records"},
		// nonStandardDeps lists the package itself: anything else but
		// klauspost/compress (gzip, a drop-in for compress/gzip, and what it
		// imports of its own module) is forbidden.
		forbidden: func(dep string) bool {
			return dep != module+"/pkg/records" && !inflate(dep)
		},
	},
}

// within reports whether dep is one of the module's packages at the given
// paths ("/pkg/job") or below them.
func within(dep string, paths ...string) bool {
	for _, p := range paths {
		if dep == module+p || strings.HasPrefix(dep, module+p+"/") {
			return true
		}
	}
	return false
}

// nonStandardDeps lists the packages pkgs import, directly or not, outside the
// standard library (the packages themselves included), without test files.
func nonStandardDeps(t *testing.T, pkgs ...string) []string {
	t.Helper()
	args := append([]string{"list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}"}, pkgs...)
	out, err := exec.Command("go", args...).Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("go list -deps %s: %v\n%s", pkgs, err, ee.Stderr)
		}
		t.Fatalf("go list -deps %s: %v", pkgs, err)
	}
	return strings.Fields(string(out))
}

func TestDependencies(t *testing.T) {
	for _, r := range rules {
		t.Run(r.name, func(t *testing.T) {
			deps := nonStandardDeps(t, r.pkgs...)
			if len(deps) == 0 {
				t.Fatalf("go list -deps %s named no package", r.pkgs)
			}
			for _, d := range deps {
				if r.forbidden(d) {
					t.Errorf("%s depends on %s", r.pkgs, d)
				}
			}
		})
	}
}

// TestRulesCatch shows that each rule would fail on a package that breaks it:
// the wiring depends on the adapters, the SDKs and the job service.
func TestRulesCatch(t *testing.T) {
	deps := nonStandardDeps(t, module+"/functions/removetag")
	for _, r := range rules {
		if !slices.ContainsFunc(deps, r.forbidden) {
			t.Errorf("rule %q finds nothing forbidden in the function's dependencies", r.name)
		}
	}
}
