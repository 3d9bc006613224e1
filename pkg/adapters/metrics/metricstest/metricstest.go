// Package metricstest reads the records of package metrics as the platforms
// do, for tests: an EMF document is checked against the rules of the
// Embedded Metric Format specification (its JSON schema and its limits), a
// CLS line against what CLS indexes.
//
// The rules are those of "Specification: Embedded metric format", Amazon
// CloudWatch User Guide
// (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html,
// and its JSON schema, as in awsdocs/amazon-cloudwatch-user-guide,
// doc_source/CloudWatch_Embedded_Metric_Format_Specification.md), looked up
// 1 December 2026:
//
//   - the LogEvent is one JSON object, nothing before or after it;
//   - the root holds _aws, an object with Timestamp (an integer, milliseconds
//     since the epoch) and CloudWatchMetrics (an array of MetricDirectives);
//   - a MetricDirective holds Namespace (a string of 1 to 255 characters),
//     Dimensions (an array of at least one DimensionSet) and Metrics (an array
//     of at most 100 MetricDefinitions), and no other member;
//   - a DimensionSet is an array of at most 30 dimension keys (the schema
//     says 9; the limit is 30 since 2022: awslabs' EMF libraries 3.0.0 and
//     2.0.0, "Support for 30 dimensions per dimension set", and CloudWatch's
//     Dimension reference, "up to 30 dimensions"), each a string of 1 to 255
//     characters;
//   - a MetricDefinition holds Name (1 to 255 characters) and optionally Unit,
//     one of CloudWatch's units (MetricDatum's list), and StorageResolution (1
//     or 60), nothing else;
//   - every key a directive references is a member of the root node, not
//     nested: a dimension's value a string (CloudWatch: 1 to 1024
//     characters), a metric's a number or an array of at most 100 numbers;
//   - a document is at most 256 KB (the older page's limit; the current one
//     allows 1 MB).
//
// CloudWatch takes a metric's timestamp from 2 weeks before to 2 hours after
// the moment it arrives (the bounds of AWS's own EMF libraries, e.g.
// @aws-lambda-powertools/metrics 2.32.0, EMF_MAX_TIMESTAMP_PAST_AGE and
// EMF_MAX_TIMESTAMP_FUTURE_AGE): a Timestamp in seconds would be refused.
package metricstest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Limits of the EMF specification and of CloudWatch.
const (
	MaxMetricsPerDirective = 100
	MaxDimensionsPerSet    = 30
	MaxValuesPerMetric     = 100
	MaxNameLength          = 255
	MaxDimensionValue      = 1024
	MaxDocumentBytes       = 256 << 10
	MaxTimestampPast       = 14 * 24 * time.Hour
	MaxTimestampFuture     = 2 * time.Hour
)

// Units are CloudWatch's units, as the schema's MetricUnit pattern lists them.
var Units = []string{
	"Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes",
	"Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count",
	"Bytes/Second", "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second",
	"Bits/Second", "Kilobits/Second", "Megabits/Second", "Gigabits/Second", "Terabits/Second", "Count/Second", "None",
}

// Record is one record, read.
type Record struct {
	// Namespace is the directive's (EMF) or the line's (CLS).
	Namespace string
	// Dimensions are the directive's dimension sets (EMF only).
	Dimensions [][]string
	// Units gives each declared metric's unit (EMF only).
	Units map[string]string
	// Values holds every numeric member of the root; Texts every string member.
	Values map[string]float64
	Texts  map[string]string
	// Timestamp is the metrics' time (EMF) or the line's (CLS).
	Timestamp time.Time
}

// Scope is the record's Scope member: "invocation" or "job".
func (r Record) Scope() string { return r.Texts["Scope"] }

// directive is a MetricDirective as read.
type directive struct {
	Namespace  *string
	Dimensions *[][]string
	Metrics    *[]map[string]json.RawMessage
}

// ParseEMF reads one EMF document and checks it against the specification;
// now is when it arrives (for the Timestamp's window).
func ParseEMF(doc []byte, now time.Time) (Record, error) {
	if len(doc) > MaxDocumentBytes {
		return Record{}, fmt.Errorf("the document is %d bytes, more than %d", len(doc), MaxDocumentBytes)
	}
	root, err := object(doc)
	if err != nil {
		return Record{}, fmt.Errorf("the LogEvent is not one JSON object: %w", err)
	}
	aws, err := object(root["_aws"])
	if err != nil {
		return Record{}, fmt.Errorf("_aws: %w", err)
	}
	for k := range aws {
		if k != "Timestamp" && k != "CloudWatchMetrics" {
			return Record{}, fmt.Errorf("_aws: member %q the specification does not define", k)
		}
	}
	rec := Record{Units: map[string]string{}, Values: map[string]float64{}, Texts: map[string]string{}}
	if rec.Timestamp, err = timestamp(aws["Timestamp"], now); err != nil {
		return Record{}, err
	}
	var dirs []json.RawMessage
	if err := strict(aws["CloudWatchMetrics"], &dirs); err != nil || aws["CloudWatchMetrics"] == nil {
		return Record{}, fmt.Errorf("_aws.CloudWatchMetrics: want an array of MetricDirectives: %v", err)
	}
	if len(dirs) == 0 {
		return Record{}, errors.New("_aws.CloudWatchMetrics is empty: no metric would be extracted")
	}
	for i, raw := range dirs {
		if err := rec.directive(raw, root); err != nil {
			return Record{}, fmt.Errorf("_aws.CloudWatchMetrics[%d]: %w", i, err)
		}
	}
	if err := rec.members(root); err != nil {
		return Record{}, err
	}
	return rec, nil
}

