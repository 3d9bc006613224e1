package descriptors

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/awslabs/goformation/v7"
	"github.com/awslabs/goformation/v7/cloudformation/serverless"
	"gopkg.in/yaml.v3"

	"github.com/removetag/removetag/pkg/adapters/metrics"
)

// root is the repository's top directory.
const root = "../.."

// outputPrefix is the function's default REMOVETAG_OUTPUT_PREFIX; the descriptors set it too.
const outputPrefix = "removetag/"

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// samFunction parses template.yaml with goformation. It reads the YAML itself first:
// the short intrinsic tags (!Ref, !Sub) then stay plain strings (goformation would
// resolve a Ref to a resource as ""), and the properties goformation does not know
// (LoggingConfig, RecursiveLoop, which it refuses) are checked by TestSAMTemplate on
// the raw document instead.
func samFunction(t *testing.T) *serverless.Function {
	t.Helper()
	doc := rawSAM(t)
	props, _ := path(doc, "Resources", "RemoveTagFunction", "Properties").(map[string]any)
	if props == nil {
		t.Fatal("template.yaml has no RemoveTagFunction")
	}
	delete(props, "LoggingConfig")
	delete(props, "RecursiveLoop")
	delete(props, "ReservedConcurrentExecutions") // an !If: TestSAMReservedConcurrency reads it
	resources, _ := path(doc, "Resources").(map[string]any)
	for name, r := range resources {
		if path(r, "Type") == "AWS::CloudWatch::Alarm" {
			delete(resources, name) // their !If actions: TestSAMAlarms reads them
		}
	}

	js, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := goformation.ParseJSON(js)
	if err != nil {
		t.Fatalf("template.yaml: %v", err)
	}
	fns := tmpl.GetAllServerlessFunctionResources()
	if len(fns) != 1 {
		t.Fatalf("template.yaml has %d functions, want 1", len(fns))
	}
	for _, fn := range fns {
		return fn
	}
	return nil
}

// rawSAM parses template.yaml as plain YAML, for what goformation drops.
func rawSAM(t *testing.T) map[string]any {
	t.Helper()
	var doc map[string]any
	// The short intrinsic tags (!Ref, !Sub) are just tagged scalars to yaml.v3.
	if err := yaml.Unmarshal(readFile(t, "template.yaml"), &doc); err != nil {
		t.Fatalf("template.yaml: %v", err)
	}
	return doc
}

func path(m any, keys ...string) any {
	for _, k := range keys {
		mm, ok := m.(map[string]any)
		if !ok {
			return nil
		}
		m = mm[k]
	}
	return m
}

