package records

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// slowCSV is what the full path makes of a CSV row: parse, then the rule.
func slowCSV(line []byte, alone bool) (Record, string) {
	p := newCSVParser()
	rec, reason := p.parse(line)
	if reason == "" {
		if err := validator(alone)(rec); err != nil {
			reason = err.Error()
		}
	}
	return rec, reason
}

// checkFastCSV fails t if the fast path takes a row the full path refuses or
// reads otherwise.
func checkFastCSV(t *testing.T, line []byte, alone bool) (fast bool) {
	t.Helper()
	p := newCSVParser()
	if !p.common(line, alone) {
		return false
	}
	rec := p.build()
	want, reason := slowCSV(line, alone)
	switch {
	case reason != "":
		t.Errorf("common(%q, alone=%v) took a row the full path refuses: %s", line, alone, reason)
	case rec.Account != want.Account || !slices.Equal(rec.Tags, want.Tags):
		t.Errorf("common(%q, alone=%v) = %q %q; the full path reads %q %q", line, alone, rec.Account, rec.Tags, want.Account, want.Tags)
	}
	return true
}

func TestCSVFastPath(t *testing.T) {
	long := func(n int) string { return strings.Repeat("x", n) }
	tags := func(n int) string {
		var b strings.Builder
		for i := range n {
			b.WriteString(",t")
			b.WriteString(strings.Repeat("y", i%40))
		}
		return b.String()
	}
	tests := []struct {
		line  string
		alone bool
		fast  bool // the fast path takes it
	}{
		{"user-0000001,vip", false, true},
		{"u1,a,b,a", false, true}, // duplicates dropped, as parse does
		{"u1," + long(50), false, true},
		{long(32) + ",a", false, true},
		{"u1" + tags(100), false, true},
		{"u1", true, true},
		{"u1,vip", true, false},                   // names a tag: the full path says why
		{"u1", false, false},                      // no tag
		{"u1,", false, false},                     // padded: the full path drops the empty cell
		{"u1,,a", false, false},                   // an empty cell before a tag
		{",a", false, false},                      // no account
		{long(33) + ",a", false, false},           // account too long
		{"u1," + long(51), false, false},          // tag too long
		{"u1" + tags(101), false, false},          // too many tags
		{"u1 ,a", false, false},                   // white space: trimmed by the full path
		{"u1,new user", false, false},             // a space inside a tag
		{`"u1",a`, false, false},                  // quoted
		{"u\x01,a", false, false},                 // a control character
		{"u\x7f,a", false, false},                 // DEL
		{"ü,a", false, false},                     // not ASCII
		{"u1,a\tb", false, false},                 // a tab
		{"u1,a,b,c,d,e,f,g,h,i,j,k", false, true}, // more than the add API's ten: the engine's rule, not the input's
	}
	for _, tt := range tests {
		if got := checkFastCSV(t, []byte(tt.line), tt.alone); got != tt.fast {
			t.Errorf("common(%q, alone=%v) took it: %v, want %v", tt.line, tt.alone, got, tt.fast)
		}
	}
}

// FuzzCSVFastPath holds the fast path to the full one: a row it takes is one
// the full path accepts and reads the same.
func FuzzCSVFastPath(f *testing.F) {
	for _, s := range []string{"user-0000001,vip", "u1,a,b,a", "u1", "u1,", `"u1",a`, "ü,a", "u1,a b"} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, line []byte, alone bool) {
		checkFastCSV(t, trimEOL(line), alone)
	})
}

// checkSkimAgrees fails t unless Check, reading data with SkipValid, finds
// what reading it with Next finds (scan), and unless SkipValid, stopped
// after k records, leaves the decoder where k calls of Next do.
func checkSkimAgrees(t *testing.T, data []byte, opts DecoderOptions) {
	t.Helper()
	if _, err := NewDecoder(bytes.NewReader(data), opts); err != nil {
		t.Skip("not an input:", err) // e.g. a gzip header cut short
	}
	open := func() *Decoder {
		dec, err := NewDecoder(bytes.NewReader(data), opts)
		if err != nil {
			t.Fatal(err)
		}
		return dec
	}
	n, err := Check(open())
	wantN, wantErr := scan(nextOnly{open()}, 0, nil)
	if n != wantN || fmt.Sprint(err) != fmt.Sprint(wantErr) {
		t.Fatalf("Check(%q) = %d, %v; read with Next: %d, %v", data, n, err, wantN, wantErr)
	}
	var bad, wantBad *InvalidInputError
	if errors.As(err, &bad) != errors.As(wantErr, &wantBad) || bad != nil && !reflect.DeepEqual(bad, wantBad) {
		t.Fatalf("Check(%q) problems %+v; read with Next: %+v", data, bad, wantBad)
	}
	for k := int64(1); k <= 3; k++ {
		a, b := open(), open()
		got, err := a.SkipValid(k)
		reads := got
		if _, problem := err.(*Problem); problem {
			reads++
		}
		for range reads {
			b.Next()
		}
		if err == io.EOF { // Next too reads to the end to say so
			if _, eb := b.Next(); eb != io.EOF {
				t.Fatalf("%q: SkipValid(%d) = %d, EOF; Next after %d records: %v", data, k, got, reads, eb)
			}
		}
		if err != nil && err != io.EOF {
			if _, problem := err.(*Problem); !problem {
				continue // a fatal error: Next returns it again, positions are moot
			}
		}
		if a.Pos() != b.Pos() || a.Resume() != b.Resume() {
			t.Fatalf("%q: after SkipValid(%d) = %d, %v: Pos %+v, Resume %+v; after %d calls of Next: %+v, %+v",
				data, k, got, err, a.Pos(), a.Resume(), reads, b.Pos(), b.Resume())
		}
		ra, ea := a.Next()
		rb, eb := b.Next()
		if !reflect.DeepEqual(ra, rb) || fmt.Sprint(ea) != fmt.Sprint(eb) {
			t.Fatalf("%q: the record after SkipValid(%d): %+v, %v; after Next: %+v, %v", data, k, ra, ea, rb, eb)
		}
	}
}

// nextOnly hides a Decoder's SkipValid: a Source read with Next alone.
type nextOnly struct{ *Decoder }

func (s nextOnly) SkipValid() {}

func TestCheckSkims(t *testing.T) {
	inputs := []string{
		"To_Account,Tags\nu1,vip\nu2,vip,a\n",
		"u1,vip\n\n,,\nu2,\"quoted\"\nu3\nu4,ü\nü,a\n" + strings.Repeat("x", 40) + ",a\nu5,a\r\nu6,b",
		"UserID,Tag\nu1,a\n",
		"\xef\xbb\xbfu1,a\nu2,a\xff\n",
		"u1\nu2\nu3,a\n",
		"",
		"\n\n",
	}
	for _, in := range inputs {
		for _, opts := range []DecoderOptions{{Format: FormatCSV}, {Format: FormatCSV, AccountsOnly: true}, {Format: FormatCSV, Header: HeaderAbsent}, {Format: FormatCSV, MaxLineBytes: 8}} {
			checkSkimAgrees(t, []byte(in), opts)
		}
	}
}

func FuzzCheckSkims(f *testing.F) {
	f.Add([]byte("To_Account,Tags\nu1,vip\nu2,vip,a\n"), false)
	f.Add([]byte("u1,vip\n\n,,\nu2,\"quoted\"\nu3\nu4,ü\n"), true)
	f.Fuzz(func(t *testing.T, data []byte, alone bool) {
		checkSkimAgrees(t, data, DecoderOptions{Format: FormatCSV, AccountsOnly: alone})
	})
}