// directive checks one MetricDirective against the root node and notes it.
func (rec *Record) directive(raw json.RawMessage, root map[string]json.RawMessage) error {
	var d directive
	if err := strict(raw, &d); err != nil {
		return err
	}
	switch {
	case d.Namespace == nil || d.Dimensions == nil || d.Metrics == nil:
		return errors.New("Namespace, Dimensions and Metrics are required")
	case *d.Namespace == "" || len(*d.Namespace) > MaxNameLength:
		return fmt.Errorf("Namespace %q: want 1 to %d characters", *d.Namespace, MaxNameLength)
	case len(*d.Dimensions) == 0:
		return errors.New("Dimensions: want at least one DimensionSet")
	case len(*d.Metrics) > MaxMetricsPerDirective:
		return fmt.Errorf("Metrics: %d MetricDefinitions, at most %d", len(*d.Metrics), MaxMetricsPerDirective)
	}
	rec.Namespace = *d.Namespace
	for _, set := range *d.Dimensions {
		if len(set) > MaxDimensionsPerSet {
			return fmt.Errorf("a DimensionSet of %d keys, at most %d", len(set), MaxDimensionsPerSet)
		}
		for _, key := range set {
			if err := dimensionTarget(key, root); err != nil {
				return err
			}
		}
		rec.Dimensions = append(rec.Dimensions, set)
	}
	for _, def := range *d.Metrics {
		name, unit, err := definition(def)
		if err != nil {
			return err
		}
		if _, dup := rec.Units[name]; dup {
			return fmt.Errorf("metric %q defined twice", name)
		}
		if err := metricTarget(name, root); err != nil {
			return err
		}
		rec.Units[name] = unit
	}
	return nil
}

// definition checks a MetricDefinition: its name and unit.
func definition(def map[string]json.RawMessage) (name, unit string, err error) {
	for k := range def {
		if k != "Name" && k != "Unit" && k != "StorageResolution" {
			return "", "", fmt.Errorf("a MetricDefinition with member %q", k)
		}
	}
	if err := strict(def["Name"], &name); err != nil || name == "" || len(name) > MaxNameLength {
		return "", "", fmt.Errorf("a MetricDefinition's Name %s: want a string of 1 to %d characters", def["Name"], MaxNameLength)
	}
	unit = "None"
	if raw, ok := def["Unit"]; ok {
		if err := strict(raw, &unit); err != nil || !slices.Contains(Units, unit) {
			return "", "", fmt.Errorf("metric %q: Unit %s is not a CloudWatch unit", name, raw)
		}
	}
	if raw, ok := def["StorageResolution"]; ok && string(raw) != "1" && string(raw) != "60" {
		return "", "", fmt.Errorf("metric %q: StorageResolution %s: want 1 or 60", name, raw)
	}
	return name, unit, nil
}

// dimensionTarget checks that a dimension key is a root member holding a string.
func dimensionTarget(key string, root map[string]json.RawMessage) error {
	if key == "" || len(key) > MaxNameLength {
		return fmt.Errorf("dimension key %q: want 1 to %d characters", key, MaxNameLength)
	}
	raw, ok := root[key]
	if !ok {
		return fmt.Errorf("dimension %q is not a member of the root node", key)
	}
	var v string
	if err := strict(raw, &v); err != nil || v == "" || len(v) > MaxDimensionValue {
		return fmt.Errorf("dimension %q = %s: want a string of 1 to %d characters", key, raw, MaxDimensionValue)
	}
	return nil
}

// metricTarget checks that a metric's name is a root member holding a
// number or an array of at most 100 numbers.
func metricTarget(name string, root map[string]json.RawMessage) error {
	raw, ok := root[name]
	if !ok {
		return fmt.Errorf("metric %q is not a member of the root node", name)
	}
	var one float64
	if strict(raw, &one) == nil {
		return nil
	}
	var many []float64
	if err := strict(raw, &many); err != nil || len(many) > MaxValuesPerMetric {
		return fmt.Errorf("metric %q = %.80s: want a number or at most %d numbers", name, raw, MaxValuesPerMetric)
	}
	return nil
}