func TestSAMTemplate(t *testing.T) {
	fn := samFunction(t)
	if fn.Runtime == nil || *fn.Runtime != "provided.al2023" {
		t.Errorf("Runtime = %v, want provided.al2023", fn.Runtime)
	}
	if fn.Handler == nil || *fn.Handler != "bootstrap" {
		t.Errorf("Handler = %v, want bootstrap (the Makefile's binary name)", fn.Handler)
	}
	if !slices.Equal(fn.Architectures, []string{"arm64"}) {
		t.Errorf("Architectures = %v, want [arm64] (the Makefile builds GOARCH=arm64)", fn.Architectures)
	}
	if fn.Timeout == nil || *fn.Timeout < 30 || *fn.Timeout > 900 {
		t.Errorf("Timeout = %v, want 30..900 s", fn.Timeout)
	}

	// Every event must carry the typed properties of its type: goformation silently
	// drops an event with an unknown or mistyped property.
	kinds := map[string]int{}
	for name, ev := range fn.Events {
		kinds[ev.Type]++
		p := ev.Properties
		if p == nil {
			t.Fatalf("event %s has no properties", name)
		}
		switch ev.Type {
		case "S3":
			if p.S3Event == nil {
				t.Fatalf("S3 event %s was not understood", name)
			}
			if p.S3Event.Filter == nil || p.S3Event.Filter.S3Key == nil {
				t.Fatalf("S3 event %s has no key filter: it would see the function's own output", name)
			}
			for _, r := range p.S3Event.Filter.S3Key.Rules {
				if strings.EqualFold(r.Name, "prefix") && strings.HasPrefix(outputPrefix, r.Value) {
					t.Errorf("S3 event %s: prefix %q matches the output prefix %q", name, r.Value, outputPrefix)
				}
			}
		case "Schedule":
			if p.ScheduleEvent == nil || p.ScheduleEvent.Schedule == "" {
				t.Fatalf("Schedule event %s was not understood", name)
			}
		case "HttpApi":
			if p.HttpApiEvent == nil || p.HttpApiEvent.Method == nil || *p.HttpApiEvent.Method != "POST" {
				t.Fatalf("HttpApi event %s: want a POST route", name)
			}
		default:
			t.Errorf("event %s: unexpected type %s", name, ev.Type)
		}
	}
	for _, k := range []string{"S3", "Schedule", "HttpApi"} {
		if kinds[k] == 0 {
			t.Errorf("no %s event", k)
		}
	}

	// The shared quota: every instance at the app's full quota, coordinated through
	// the bucket the function reads (the first of REMOVETAG_BUCKETS), at most a few at once.
	vars := fn.Environment.Variables
	if vars["IM_RATE_LIMIT"] != "100" {
		t.Errorf("IM_RATE_LIMIT = %q, want 100: the app's quota, shared by the instances", vars["IM_RATE_LIMIT"])
	}
	if first, _, _ := strings.Cut(vars["REMOVETAG_BUCKETS"], ","); first != "s3://${BucketName}" {
		t.Errorf("REMOVETAG_BUCKETS = %q: the first bucket must be the function's own (it holds the quota leases)", vars["REMOVETAG_BUCKETS"])
	}

	// What goformation drops: logging, recursion, secrets.
	props := path(rawSAM(t), "Resources", "RemoveTagFunction", "Properties")
	if got := path(props, "LoggingConfig", "LogFormat"); got != "JSON" {
		t.Errorf("LoggingConfig.LogFormat = %v, want JSON", got)
	}
	if got := path(props, "RecursiveLoop"); got != "Allow" {
		t.Errorf("RecursiveLoop = %v, want Allow (the continuation chain invokes itself)", got)
	}
	// The secrets are read at run time: no value, and no reference CloudFormation
	// would resolve into the function's configuration.
	env, _ := path(props, "Environment", "Variables").(map[string]any)
	for name, v := range env {
		if s := fmt.Sprint(v); strings.Contains(s, "{{resolve:") || name == "IM_SECRET_KEY" || name == "REMOVETAG_HTTP_TOKEN" {
			t.Errorf("%s = %v: a secret in the function's environment; name the secret in REMOVETAG_SECRET instead", name, v)
		}
	}
	if got := fmt.Sprint(path(env, "REMOVETAG_SECRET")); !strings.Contains(got, "secretsmanager:${SecretName}") {
		t.Errorf("REMOVETAG_SECRET = %s, want secretsmanager:${SecretName}", got)
	}
}

// TestSAMReadsOnlyItsSecret: the role may read its one secret (any of the
// six characters Secrets Manager adds to its ARN), and no other.
func TestSAMReadsOnlyItsSecret(t *testing.T) {
	stmts := samStatements(t)
	sub := strings.NewReplacer("${AWS::Region}", "us-east-1", "${AWS::AccountId}", "123456789012", "${SecretName}", "removetag")
	for i := range stmts {
		for j, r := range stmts[i].resources {
			stmts[i].resources[j] = sub.Replace(r)
		}
	}
	const arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:"
	if !stmts.allow("secretsmanager:GetSecretValue", arn+"removetag-AbC123", "") {
		t.Error("the role may not read its secret")
	}
	for _, other := range []string{arn + "other-AbC123", arn + "removetag-other-AbC123", "arn:aws:secretsmanager:us-east-1:999999999999:secret:removetag-AbC123"} {
		if stmts.allow("secretsmanager:GetSecretValue", other, "") {
			t.Errorf("the role may read %s", other)
		}
	}
	if stmts.allow("secretsmanager:PutSecretValue", arn+"removetag-AbC123", "") {
		t.Error("the role may write its secret")
	}
}

// scf is the part of serverless.yml the tests look at.
type scf struct {
	Component string
	Inputs    struct {
		Src         struct{ Src string }
		Handler     string
		Runtime     string
		Description string
		Timeout     int
		MemorySize  int `yaml:"memorySize"`
		Environment struct{ Variables map[string]string }
		Events      []map[string]struct {
			Parameters struct {
				CronExpression string `yaml:"cronExpression"`
				Enable         bool
				Bucket         string
				Filter         struct{ Prefix, Suffix string }
				Events         string
				// The http trigger (function URL), as tencent-component-toolkit's
				// src/modules/triggers/http.ts reads it: EnableExtranet defaults to false.
				AuthType  string `yaml:"authType"`
				NetConfig struct {
					EnableIntranet bool `yaml:"enableIntranet"`
					EnableExtranet bool `yaml:"enableExtranet"`
				} `yaml:"netConfig"`
			}
		}
	}
}

func scfConfig(t *testing.T) scf {
	t.Helper()
	var c scf
	if err := yaml.Unmarshal(readFile(t, "serverless.yml"), &c); err != nil {
		t.Fatalf("serverless.yml: %v", err)
	}
	return c
}

