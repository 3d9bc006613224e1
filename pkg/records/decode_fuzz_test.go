package records

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func FuzzDecodeCSV(f *testing.F) {
	for _, seed := range []string{
		"u1,a,b\nu2,c\n",
		"\xef\xbb\xbfTo_Account,Tags\r\nu1,a\r\n\r\n,,\nu2,,b\n",
		"\"u,1\",\"a\"\"b\", \"c\" ,\"\"\"\"\nu2,\"a\nb\"\n",
		"u1,a,a,b,,\nu2,a\"b\n" + string(make([]byte, 100)) + "\nu3,x",
		"u\xff,a\n\n u4 ,\t標籤 \n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) { fuzzDecode(t, data, FormatCSV) })
}

func FuzzDecodeJSONL(f *testing.F) {
	for _, seed := range []string{
		`{"To_Account":"u1","Tags":["a","b"]}` + "\n" + `{"Tags":["a","a"],"To_Account":"u2"}`,
		"\xef\xbb\xbf{\"To_Account\":\"u\\u0031\",\"Tags\":[\"\\ud83d\\ude00\",\"\\\"\"]}\r\n\r\n{}\n[1]\n",
		`{"To_Account":"u1","Tags":["a"],"x":1}` + "\n" + `{"to_account":"u1","Tags":"a"}` + "\n" + `{"To_Account":"u1"`,
		`{"To_Account":"u1","To_Account":"u1","Tags":[]}` + "\n" + `{"To_Account":"\ud800","Tags":["\u0000"]} x`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) { fuzzDecode(t, data, FormatJSONL) })
}