// timestamp checks _aws.Timestamp: an integer of milliseconds within the window.
func timestamp(raw json.RawMessage, now time.Time) (time.Time, error) {
	if raw == nil {
		return time.Time{}, errors.New("_aws.Timestamp is required")
	}
	var ms int64
	if bytes.ContainsAny(raw, ".eE") || strict(raw, &ms) != nil {
		return time.Time{}, fmt.Errorf("_aws.Timestamp %s: want an integer", raw)
	}
	ts := time.UnixMilli(ms)
	if ts.Before(now.Add(-MaxTimestampPast)) || ts.After(now.Add(MaxTimestampFuture)) {
		return time.Time{}, fmt.Errorf("_aws.Timestamp %d (%s): CloudWatch takes 2 weeks back to 2 hours ahead of %s (milliseconds, not seconds?)",
			ms, ts.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	return ts, nil
}

// members notes the root's members other than _aws: each a valid JSON value.
func (rec *Record) members(root map[string]json.RawMessage) error {
	for k, raw := range root {
		if k == "_aws" {
			continue
		}
		if !rec.note(k, raw) && !json.Valid(raw) {
			return fmt.Errorf("member %q is not a JSON value", k)
		}
	}
	return nil
}

// note keeps member k among the Texts or the Values if it is a string or a
// number, and reports whether it was.
func (rec *Record) note(k string, raw json.RawMessage) bool {
	var s string
	var f float64
	switch {
	case strict(raw, &s) == nil:
		rec.Texts[k] = s
	case strict(raw, &f) == nil:
		rec.Values[k] = f
	default:
		return false
	}
	return true
}

// ParseCLS reads one CLS line: a JSON object whose every member is a string
// or a number (CLS indexes nothing else), the message "metrics", with the
// namespace, the scope, the function and the trigger.
func ParseCLS(line []byte) (Record, error) {
	root, err := object(line)
	if err != nil {
		return Record{}, fmt.Errorf("not one JSON object: %w", err)
	}
	rec := Record{Values: map[string]float64{}, Texts: map[string]string{}}
	for k, raw := range root {
		if !rec.note(k, raw) {
			return Record{}, fmt.Errorf("member %q = %.80s: CLS indexes only the strings and numbers of the first level", k, raw)
		}
	}
	for _, k := range []string{"time", "msg", "Namespace", "Scope", "FunctionName", "Trigger"} {
		if rec.Texts[k] == "" {
			return Record{}, fmt.Errorf("no %s", k)
		}
	}
	if rec.Texts["msg"] != "metrics" {
		return Record{}, fmt.Errorf("msg %q, want metrics", rec.Texts["msg"])
	}
	if rec.Timestamp, err = time.Parse(time.RFC3339Nano, rec.Texts["time"]); err != nil {
		return Record{}, fmt.Errorf("time: %w", err)
	}
	rec.Namespace = rec.Texts["Namespace"]
	return rec, nil
}

// EMF picks the EMF documents out of a process's output (the lines that
// hold an _aws member), each parsed and checked; a bad one is an error.
func EMF(output string, now time.Time) ([]Record, error) {
	var recs []Record
	var errs []error
	for _, line := range strings.Split(output, "\n") {
		if !strings.Contains(line, `"_aws"`) {
			continue
		}
		r, err := ParseEMF([]byte(line), now)
		if err != nil {
			errs = append(errs, fmt.Errorf("%w: %.300s", err, line))
			continue
		}
		recs = append(recs, r)
	}
	return recs, errors.Join(errs...)
}

// CLS picks the metrics lines out of a process's output (the lines whose
// msg is "metrics"), each parsed and checked; a bad one is an error.
func CLS(output string) ([]Record, error) {
	var recs []Record
	var errs []error
	for _, line := range strings.Split(output, "\n") {
		var probe struct{ Msg string }
		if json.Unmarshal([]byte(line), &probe) != nil || probe.Msg != "metrics" {
			continue
		}
		r, err := ParseCLS([]byte(line))
		if err != nil {
			errs = append(errs, fmt.Errorf("%w: %.300s", err, line))
			continue
		}
		recs = append(recs, r)
	}
	return recs, errors.Join(errs...)
}

// object reads one JSON object and nothing after it.
func object(data []byte) (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := strict(data, &m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errors.New("want an object")
	}
	return m, nil
}

// strict decodes data, one JSON value, into v: unknown members of a struct
// and anything after the value are errors.
func strict(data []byte, v any) error {
	if len(data) == 0 {
		return errors.New("missing")
	}
	if string(bytes.TrimSpace(data)) == "null" {
		return errors.New("null") // which would decode into a zero value without an error
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("data after the value")
	}
	if _, err := dec.Token(); err == nil {
		return errors.New("data after the value")
	}
	return nil
}