// scfDescription is what SCF accepts as a function's description: letters,
// digits, spaces, commas, periods and new lines (and Chinese characters).
var scfDescription = regexp.MustCompile(`^[\p{L}\p{N} ,.\n]+$`)

func TestServerlessYML(t *testing.T) {
	c := scfConfig(t)
	in := c.Inputs
	if c.Component != "scf" || in.Runtime != "Go1" || in.Handler != "main" {
		t.Errorf("component %q runtime %q handler %q, want scf, Go1, main", c.Component, in.Runtime, in.Handler)
	}
	if in.Src.Src != "./dist/scf" {
		t.Errorf("src = %q, want ./dist/scf (where `make scf` puts main)", in.Src.Src)
	}
	if in.Timeout < 1 || in.Timeout > 900 || in.MemorySize < 64 {
		t.Errorf("timeout %d memory %d out of range", in.Timeout, in.MemorySize)
	}
	if !scfDescription.MatchString(in.Description) {
		t.Errorf("description %q: SCF takes letters, digits, spaces, commas and periods only", in.Description)
	}
	kinds := map[string]int{}
	for _, ev := range in.Events {
		for kind, e := range ev {
			kinds[kind]++
			p := e.Parameters
			switch kind {
			case "timer":
				if n := len(strings.Fields(p.CronExpression)); n != 7 {
					t.Errorf("timer cron %q has %d fields, want 7", p.CronExpression, n)
				}
				if !p.Enable {
					t.Error("timer trigger not enabled (triggers default to disabled)")
				}
			case "cos":
				if p.Filter.Prefix == "" || strings.HasPrefix(outputPrefix, p.Filter.Prefix) || strings.HasPrefix(p.Filter.Prefix, outputPrefix) {
					t.Errorf("cos prefix %q may match the output prefix %q", p.Filter.Prefix, outputPrefix)
				}
				if p.Events != "cos:ObjectCreated:*" {
					t.Errorf("cos events = %q", p.Events)
				}
				if !p.Enable {
					t.Error("cos trigger not enabled (triggers default to disabled)")
				}
			case "http":
				if !p.NetConfig.EnableExtranet {
					t.Error("http trigger (function URL) without netConfig.enableExtranet: it would have no public address")
				}
				switch p.AuthType {
				case "NONE":
					if in.Environment.Variables["REMOVETAG_HTTP_TOKEN"] == "" && !strings.HasPrefix(in.Environment.Variables["REMOVETAG_SECRET"], "ssm:") {
						t.Error("a function URL open to all (authType NONE) without REMOVETAG_SECRET (holding HTTP_TOKEN) or REMOVETAG_HTTP_TOKEN: the function's own check would be off")
					}
					for _, name := range []string{"IM_SECRET_KEY", "REMOVETAG_HTTP_TOKEN"} {
						if _, ok := in.Environment.Variables[name]; ok {
							t.Errorf("serverless.yml sets %s: a secret in the function's configuration; REMOVETAG_SECRET names the SSM secret holding it", name)
						}
					}
				case "CAM":
				default:
					t.Errorf("http trigger authType %q, want NONE (with the function's bearer token) or CAM", p.AuthType)
				}
			case "apigw":
				t.Error("an apigw trigger: SCF no longer creates API gateway triggers; the HTTP entry is the function URL (http)")
			default:
				t.Errorf("unexpected trigger %s", kind)
			}
		}
	}
	for _, k := range []string{"http", "timer", "cos"} {
		if kinds[k] == 0 {
			t.Errorf("no %s trigger", k)
		}
	}
	if kinds["http"] > 1 {
		t.Errorf("%d http triggers: a function version has one function URL", kinds["http"])
	}
	for name := range in.Environment.Variables {
		for _, reserved := range []string{"SCF_", "QCLOUD_", "TENCENTCLOUD_"} {
			if strings.HasPrefix(name, reserved) {
				t.Errorf("environment variable %s: the prefix %s is SCF's own", name, reserved)
			}
		}
	}
	vars := in.Environment.Variables
	if vars["REMOVETAG_BUCKETS"] == "" {
		t.Error("REMOVETAG_BUCKETS is not set: the sweep would find no checkpoints")
	}
	// The shared quota: every instance at the app's full quota, coordinated through
	// the bucket the COS triggers watch (the first of REMOVETAG_BUCKETS).
	if vars["IM_RATE_LIMIT"] != "100" {
		t.Errorf("IM_RATE_LIMIT = %q, want 100: the app's quota, shared by the instances", vars["IM_RATE_LIMIT"])
	}
	first, _, _ := strings.Cut(vars["REMOVETAG_BUCKETS"], ",")
	for _, ev := range in.Events {
		if cos, ok := ev["cos"]; ok && "cos://"+strings.Split(cos.Parameters.Bucket, ".cos.")[0] != first {
			t.Errorf("REMOVETAG_BUCKETS starts with %q, the COS trigger watches %q: the leases belong in the function's own bucket", first, cos.Parameters.Bucket)
		}
	}
}

