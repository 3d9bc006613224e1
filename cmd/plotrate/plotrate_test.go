package main

import (
	"bytes"
	"context"
	"encoding/xml"
	"flag"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestWriteSVG(t *testing.T) {
	run := []Sample{{}, {At: 500 * time.Millisecond, Accounts: 5000, Calls: 50}, {At: time.Second, Accounts: 10000, Calls: 100}}
	tests := []struct {
		name      string
		plot      Plot
		err       string
		polylines int
		texts     []string
	}{
		{"run", Plot{Title: "a <run> & more", Samples: run, Quota: 10000, CallQuota: 100}, "", 2,
			[]string{"a <run> & more", "quota: 10,000 accounts/s", "quota: 100 calls/s", "10,000"}},
		{"one sample", Plot{Samples: run[:1], Quota: 10000, CallQuota: 100}, "", 2, nil},
		{"no samples", Plot{Quota: 10000, CallQuota: 100}, "no samples", 0, nil},
		{"no quota", Plot{Samples: run}, "quotas must be positive", 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			err := WriteSVG(&b, tt.plot)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			polylines, texts := parseSVG(t, b.Bytes())
			if polylines != tt.polylines {
				t.Errorf("%d polylines, want %d", polylines, tt.polylines)
			}
			for _, want := range tt.texts {
				if !slices.Contains(texts, want) {
					t.Errorf("no text %q in %q", want, texts)
				}
			}
		})
	}
}

// parseSVG checks that data is well-formed XML with an svg root and returns
// its polylines and texts.
func parseSVG(t *testing.T, data []byte) (polylines int, texts []string) {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(data))
	var inText, root bool
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not XML: %v\n%s", err, data)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			root = root || tok.Name.Local == "svg"
			inText = tok.Name.Local == "text"
			if tok.Name.Local == "polyline" {
				polylines++
			}
		case xml.CharData:
			if inText {
				texts = append(texts, string(tok))
			}
		case xml.EndElement:
			inText = false
		}
	}
	if !root {
		t.Fatal("no svg element")
	}
	return polylines, texts
}

func TestCallRates(t *testing.T) {
	s := func(ms int, calls int64) Sample {
		return Sample{At: time.Duration(ms) * time.Millisecond, Calls: calls}
	}
	tests := []struct {
		name    string
		samples []Sample
		want    []float64
	}{
		{"empty", nil, []float64{}},
		{"start", []Sample{s(0, 0)}, []float64{0}},
		{"before a window", []Sample{s(0, 0), s(500, 60)}, []float64{0, 120}},
		{"sliding", []Sample{s(0, 0), s(500, 50), s(1000, 100), s(1500, 200), s(2000, 250)}, []float64{0, 100, 100, 150, 150}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CallRates(tt.samples, time.Second); !slices.Equal(got, tt.want) {
				t.Errorf("CallRates = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRun(t *testing.T) {
	out := filepath.Join(t.TempDir(), "plots", "rate.svg")
	var stdout bytes.Buffer
	if err := run(context.Background(), []string{"-accounts", "1500", "-latency", "1ms", "-interval", "20ms", "-out", out}, &stdout); err != nil {
		t.Fatalf("run: %v\n%s", err, stdout.String())
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := parseSVG(t, data); n != 2 {
		t.Errorf("%d polylines, want 2", n)
	}
	if !strings.Contains(stdout.String(), "1,500 in ") {
		t.Errorf("output %q", stdout.String())
	}
}

func TestFlags(t *testing.T) {
	tests := []struct {
		args []string
		err  string
	}{
		{[]string{"-accounts", "0"}, "must be positive"},
		{[]string{"-drop", "1.5"}, "-drop 1.5: want a share from 0 to 1"},
		{[]string{"extra"}, "unexpected arguments"},
		{[]string{"-h"}, flag.ErrHelp.Error()},
	}
	for _, tt := range tests {
		_, err := parseFlags(tt.args, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("parseFlags(%q) = %v, want %q", tt.args, err, tt.err)
		}
	}
	if _, err := parseFlags(nil, io.Discard); err != nil {
		t.Errorf("defaults: %v", err)
	}
}

func TestNiceCeil(t *testing.T) {
	tests := []struct{ v, top, step float64 }{
		{5.018, 6, 1},
		{5, 5, 1},
		{50_000, 50_000, 10_000},
		{120, 120, 20},
		{0.1, 0.1, 0.02},
		{0, 1, 0.2},
	}
	for _, tt := range tests {
		top, step := niceCeil(tt.v)
		if math.Abs(top-tt.top) > 1e-9 || math.Abs(step-tt.step) > 1e-9 {
			t.Errorf("niceCeil(%g) = %g, %g; want %g, %g", tt.v, top, step, tt.top, tt.step)
		}
	}
}
