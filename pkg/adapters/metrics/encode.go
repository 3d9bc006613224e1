package metrics

import (
	"encoding/json"
	"strconv"
	"time"
)

// The encodings of a record, one line each, written by hand so that the
// members keep their order (and the EMF metadata comes first).

// maxMetricsPerDirective is the most MetricDefinitions one MetricDirective
// may hold: a record with more would get more directives.
//
// The figures follow "Specification: Embedded metric format", Amazon
// CloudWatch User Guide
// (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html,
// looked up 1 December 2026): the root node holds _aws, an object with
// Timestamp (milliseconds since the epoch) and CloudWatchMetrics, an array
// of MetricDirectives, each with Namespace, Dimensions (an array of
// DimensionSets, arrays of at most 30 dimension keys, 9 before 2022) and
// Metrics (at most 100 MetricDefinitions, each a Name and an optional
// Unit); every name a directive references is a member of the root node,
// a dimension's a string, a metric's a number (or an array of at most 100).
// On Lambda, a document written alone on a line of standard output is
// enough; with the function's log format JSON (template.yaml's LoggingConfig)
// too: Lambda does not encode again a line that is JSON already, and on an
// OS-only runtime (provided.al2023) it leaves the function's own lines as
// they are ("Configuring JSON and plain text log formats", AWS Lambda
// Developer Guide, looked up 1 December 2026).
const maxMetricsPerDirective = 100

// dimensionSets are the dimensions every metric is published with: by
// function and trigger, and by function alone (so that an alarm on a whole
// function need not name the triggers).
var dimensionSets = [][]string{{"FunctionName", "Trigger"}, {"FunctionName"}}

// DimensionSets returns the dimension sets every metric is published with
// (an alarm names one of them).
func DimensionSets() [][]string {
	out := make([][]string, len(dimensionSets))
	for i, set := range dimensionSets {
		out[i] = append([]string(nil), set...)
	}
	return out
}

// appendEMF appends r as an EMF document and a new line.
func appendEMF(b []byte, namespace string, r record, now time.Time) []byte {
	b = append(b, `{"_aws":{"Timestamp":`...)
	b = strconv.AppendInt(b, now.UnixMilli(), 10)
	b = append(b, `,"CloudWatchMetrics":[`...)
	for start := 0; start < len(r.figures); start += maxMetricsPerDirective {
		if start > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"Namespace":`...)
		b = appendString(b, namespace)
		b = append(b, `,"Dimensions":`...)
		dims, _ := json.Marshal(dimensionSets) // constant strings: never fails
		b = append(b, dims...)
		b = append(b, `,"Metrics":[`...)
		for i, f := range r.figures[start:min(start+maxMetricsPerDirective, len(r.figures))] {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"Name":`...)
			b = appendString(b, f.name)
			b = append(b, `,"Unit":`...)
			b = appendString(b, f.unit)
			b = append(b, '}')
		}
		b = append(b, "]}"...)
	}
	b = append(b, "]}"...)
	b = appendMembers(b, r)
	return append(b, "}\n"...)
}

// appendCLS appends r as a flat JSON line for CLS: the time, level and
// message every log line of the function has, the namespace, then the
// record's members, each a string or a number (CLS parses the first level
// of a JSON line into fields, of numbers and text only: "Log
// Description", Serverless Cloud Function, Tencent Cloud,
// https://cloud.tencent.com/document/product/583/18032, updated 2025-07-29,
// looked up 1 December 2026).
func appendCLS(b []byte, namespace string, r record, now time.Time) []byte {
	b = append(b, `{"time":`...)
	b = appendString(b, now.UTC().Format(time.RFC3339Nano))
	b = append(b, `,"level":"INFO","msg":"metrics","Namespace":`...)
	b = appendString(b, namespace)
	b = appendMembers(b, r)
	return append(b, "}\n"...)
}

// appendMembers appends r's texts and metrics as members, each after a comma.
func appendMembers(b []byte, r record) []byte {
	for _, p := range r.props {
		b = append(b, ',')
		b = appendString(b, p.name)
		b = append(b, ':')
		b = appendString(b, p.value)
	}
	for _, f := range r.figures {
		b = append(b, ',')
		b = appendString(b, f.name)
		b = append(b, ':')
		b = strconv.AppendFloat(b, f.value, 'f', -1, 64)
	}
	return b
}

// appendString appends s as a JSON string.
func appendString(b []byte, s string) []byte {
	q, _ := json.Marshal(s) // a string always marshals
	return append(b, q...)
}