// TestSAMReservedConcurrency: no reservation by default (a new AWS account,
// whose quota is below the 100 Lambda keeps unreserved, could not deploy
// one), an optional one through the ReservedConcurrency parameter, 2 to 10
// where it is set (the instances share the quota), and the README says so.
func TestSAMReservedConcurrency(t *testing.T) {
	doc := rawSAM(t)
	param, _ := path(doc, "Parameters", "ReservedConcurrency").(map[string]any)
	if param == nil || param["Default"] != "" {
		t.Fatalf("parameter ReservedConcurrency %v: want one, empty by default", param)
	}
	re := regexp.MustCompile(fmt.Sprint(param["AllowedPattern"]))
	for v, ok := range map[string]bool{"": true, "4": true, "10": true, "0": false, "-1": false, "four": false, "4.5": false} {
		if re.MatchString(v) != ok {
			t.Errorf("ReservedConcurrency %q: accepted %v, want %v", v, !ok, ok)
		}
	}
	got := path(doc, "Resources", "RemoveTagFunction", "Properties", "ReservedConcurrentExecutions")
	want := []any{"HasReservedConcurrency", "ReservedConcurrency", "AWS::NoValue"}
	if l, ok := got.([]any); !ok || len(l) != 3 || fmt.Sprint(l) != fmt.Sprint(want) {
		t.Errorf("ReservedConcurrentExecutions = %v, want !If %v", got, want)
	}
	cond := fmt.Sprint(path(doc, "Conditions", "HasReservedConcurrency"))
	if !strings.Contains(cond, "ReservedConcurrency") {
		t.Errorf("condition HasReservedConcurrency = %s", cond)
	}
	readme := string(readFile(t, "README.md"))
	for _, w := range []string{"ReservedConcurrency=4", "minus 100", "New AWS accounts have reduced concurrency"} {
		if !strings.Contains(readme, w) {
			t.Errorf("README.md does not say %q", w)
		}
	}
}

