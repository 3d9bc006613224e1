package metricstest_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/removetag/removetag/pkg/adapters/metrics/metricstest"
)

var now = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

// valid is a document as the specification's example has it (a namespace,
// one dimension set, one metric in milliseconds), with the time of now.
var valid = fmt.Sprintf(`{"_aws":{"Timestamp":%d,"CloudWatchMetrics":[{"Namespace":"lambda-function-metrics",`+
	`"Dimensions":[["functionVersion"]],"Metrics":[{"Name":"time","Unit":"Milliseconds"}]}]},`+
	`"functionVersion":"$LATEST","time":100,"requestId":"989ffbf8-9ace-4817-a57c-e4dd734019ee"}`, now.UnixMilli())

// TestParseEMF: a valid document is read; each rule of the specification
// refuses a document that breaks it.
func TestParseEMF(t *testing.T) {
	r, err := metricstest.ParseEMF([]byte(valid), now)
	if err != nil {
		t.Fatal(err)
	}
	if r.Namespace != "lambda-function-metrics" || r.Values["time"] != 100 || r.Texts["functionVersion"] != "$LATEST" || r.Units["time"] != "Milliseconds" {
		t.Errorf("read %+v", r)
	}
	ms := fmt.Sprint(now.UnixMilli())
	many := func(n int, f func(i int) string) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = f(i)
		}
		return strings.Join(parts, ",")
	}
	bad := map[string]string{
		"not JSON":             `{"_aws":`,
		"data after":           valid + ` {}`,
		"text before":          `INFO ` + valid,
		"an array":             `[` + valid + `]`,
		"no _aws":              `{"time":100}`,
		"no Timestamp":         `{"_aws":{"CloudWatchMetrics":[]},"time":1}`,
		"Timestamp seconds":    strings.Replace(valid, ms, fmt.Sprint(now.Unix()), 1),
		"Timestamp fraction":   strings.Replace(valid, ms, ms+".5", 1),
		"Timestamp string":     strings.Replace(valid, ms, `"`+ms+`"`, 1),
		"Timestamp future":     strings.Replace(valid, ms, fmt.Sprint(now.Add(3*time.Hour).UnixMilli()), 1),
		"no directives":        fmt.Sprintf(`{"_aws":{"Timestamp":%s,"CloudWatchMetrics":[]},"time":1}`, ms),
		"extra _aws member":    strings.Replace(valid, `"_aws":{`, `"_aws":{"Other":1,`, 1),
		"no Namespace":         strings.Replace(valid, `"Namespace":"lambda-function-metrics",`, ``, 1),
		"empty Namespace":      strings.Replace(valid, `"lambda-function-metrics"`, `""`, 1),
		"no Dimensions":        strings.Replace(valid, `"Dimensions":[["functionVersion"]],`, ``, 1),
		"empty Dimensions":     strings.Replace(valid, `[["functionVersion"]]`, `[]`, 1),
		"extra member":         strings.Replace(valid, `"Namespace":`, `"Region":"x","Namespace":`, 1),
		"dimension absent":     strings.Replace(valid, `"functionVersion":"$LATEST",`, ``, 1),
		"dimension number":     strings.Replace(valid, `"functionVersion":"$LATEST"`, `"functionVersion":1`, 1),
		"dimension empty":      strings.Replace(valid, `"functionVersion":"$LATEST"`, `"functionVersion":""`, 1),
		"dimension nested":     strings.Replace(strings.Replace(valid, `"functionVersion":"$LATEST"`, `"f":{"v":"$LATEST"}`, 1), `["functionVersion"]`, `["f.v"]`, 1),
		"31 dimensions":        strings.Replace(valid, `[["functionVersion"]]`, `[[`+many(31, func(i int) string { return `"functionVersion"` })+`]]`, 1),
		"metric absent":        strings.Replace(valid, `"time":100,`, ``, 1),
		"metric text":          strings.Replace(valid, `"time":100`, `"time":"100"`, 1),
		"metric null":          strings.Replace(valid, `"time":100`, `"time":null`, 1),
		"101 values":           strings.Replace(valid, `"time":100`, `"time":[`+many(101, func(i int) string { return "1" })+`]`, 1),
		"unknown unit":         strings.Replace(valid, `"Milliseconds"`, `"Millis"`, 1),
		"no Name":              strings.Replace(valid, `"Name":"time",`, ``, 1),
		"metric defined twice": strings.Replace(valid, `{"Name":"time","Unit":"Milliseconds"}`, `{"Name":"time"},{"Name":"time"}`, 1),
		"StorageResolution 5":  strings.Replace(valid, `"Unit":"Milliseconds"`, `"Unit":"Milliseconds","StorageResolution":5`, 1),
		"101 metrics": strings.Replace(strings.Replace(valid, `[{"Name":"time","Unit":"Milliseconds"}]`,
			`[`+many(101, func(i int) string { return fmt.Sprintf(`{"Name":"m%d"}`, i) })+`]`, 1),
			`"time":100`, many(101, func(i int) string { return fmt.Sprintf(`"m%d":1`, i) }), 1),
		"too large": strings.Replace(valid, `"requestId":"`, `"requestId":"`+strings.Repeat("x", metricstest.MaxDocumentBytes), 1),
	}
	for name, doc := range bad {
		if _, err := metricstest.ParseEMF([]byte(doc), now); err == nil {
			t.Errorf("%s: accepted %.200s", name, doc)
		} else {
			t.Logf("%s: %.160v", name, err)
		}
	}
	// 30 dimensions and 100 values are allowed.
	ok := strings.Replace(strings.Replace(valid, `[["functionVersion"]]`, `[[`+many(30, func(i int) string { return `"functionVersion"` })+`]]`, 1),
		`"time":100`, `"time":[`+many(100, func(i int) string { return "1" })+`]`, 1)
	if _, err := metricstest.ParseEMF([]byte(ok), now); err != nil {
		t.Errorf("30 dimensions, 100 values: %v", err)
	}
}

// TestParseCLS: a flat line is read; a nested member, a missing field or
// another message is refused.
func TestParseCLS(t *testing.T) {
	line := `{"time":"2026-12-01T10:00:00Z","level":"INFO","msg":"metrics","Namespace":"RemoveTag","FunctionName":"f","Trigger":"cos","Scope":"invocation","Calls":3}`
	r, err := metricstest.ParseCLS([]byte(line))
	if err != nil || r.Values["Calls"] != 3 || r.Scope() != "invocation" {
		t.Fatalf("%v %+v", err, r)
	}
	for name, l := range map[string]string{
		"nested":     strings.Replace(line, `"Calls":3`, `"Calls":{"n":3}`, 1),
		"boolean":    strings.Replace(line, `"Calls":3`, `"Calls":true`, 1),
		"no scope":   strings.Replace(line, `"Scope":"invocation",`, ``, 1),
		"other msg":  strings.Replace(line, `"msg":"metrics"`, `"msg":"invocation"`, 1),
		"bad time":   strings.Replace(line, `2026-12-01T10:00:00Z`, `yesterday`, 1),
		"data after": line + `x`,
	} {
		if _, err := metricstest.ParseCLS([]byte(l)); err == nil {
			t.Errorf("%s: accepted %s", name, l)
		}
	}
}
