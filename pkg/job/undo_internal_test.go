package job

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/removetag/removetag/pkg/records"
)

// partsFile is a journal of n lines, line i holding i%31+1 tags: lines of
// one to four parts.
func partsFile(format records.Format, n int) (data []byte, want []records.Record) {
	var b strings.Builder
	if format == records.FormatCSV {
		b.WriteString("To_Account,Tags\n")
	}
	for i := range n {
		acct := fmt.Sprintf("u%03d", i)
		var tags []string
		for k := range i%31 + 1 {
			tags = append(tags, fmt.Sprintf("t%02d", k))
		}
		if format == records.FormatCSV {
			fmt.Fprintf(&b, "%s,%s\n", acct, strings.Join(tags, ","))
		} else {
			fmt.Fprintf(&b, `{"To_Account":%q,"Tags":["%s"]}`+"\n", acct, strings.Join(tags, `","`))
		}
		for chunk := range slices.Chunk(tags, UndoTagsPerCall) {
			want = append(want, records.Record{Account: acct, Tags: chunk})
		}
	}
	return []byte(b.String()), want
}

// openParts opens data at pos as the job's open does: at its byte offset
// when it has one, else from the start, reading past the parts before it.
func openParts(t *testing.T, format records.Format, data []byte, pos records.Position) *partStream {
	t.Helper()
	opts := records.DecoderOptions{Format: format}
	var r io.Reader = bytes.NewReader(data)
	if pos.Offset > 0 {
		r, opts.Start = bytes.NewReader(data[pos.Offset:]), pos
	}
	dec, err := records.NewDecoder(r, opts)
	if err != nil {
		t.Fatal(err)
	}
	ps := undoStream(dec, pos, pos.Offset > 0)
	if err := ps.SkipNow(); err != nil {
		t.Fatal(err)
	}
	return ps
}

// TestPartStreamResumes: a journal's lines are read as parts of at most ten
// tags, numbered densely; from the position Resume gives after any part (on
// a record's boundary, a byte offset; inside a record, none), a stream opened
// as the job opens it goes on with exactly the parts after it, and so does one
// that reads the file from its start (a gzip file's resume).
func TestPartStreamResumes(t *testing.T) {
	for _, format := range []records.Format{records.FormatJSONL, records.FormatCSV} {
		t.Run(format.String(), func(t *testing.T) {
			data, want := partsFile(format, 70)
			ps := openParts(t, format, data, records.Position{})
			var resumes []records.Position
			for i := 0; ; i++ {
				rec, err := ps.Next()
				if err == io.EOF {
					if i != len(want) {
						t.Fatalf("%d parts, want %d", i, len(want))
					}
					break
				}
				if err != nil || !slices.Equal(rec.Tags, want[i].Tags) || rec.Account != want[i].Account || ps.Pos().Record != int64(i) {
					t.Fatalf("part %d: %v %v at %+v, want %v", i, rec, err, ps.Pos(), want[i])
				}
				resumes = append(resumes, ps.Resume())
			}
			inside := 0
			for i, pos := range resumes {
				if pos.Record != int64(i+1) {
					t.Fatalf("resume after part %d: %+v", i, pos)
				}
				if pos.Offset < 0 {
					inside++
				}
				fromStart := pos
				fromStart.Offset = -1 // as a gzip file is resumed
				for _, at := range []records.Position{pos, fromStart} {
					ps := openParts(t, format, data, at)
					for j := i + 1; j < len(want); j++ {
						rec, err := ps.Next()
						if err != nil || rec.Account != want[j].Account || !slices.Equal(rec.Tags, want[j].Tags) || ps.Pos().Record != int64(j) {
							t.Fatalf("resumed after part %d at %+v: part %d is %v %v (index %d), want %v", i, at, j, rec, err, ps.Pos().Record, want[j])
						}
					}
					if _, err := ps.Next(); err != io.EOF {
						t.Fatalf("resumed after part %d: %v at the end", i, err)
					}
				}
			}
			if inside == 0 || inside == len(resumes) {
				t.Errorf("%d of %d resume positions inside a record: want some of each", inside, len(resumes))
			}
		})
	}
}

// TestClassifyUndo: {"Undo":…} is an undo document, whatever the case of the
// key, and may name a region; mixed with a Source or records it is refused.
func TestClassifyUndo(t *testing.T) {
	for doc, want := range map[string]payloadKind{
		`{"Undo":"s3://b/j.jsonl"}`:                           kindUndo,
		`{"undo":"cos://b-1250000000/j.jsonl","Region":"gz"}`: kindUndo,
		`{"Undo":"s3://b/j.jsonl","Source":"s3://b/x"}`:       kindBad,
		`{"Undo":"s3://b/j.jsonl","To_Account":"u1"}`:         kindBad,
		`{"Undo":"s3://b/j.jsonl","Extra":1}`:                 kindBad,
		`{"Source":"s3://b/x.csv"}`:                           kindSource,
	} {
		p := classify([]byte(doc))
		if p.kind != want {
			t.Errorf("%s: kind %d (%s), want %d", doc, p.kind, p.reason, want)
		}
		if want == kindUndo && !strings.HasSuffix(p.source.Source, "/j.jsonl") {
			t.Errorf("%s: source %q", doc, p.source.Source)
		}
	}
}