// TestSAMAlarms: the alarms on failed records and on jobs left for the sweep
// are off by default (the Alarms parameter, behind the AlarmsOn condition),
// read metrics the function writes, in the namespace it writes them to, by a
// dimension set it writes, and notify a topic only when one is given.
func TestSAMAlarms(t *testing.T) {
	doc := rawSAM(t)
	param, _ := path(doc, "Parameters", "Alarms").(map[string]any)
	if param == nil || param["Default"] != "false" || fmt.Sprint(param["AllowedValues"]) != "[true false]" {
		t.Fatalf("parameter Alarms %v: want 'true' or 'false', 'false' by default", param)
	}
	if got := fmt.Sprint(path(doc, "Conditions", "AlarmsOn")); got != "[Alarms true]" {
		t.Errorf("condition AlarmsOn = %s, want !Equals [!Ref Alarms, 'true']", got)
	}
	if got := fmt.Sprint(path(doc, "Conditions", "AlarmsNotify")); !strings.Contains(got, "AlarmsOn") || !strings.Contains(got, "AlarmTopicArn") {
		t.Errorf("condition AlarmsNotify = %s: want AlarmsOn and a topic", got)
	}
	ns, _ := path(doc, "Parameters", "MetricsNamespace").(map[string]any)
	if ns == nil || ns["Default"] != metrics.DefaultNamespace {
		t.Fatalf("parameter MetricsNamespace %v: want one, %q by default", ns, metrics.DefaultNamespace)
	}
	if got := path(doc, "Resources", "RemoveTagFunction", "Properties", "Environment", "Variables", "REMOVETAG_METRICS_NAMESPACE"); got != "MetricsNamespace" {
		t.Errorf("REMOVETAG_METRICS_NAMESPACE = %v, want !Ref MetricsNamespace", got)
	}
	// The parameter never accepts what the function refuses (it refuses less).
	re := regexp.MustCompile(fmt.Sprint(ns["AllowedPattern"]))
	for v, accept := range map[string]bool{"RemoveTag": true, "A": true, "AW": true, "AWS": true, "AWSome/jobs": true, "AWx/y": true,
		"Acme/Chat jobs#1:prod": true, strings.Repeat("n", 255): true, "aws/lower": true,
		"AWS/Lambda": false, "": false, " lead": false, "tab\there": false, "jobs{1}": false, strings.Repeat("n", 256): false} {
		if re.MatchString(v) != accept {
			t.Errorf("MetricsNamespace %q: accepted %v, want %v", v, !accept, accept)
		}
		if re.MatchString(v) && metrics.CheckNamespace(v) != nil {
			t.Errorf("MetricsNamespace %q: the template accepts it, the function refuses it: %v", v, metrics.CheckNamespace(v))
		}
	}

	written := map[string]bool{}
	for _, m := range metrics.Metrics() {
		written[m.Name] = m.Scope == metrics.ScopeInvocation
	}
	alarmed := map[string]bool{}
	for name, r := range path(doc, "Resources").(map[string]any) {
		if path(r, "Type") != "AWS::CloudWatch::Alarm" {
			continue
		}
		p := path(r, "Properties")
		metric := fmt.Sprint(path(p, "MetricName"))
		alarmed[metric] = true
		if path(r, "Condition") != "AlarmsOn" {
			t.Errorf("alarm %s is not behind the AlarmsOn condition", name)
		}
		if !written[metric] {
			t.Errorf("alarm %s reads %s, which the function writes in no invocation record", name, metric)
		}
		if path(p, "Namespace") != "MetricsNamespace" {
			t.Errorf("alarm %s: namespace %v, want !Ref MetricsNamespace", name, path(p, "Namespace"))
		}
		dims, _ := path(p, "Dimensions").([]any)
		var keys []string
		for _, d := range dims {
			keys = append(keys, fmt.Sprint(path(d, "Name")))
			if path(d, "Name") == "FunctionName" && path(d, "Value") != "RemoveTagFunction" {
				t.Errorf("alarm %s: FunctionName %v, want !Ref RemoveTagFunction", name, path(d, "Value"))
			}
		}
		if !slices.ContainsFunc(metrics.DimensionSets(), func(set []string) bool { return slices.Equal(set, keys) }) {
			t.Errorf("alarm %s: dimensions %v, a set the function does not write (%v)", name, keys, metrics.DimensionSets())
		}
		if path(p, "Statistic") != "Sum" || path(p, "ComparisonOperator") != "GreaterThanThreshold" || fmt.Sprint(path(p, "Threshold")) != "0" ||
			path(p, "TreatMissingData") != "notBreaching" {
			t.Errorf("alarm %s: want the Sum above 0, missing data not breaching: %v", name, p)
		}
		if got := fmt.Sprint(path(p, "AlarmActions")); got != "[AlarmsNotify [AlarmTopicArn] AWS::NoValue]" {
			t.Errorf("alarm %s: actions %s, want !If [AlarmsNotify, [!Ref AlarmTopicArn], !Ref AWS::NoValue]", name, got)
		}
	}
	for _, m := range []string{"RecordsFailed", "JobsLeftForSweep"} {
		if !alarmed[m] {
			t.Errorf("no alarm on %s", m)
		}
	}
}

// TestMetricsDocumented: the README names every metric the function writes,
// and the SCF descriptor uses the namespace the template defaults to.
func TestMetricsDocumented(t *testing.T) {
	var names []string
	for _, m := range metrics.Metrics() {
		names = append(names, m.Name)
	}
	for _, n := range undocumented(t, names) {
		t.Errorf("metric %s is not documented in README.md", n)
	}
	if got := scfConfig(t).Inputs.Environment.Variables["REMOVETAG_METRICS_NAMESPACE"]; got != metrics.DefaultNamespace {
		t.Errorf("serverless.yml: REMOVETAG_METRICS_NAMESPACE = %q, want %q as on Lambda", got, metrics.DefaultNamespace)
	}
}

// TestSAMNightlySourceReadable: the template accepts a NightlySource only
// where the role may read it as a source (incoming/ of the bucket, not the
// function's own output), and refuses the rest.
func TestSAMNightlySourceReadable(t *testing.T) {
	doc := rawSAM(t)
	pattern := fmt.Sprint(path(doc, "Parameters", "NightlySource", "AllowedPattern"))
	re, err := regexp.Compile(pattern)
	if err != nil {
		t.Fatalf("NightlySource AllowedPattern %q: %v", pattern, err)
	}
	stmts := samStatements(t)
	for _, v := range []string{"", "s3://my-bucket/incoming/accounts.csv", "s3://my-bucket/incoming/nightly/a.jsonl.gz",
		"s3://my-bucket/accounts.csv", "s3://my-bucket/removetag/failed/a.jsonl", "s3://my-bucket/nightly/incoming/a.csv", "cos://x-1250000000/incoming/a.csv"} {
		key, readable := strings.CutPrefix(v, "s3://my-bucket/")
		// The function's own output is readable, but never processed as a source.
		readable = readable && stmts.allow("s3:GetObject", "arn:aws:s3:::my-bucket/"+key, "") && !strings.HasPrefix(key, outputPrefix)
		if accepted := re.MatchString(v); accepted != (v == "" || readable) {
			t.Errorf("NightlySource %q: accepted %v, but the role can read it as a source: %v", v, accepted, readable)
		}
	}
}