func FuzzDecodeJSON(f *testing.F) {
	for _, seed := range []string{
		`{"UserTags":[{"To_Account":"u1","Tags":["a","b"]},3,{"To_Account":"u2","Tags":"a"}]}`,
		"\xef\xbb\xbf{\n\"Tags\":[\"a\",\"a\"],\n\"To_Account\":[\"u1\",2,\"\"]\n}\n",
		`{"To_Account":["u1","u2"],"Tags":["a"]}`,
		`{"To_Account":["u1"],"Tags":["a"],"UserTags":[]} {}`,
		`{"UserTags":[{"To_Account":"u1","Tags":["a"]},{"To_Account":"u2",,}]}`,
		`[]`,
		`{"AllTags":true,"To_Account":["u1","u2"]}`,
		`{"To_Account":["u1"],"AllTags":true}`,
		`{"AllTags":true,"To_Account":["u1"],"Tags":["a"]}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzDecode(t, data, FormatJSON)
		job, err := ReadJob(bytes.NewReader(data), JobLimits{})
		recs, _ := jobRecords(job, err)
		if err == nil && len(recs) == 0 {
			t.Error("ReadJob returned no records and no error")
		}
		for _, r := range recs {
			if err := validator(job.AllTags)(r); err != nil {
				t.Errorf("ReadJob returned an invalid record %+v (AllTags %v): %v", r, job.AllTags, err)
			}
		}
		if capped, cerr := jobRecords(ReadJob(bytes.NewReader(data), JobLimits{MaxRecords: 1})); cerr == nil && len(capped) != 1 {
			t.Errorf("ReadJob with at most 1 record returned %d", len(capped))
		}
	})
}

// fuzzDecode decodes data and checks what the decoder promises: valid records with
// distinct tags, problems at the decoder's position, positions that move forward,
// an end; and that skipping or starting at a Resume position gives the same rest.
func fuzzDecode(t *testing.T, data []byte, format Format) {
	opts := DecoderOptions{Format: format, MaxLineBytes: 64, MaxBytes: 1 << 20}
	dec, err := NewDecoder(bytes.NewReader(data), opts)
	if err != nil {
		return // a bad gzip header
	}
	var (
		items   []string
		resumes []Position
		starts  []Position
		last    = Position{Record: -1, Line: -1, Offset: -1}
	)
	for len(items) <= len(data)+1 {
		resume := dec.Resume()
		rec, err := dec.Next()
		if err == io.EOF {
			break
		}
		var p *Problem
		if err != nil && !errors.As(err, &p) {
			items = append(items, "ERR "+err.Error())
			break
		}
		pos := dec.Pos()
		checkFuzzRecord(t, data, format, dec, rec, p, pos, last)
		last = pos
		items = append(items, describeResult(rec, p, pos))
		resumes, starts = append(resumes, resume), append(starts, pos)
	}
	if len(items) > len(data)+1 {
		t.Fatalf("%d results from %d bytes", len(items), len(data))
	}
	if len(resumes) == 0 {
		return
	}
	k := len(resumes) / 2
	opts.SkipRecords = int64(k)
	if got := fuzzItems(t, data, opts); !slices.Equal(got, items[k:]) {
		t.Errorf("skipping %d records:\n got %q\nwant %q", k, got, items[k:])
	}
	if dec.Compressed() {
		return
	}
	opts.SkipRecords = 0
	want := items[k:]
	if format == FormatJSON {
		want = jsonErrorsUnplaced(want)
	}
	for _, start := range []Position{resumes[k], starts[k]} {
		opts.Start = start
		got := fuzzItems(t, data[start.Offset:], opts)
		if format == FormatJSON {
			got = jsonErrorsUnplaced(got)
		}
		if !slices.Equal(got, want) {
			t.Errorf("starting at %+v:\n got %q\nwant %q", start, got, want)
		}
	}
}

// checkFuzzRecord checks one result of Next.
func checkFuzzRecord(t *testing.T, data []byte, format Format, dec *Decoder, rec Record, p *Problem, pos, last Position) {
	t.Helper()
	if pos.Record != last.Record+1 {
		t.Errorf("record %d after record %d", pos.Record, last.Record)
	}
	if (format != FormatJSON && pos.Line <= last.Line) || pos.Offset <= last.Offset || pos.Line < last.Line {
		t.Errorf("position %+v after %+v", pos, last)
	}
	if p != nil {
		if p.Pos != pos || p.Where == "" || p.Reason == "" {
			t.Errorf("problem %+v at %+v", p, pos)
		}
		return
	}
	if err := validator(dec.AllTags())(rec); err != nil {
		t.Errorf("record %+v is invalid (AllTags %v): %v", rec, dec.AllTags(), err)
	}
	seen := map[string]bool{}
	for _, tag := range rec.Tags {
		if seen[tag] {
			t.Errorf("record %+v repeats tag %q", rec, tag)
		}
		seen[tag] = true
	}
	if format == FormatJSONL && !dec.Compressed() {
		checkJSONLAgrees(t, data[pos.Offset:], rec)
	}
}

// checkJSONLAgrees checks that encoding/json reads the line that starts data as rec.
func checkJSONLAgrees(t *testing.T, data []byte, rec Record) {
	t.Helper()
	line, _, _ := bytes.Cut(data, []byte{'\n'})
	var want Record
	if err := json.Unmarshal(line, &want); err != nil {
		t.Errorf("line %q decoded as %+v, but encoding/json: %v", line, rec, err)
		return
	}
	var tags []string
	for _, tag := range want.Tags {
		if !slices.Contains(tags, tag) {
			tags = append(tags, tag)
		}
	}
	if want.Account != rec.Account || !slices.Equal(tags, rec.Tags) {
		t.Errorf("line %q decoded as %+v, encoding/json says %+v", line, rec, want)
	}
}

// fuzzItems decodes data with opts and describes the results.
func fuzzItems(t *testing.T, data []byte, opts DecoderOptions) []string {
	dec, err := NewDecoder(bytes.NewReader(data), opts)
	if err != nil {
		t.Fatalf("NewDecoder(%+v): %v", opts, err)
	}
	var items []string
	for len(items) <= len(data)+1 {
		rec, err := dec.Next()
		if err == io.EOF {
			break
		}
		var p *Problem
		if err != nil && !errors.As(err, &p) {
			return append(items, "ERR "+err.Error())
		}
		items = append(items, describeResult(rec, p, dec.Pos()))
	}
	return items
}

// jsonPlace is the place a fatal error of a JSON document names.
var jsonPlace = regexp.MustCompile(`at line \d+ \(byte offset \d+\): `)

// jsonErrorsUnplaced drops the place from a fatal JSON error, the last item:
// where the JSON decoder notices a syntax error depends on how much it has read
// ahead, which differs between a decoder that read the document from its start
// and one started inside it. The records and problems must be the same.
func jsonErrorsUnplaced(items []string) []string {
	items = slices.Clone(items)
	if n := len(items); n > 0 && strings.HasPrefix(items[n-1], "ERR ") {
		items[n-1] = jsonPlace.ReplaceAllString(items[n-1], "")
	}
	return items
}

// describeResult writes a result of Next as a string.
func describeResult(rec Record, p *Problem, pos Position) string {
	b, _ := json.Marshal(struct {
		Rec  Record
		Pos  Position
		Line int64
		P    *Problem `json:",omitempty"`
	}{rec, pos, pos.Line, p})
	return string(b)
}

// FuzzDecodeGzip feeds each format gzip streams: well-formed ones of fuzzed
// content, and fuzzed bytes behind a gzip magic number (truncated and corrupt
// streams). A decoder must fail cleanly, never panic or return an invalid record.
func FuzzDecodeGzip(f *testing.F) {
	for _, seed := range []string{"u1,a\nu2,b\n", `{"To_Account":"u1","Tags":["a"]}`, `{"UserTags":[]}`, ""} {
		f.Add([]byte(seed), true)
		f.Add([]byte(seed), false)
	}
	f.Add([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff, 3, 0}, false)
	f.Fuzz(func(t *testing.T, data []byte, wrap bool) {
		if wrap {
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			zw.Write(data)
			zw.Close()
			data = buf.Bytes()
		} else {
			data = append([]byte{0x1f, 0x8b}, data...)
		}
		for _, format := range []Format{FormatCSV, FormatJSONL, FormatJSON} {
			fuzzDecode(t, data, format)
		}
	})
}
