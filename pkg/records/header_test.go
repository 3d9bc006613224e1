package records

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"strings"
	"testing"
)

// TestCSVHeader: a first row that looks like a header of another name is
// refused (a Problem), never sent as a record; Header says otherwise; valid
// files read as before.
func TestCSVHeader(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		mode    HeaderMode
		want    []string // accounts read
		problem string   // in the first problem's reason, "" none
	}{
		{"To_Account header", "To_Account,Tag\nu1,a\n", HeaderAuto, []string{"u1"}, ""},
		{"no header", "u1,a\nu2,b\n", HeaderAuto, []string{"u1", "u2"}, ""},
		{"accounts like user00001", "user00001,vip\n", HeaderAuto, []string{"user00001"}, ""},
		{"a tag like tag7 in a record", "u1,tag7x\n", HeaderAuto, []string{"u1"}, ""},
		{"UserID,Tag", "UserID,Tag\nu1,a\n", HeaderAuto, []string{"u1"}, `("UserID", "Tag")`},
		{"Account,Tags", "Account,Tags\nu1,a\n", HeaderAuto, []string{"u1"}, `"Account"`},
		{"user_id,tag1,tag2", "user_id,tag1,tag2\nu1,a\n", HeaderAuto, []string{"u1"}, `"user_id", "tag1", "tag2"`},
		{"quoted, after blank lines", "\n\n\"User ID\",\"Tag\"\nu1,a\n", HeaderAuto, []string{"u1"}, `"User ID"`},
		{"only the first row", "u1,a\nUserID,Tag\n", HeaderAuto, []string{"u1", "UserID"}, ""},
		{"--header skips any first row", "UserID,Tag\nu1,a\n", HeaderPresent, []string{"u1"}, ""},
		{"--header skips a record too", "u0,a\nu1,a\n", HeaderPresent, []string{"u1"}, ""},
		{"--no-header reads it", "UserID,Tag\nu1,a\n", HeaderAbsent, []string{"UserID", "u1"}, ""},
		{"--no-header reads To_Account", "To_Account,a\n", HeaderAbsent, []string{"To_Account"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dec, err := NewDecoder(strings.NewReader(tt.in), DecoderOptions{Format: FormatCSV, Header: tt.mode})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			var problem string
			for {
				rec, err := dec.Next()
				if err == io.EOF {
					break
				}
				var p *Problem
				switch {
				case errors.As(err, &p):
					if problem == "" {
						problem = p.Where + ": " + p.Reason
					}
					continue
				case err != nil:
					t.Fatal(err)
				}
				got = append(got, rec.Account)
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("accounts %v, want %v", got, tt.want)
			}
			if (tt.problem == "") != (problem == "") || !strings.Contains(problem, tt.problem) {
				t.Errorf("problem %q, want one saying %q", problem, tt.problem)
			}
			if tt.problem != "" && !strings.Contains(problem, "header") {
				t.Errorf("problem %q does not say header", problem)
			}
		})
	}
	// JSON Lines have no header: Header changes nothing.
	dec, _ := NewDecoder(strings.NewReader(`{"To_Account":"UserID","Tags":["Tag"]}`+"\n"), DecoderOptions{Format: FormatJSONL, Header: HeaderPresent})
	if rec, err := dec.Next(); err != nil || rec.Account != "UserID" {
		t.Errorf("JSON Lines with Header: %+v %v", rec, err)
	}
}

// TestGzipErrorsSayGzip: a gzip input cut short or damaged fails with an
// error that says gzip (a *GzipError), not as a problem of its text.
func TestGzipErrorsSayGzip(t *testing.T) {
	var rows strings.Builder
	for i := range 20000 {
		rows.WriteString("acct" + strings.Repeat("x", i%7) + ",vip\n")
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(rows.String()))
	zw.Close()
	full := gz.Bytes()
	damaged := bytes.Clone(full)
	damaged[len(damaged)-6] ^= 0xff // the CRC-32 at the end
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"cut short", full[:len(full)/2], "cut short"},
		{"damaged", damaged, "damaged"},
	}
	for _, tt := range tests {
		for _, format := range []Format{FormatCSV, FormatJSONL} {
			dec, err := NewDecoder(bytes.NewReader(tt.in), DecoderOptions{Format: format})
			if err != nil {
				t.Fatal(err)
			}
			_, err = Check(dec)
			var ge *GzipError
			if !errors.As(err, &ge) || !strings.Contains(err.Error(), "gzip") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("%s, %v: %v; want a *GzipError saying %q", tt.name, format, err, tt.want)
			}
		}
	}
	// A whole gzip input reads as before.
	dec, _ := NewDecoder(bytes.NewReader(full), DecoderOptions{Format: FormatCSV})
	if n, err := Check(dec); err != nil || n != 20000 {
		t.Errorf("whole input: %d records, %v", n, err)
	}
}