// TestSAMBuildTargetNeedsSAM: `make build-RemoveTagFunction` without SAM's
// ARTIFACTS_DIR refuses, writing nothing (it would write /bootstrap); with
// it, it builds there.
func TestSAMBuildTargetNeedsSAM(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make:", err)
	}
	makefile, err := filepath.Abs(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("make", "-s", "-f", makefile, "build-RemoveTagFunction")
	cmd.Dir, cmd.Env = t.TempDir(), []string{"PATH=" + os.Getenv("PATH"), "GO=false"}
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "ARTIFACTS_DIR is not set") || !strings.Contains(string(out), "make lambda") {
		t.Errorf("without ARTIFACTS_DIR: %v, %q; want a refusal pointing at make lambda", err, out)
	}
	dir := t.TempDir()
	cmd = exec.Command("make", "-n", "-f", makefile, "build-RemoveTagFunction", "ARTIFACTS_DIR="+dir)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	out, err = cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "-o "+dir+"/bootstrap ./functions/removetag") {
		t.Errorf("with ARTIFACTS_DIR: %v, %q", err, out)
	}
}

// TestREADMEDeploySteps: the Lambda steps define every shell variable they
// use, answer sam deploy --guided's question about the unauthenticated route,
// and say how to install the command-line tool and which Go it needs.
func TestREADMEDeploySteps(t *testing.T) {
	readme := string(readFile(t, "README.md"))
	start := strings.Index(readme, "### AWS Lambda (SAM)")
	end := strings.Index(readme, "## Troubleshooting")
	if start < 0 || end < start {
		t.Fatal("README.md has no AWS Lambda (SAM) section")
	}
	aws := readme[start:end]
	defined := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)\b([A-Z][A-Z0-9_]*)=\$\(`).FindAllStringSubmatch(aws, -1) {
		defined[m[1]] = true
	}
	for _, m := range regexp.MustCompile(`\$\{?([A-Z][A-Z0-9_]*)`).FindAllStringSubmatch(aws, -1) {
		if !defined[m[1]] && m[1] != "HTTP_TOKEN" {
			t.Errorf("the Lambda steps use $%s without defining it", m[1])
		}
	}
	if !strings.Contains(aws, "OutputKey=='Bucket'") {
		t.Error("the Lambda steps do not read the bucket from the stack's outputs")
	}
	for _, w := range []string{"has no authentication. Is this okay? [y/N]", "**`y`**", "Security Constraints Not Satisfied!", "Allow SAM CLI IAM role creation"} {
		if !strings.Contains(aws, w) {
			t.Errorf("the Lambda steps do not say %q", w)
		}
	}
	gomod := string(readFile(t, "go.mod"))
	goVersion := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindStringSubmatch(gomod)
	if goVersion == nil || !strings.Contains(readme, "Go "+goVersion[1]+" or later") {
		t.Errorf("README.md does not state the Go version go.mod needs (%v)", goVersion)
	}
	if !strings.Contains(readme, "go install ./cmd/removetag") {
		t.Error("README.md does not say how to install the command-line tool")
	}
}

// TestSAMLeastPrivilege holds the function's role to what it needs: read the
// input, and read, write, delete and list only under the output prefix, which
// holds the quota leases.
func TestSAMLeastPrivilege(t *testing.T) {
	stmts := samStatements(t)
	const bucket = "arn:aws:s3:::my-bucket"
	allowed := []struct{ action, resource, prefix string }{
		{"s3:GetObject", bucket + "/incoming/accounts.csv", ""},
		{"s3:PutObject", bucket + "/" + outputPrefix + "quota/0123456789abcdef.json", ""},
		{"s3:GetObject", bucket + "/" + outputPrefix + "quota/0123456789abcdef.json", ""},
		{"s3:DeleteObject", bucket + "/" + outputPrefix + "quota/0123456789abcdef.json", ""},
		{"s3:ListBucket", bucket, outputPrefix + "quota/"},
		{"s3:ListBucket", bucket, outputPrefix + "state/"},
		{"s3:PutObject", bucket + "/" + outputPrefix + "reports/incoming/a.csv.report.json", ""},
	}
	for _, a := range allowed {
		if !stmts.allow(a.action, a.resource, a.prefix) {
			t.Errorf("the role may not %s %s (prefix %q): the function needs it", a.action, a.resource, a.prefix)
		}
	}
	denied := []struct{ action, resource, prefix string }{
		{"s3:PutObject", bucket + "/incoming/accounts.csv", ""},
		{"s3:PutObject", bucket + "/quota/x.json", ""},
		{"s3:DeleteObject", bucket + "/incoming/accounts.csv", ""},
		{"s3:DeleteObject", bucket + "/elsewhere", ""},
		{"s3:ListBucket", bucket, ""},
		{"s3:ListBucket", bucket, "incoming/"},
		{"s3:DeleteBucket", bucket, ""},
		{"s3:PutObject", "arn:aws:s3:::other-bucket/" + outputPrefix + "quota/x.json", ""},
	}
	for _, d := range denied {
		if stmts.allow(d.action, d.resource, d.prefix) {
			t.Errorf("the role may %s %s (prefix %q): more than the function needs", d.action, d.resource, d.prefix)
		}
	}
}

// statement is an IAM policy statement of the template, its intrinsics
// resolved for the bucket my-bucket.
type statement struct {
	actions, resources, prefixes []string // prefixes: the s3:prefix StringLike condition, if any
	conditioned                  bool
}

type statements []statement

// samStatements reads the inline policy statements of the function's role.
func samStatements(t *testing.T) statements {
	t.Helper()
	pols, _ := path(rawSAM(t), "Resources", "RemoveTagFunction", "Properties", "Policies").([]any)
	sub := strings.NewReplacer("${AWS::Partition}", "aws", "${BucketName}", "my-bucket")
	var out statements
	for _, p := range pols {
		list, _ := path(p, "Statement").([]any)
		for _, raw := range list {
			if path(raw, "Effect") != "Allow" {
				continue
			}
			var s statement
			s.actions = strs(path(raw, "Action"))
			for _, r := range strs(path(raw, "Resource")) {
				s.resources = append(s.resources, sub.Replace(r))
			}
			if c := path(raw, "Condition"); c != nil {
				s.conditioned = true
				s.prefixes = strs(path(c, "StringLike", "s3:prefix"))
			}
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		t.Fatal("template.yaml: the function has no policy statements")
	}
	return out
}

// strs reads a YAML string or list of strings.
func strs(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, x := range v {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// allow reports whether a statement allows action on resource; prefix is the
// s3:prefix of a listing.
func (ss statements) allow(action, resource, prefix string) bool {
	for _, s := range ss {
		if !slices.ContainsFunc(s.actions, func(a string) bool { return glob(a, action) }) ||
			!slices.ContainsFunc(s.resources, func(r string) bool { return glob(r, resource) }) {
			continue
		}
		if !s.conditioned || slices.ContainsFunc(s.prefixes, func(p string) bool { return glob(p, prefix) }) {
			return true
		}
	}
	return false
}

// glob matches s against an IAM pattern, where * is any run of characters and
// ? one character.
func glob(pattern, s string) bool {
	if pattern == "" {
		return s == ""
	}
	switch pattern[0] {
	case '*':
		for i := 0; i <= len(s); i++ {
			if glob(pattern[1:], s[i:]) {
				return true
			}
		}
		return false
	case '?':
		return s != "" && glob(pattern[1:], s[1:])
	}
	return s != "" && s[0] == pattern[0] && glob(pattern[1:], s[1:])
}

// undocumented returns the names that README.md does not mention in backquotes.
func undocumented(t *testing.T, names []string) []string {
	readme := string(readFile(t, "README.md"))
	var missing []string
	for _, n := range names {
		if !strings.Contains(readme, "`"+n+"`") {
			missing = append(missing, n)
		}
	}
	return missing
}

// scfEnvVars lists the ${env:NAME} variables serverless.yml reads.
func scfEnvVars(t *testing.T) []string {
	t.Helper()
	seen := map[string]bool{}
	for _, m := range regexp.MustCompile(`\$\{env:([A-Za-z0-9_]+)\}`).FindAllStringSubmatch(string(readFile(t, "serverless.yml")), -1) {
		seen[m[1]] = true
	}
	return slices.Sorted(maps.Keys(seen))
}

// TestServerlessEnvChecked holds every ${env:NAME} of serverless.yml to the
// README (documented) and to `make deploy-scf` (checked before the deploy).
func TestServerlessEnvChecked(t *testing.T) {
	vars := scfEnvVars(t)
	if len(vars) < 5 {
		t.Fatalf("serverless.yml reads only %v", vars)
	}
	for _, v := range undocumented(t, vars) {
		t.Errorf("serverless.yml reads ${env:%s}, which README.md does not document", v)
	}
	m := regexp.MustCompile(`(?m)^SCF_DEPLOY_VARS\s*:=\s*(.*)$`).FindStringSubmatch(string(readFile(t, "Makefile")))
	if m == nil {
		t.Fatal("the Makefile has no SCF_DEPLOY_VARS")
	}
	if checked := slices.Sorted(slices.Values(strings.Fields(m[1]))); !slices.Equal(checked, vars) {
		t.Errorf("make deploy-scf checks %v; serverless.yml reads %v", checked, vars)
	}
	if !regexp.MustCompile(`(?m)^deploy-scf:\s*check-scf-env\b`).MatchString(string(readFile(t, "Makefile"))) {
		t.Error("deploy-scf does not run check-scf-env first")
	}

	// The check itself, run by make in an empty folder (no .env) and an
	// environment holding nothing but PATH and the variables given.
	makefile, err := filepath.Abs(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	check := func(set map[string]string) (string, error) {
		cmd := exec.Command("make", "-s", "-f", makefile, "check-scf-env")
		cmd.Dir = t.TempDir()
		cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
		for k, v := range set {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make:", err)
	}
	all := map[string]string{}
	for _, v := range vars {
		all[v] = "value-of-" + v
	}
	if out, err := check(all); err != nil {
		t.Errorf("every variable set: check-scf-env failed: %v\n%s", err, out)
	}
	for _, missing := range vars {
		some := maps.Clone(all)
		delete(some, missing)
		out, err := check(some)
		if err == nil || !strings.Contains(out, "not set: "+missing+" ") {
			t.Errorf("%s unset: check-scf-env gave %v, %q; want a failure naming it alone", missing, err, out)
		}
		for v, value := range some {
			if strings.Contains(out, value) {
				t.Errorf("check-scf-env printed the value of %s", v)
			}
		}
	}
	if out, err := check(nil); err == nil || !strings.Contains(out, "not set: "+strings.Join(strings.Fields(m[1]), " ")+" ") {
		t.Errorf("nothing set: check-scf-env gave %v, %q; want a failure naming every variable", err, out)
	}
}

func TestMakefilePackaging(t *testing.T) {
	mk := string(readFile(t, "Makefile"))
	for _, want := range []string{
		"GOOS=linux GOARCH=amd64 $(BUILD) -o dist/scf/main ./functions/removetag",
		"GOOS=linux GOARCH=arm64 $(BUILD) -tags lambda.norpc -o dist/lambda/bootstrap ./functions/removetag",
		"CGO_ENABLED=0", "-trimpath", "-s -w",
	} {
		if !strings.Contains(mk, want) {
			t.Errorf("Makefile lacks %q", want)
		}
	}
}

// envRead lists the variables the code reads: the string literals of our own
// prefixes (and SCF_NAMESPACE) in non-test Go files.
func envRead(t *testing.T) []string {
	t.Helper()
	re := regexp.MustCompile(`"((?:IM|REMOVETAG)_[A-Z0-9_]+|SCF_NAMESPACE)"`)
	seen := map[string]bool{}
	for _, dir := range []string{"pkg", "internal", "functions", "cmd"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") || strings.Contains(p, "test/") {
				return err
			}
			b, err := os.ReadFile(p)
			for _, m := range re.FindAllSubmatch(b, -1) {
				seen[string(m[1])] = true
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	for n := range seen {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func TestEnvironmentDocumentedAndUsed(t *testing.T) {
	used := envRead(t)
	if len(used) < 8 {
		t.Fatalf("found only %v read by the code", used)
	}
	for _, v := range undocumented(t, used) {
		t.Errorf("%s is read by the code but not documented in README.md", v)
	}
	set := map[string]string{}
	for k := range scfConfig(t).Inputs.Environment.Variables {
		set[k] = "serverless.yml"
	}
	for k := range samFunction(t).Environment.Variables {
		set[k] = "template.yaml"
	}
	for k, where := range set {
		if !slices.Contains(used, k) {
			t.Errorf("%s sets %s, which the code never reads", where, k)
		}
	}
}

// TestSampleEventsDocumented holds the README's table of sample events to
// examples/events: each sample is listed with the source of its shape.
func TestSampleEventsDocumented(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(root, "examples", "events", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("sample events: %v %v", files, err)
	}
	readme := string(readFile(t, "README.md"))
	for _, f := range files {
		name := filepath.Base(f)
		if !regexp.MustCompile(`(?m)^\|[^\n]*` + "`" + regexp.QuoteMeta(name) + "`" + `[^\n]*\|[^|\n]+\|$`).MatchString(readme) {
			t.Errorf("examples/events/%s is not in the README's table of sample events", name)
		}
	}
}
