package records

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
	"unsafe"
)

// decodeItems reads dec to its end and describes each result on one line:
// "record/line/offset account [tags]" for a record, "record/line/offset ! problem"
// for a problem, and "ERR error" for a fatal error (the last item).
func decodeItems(t testing.TB, dec *Decoder) []string {
	t.Helper()
	var items []string
	for range 100000 {
		rec, err := dec.Next()
		if err == io.EOF {
			return items
		}
		pos := dec.Pos()
		at := fmt.Sprintf("%d/%d/%d", pos.Record, pos.Line, pos.Offset)
		var p *Problem
		switch {
		case errors.As(err, &p):
			if p.Pos != pos {
				t.Errorf("problem %v at %+v, Pos() says %+v", p, p.Pos, pos)
			}
			items = append(items, at+" ! "+p.Error())
		case err != nil:
			if _, err2 := dec.Next(); err2 != err {
				t.Errorf("fatal error %v not returned again (got %v)", err, err2)
			}
			return append(items, "ERR "+err.Error())
		default:
			if verr := rec.Validate(); verr != nil {
				t.Errorf("record %+v returned without problem but invalid: %v", rec, verr)
			}
			if cap(rec.Tags) != len(rec.Tags) {
				t.Errorf("record %+v: tags capacity %d, length %d", rec, cap(rec.Tags), len(rec.Tags))
			}
			items = append(items, fmt.Sprintf("%s %s %v", at, rec.Account, rec.Tags))
		}
	}
	t.Fatal("decoder does not end")
	return nil
}

// decodeString decodes input with opts, failing the test if NewDecoder fails.
func decodeString(t testing.TB, input string, opts DecoderOptions) []string {
	t.Helper()
	dec, err := NewDecoder(strings.NewReader(input), opts)
	if err != nil {
		t.Fatalf("NewDecoder: %v", err)
	}
	return decodeItems(t, dec)
}

// matchItems compares items with wants: records exactly, problems and errors by prefix
// ("ERR …" by substring).
func matchItems(t *testing.T, got, want []string) {
	t.Helper()
	ok := len(got) == len(want)
	for i := 0; ok && i < len(got); i++ {
		switch {
		case strings.HasPrefix(want[i], "ERR "):
			ok = strings.HasPrefix(got[i], "ERR ") && strings.Contains(got[i], want[i][4:])
		case strings.Contains(want[i], " ! "):
			ok = strings.HasPrefix(got[i], want[i])
		default:
			ok = got[i] == want[i]
		}
	}
	if !ok {
		t.Errorf("got:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

type decodeCase struct {
	name  string
	input string
	opts  DecoderOptions
	want  []string
}

func runDecodeCases(t *testing.T, format Format, cases []decodeCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opts := tc.opts
			opts.Format = format
			matchItems(t, decodeString(t, tc.input, opts), tc.want)
		})
	}
}

func TestFormatOf(t *testing.T) {
	tests := []struct {
		name    string
		format  Format
		gz      bool
		wantErr string
	}{
		{"job.json", FormatJSON, false, ""},
		{"dir.v2/Job.JSON.GZ", FormatJSON, true, ""},
		{"a.jsonl", FormatJSONL, false, ""},
		{"a.NDJSON", FormatJSONL, false, ""},
		{"a.ndjson.gz", FormatJSONL, true, ""},
		{"s3://bucket/users.csv", FormatCSV, false, ""},
		{"users.CSV.gz", FormatCSV, true, ""},
		{"users.txt", 0, false, `unknown extension ".txt"`},
		{"users.gz", 0, true, `has no format extension`},
		{"users", 0, false, `.json, .jsonl, .ndjson or .csv`},
	}
	for _, tc := range tests {
		f, gz, err := FormatOf(tc.name)
		switch {
		case tc.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("FormatOf(%q): error %v, want one containing %q", tc.name, err, tc.wantErr)
			}
		case err != nil || f != tc.format || gz != tc.gz:
			t.Errorf("FormatOf(%q) = %v, %v, %v; want %v, %v", tc.name, f, gz, err, tc.format, tc.gz)
		}
	}
	if s := FormatCSV.String() + FormatJSON.String() + FormatJSONL.String(); s != "csvjsonjsonl" {
		t.Errorf("String: %q", s)
	}
}

func TestDecodeCSV(t *testing.T) {
	runDecodeCases(t, FormatCSV, []decodeCase{
		{name: "basic", input: "u1,a,b\nu2,c\n", want: []string{
			"0/1/0 u1 [a b]", "1/2/7 u2 [c]"}},
		{name: "no final newline", input: "u1,a\nu2,b", want: []string{
			"0/1/0 u1 [a]", "1/2/5 u2 [b]"}},
		{name: "empty input", input: "", want: nil},
		{name: "header row", input: "To_Account,Tags\nu1,a\n", want: []string{
			"0/2/16 u1 [a]"}},
		{name: "header with BOM, any case, CRLF", input: "\xef\xbb\xbfto_ACCOUNT , tag1,tag2\r\nu1,a\r\n", want: []string{
			"0/2/27 u1 [a]"}},
		{name: "quoted header", input: "\"To_Account\",\"Tags\"\nu1,a\n", want: []string{
			"0/2/20 u1 [a]"}},
		{name: "header after blank lines", input: "\n \nTo_Account\nu1,a\n", want: []string{
			"0/4/14 u1 [a]"}},
		{name: "header only on the first row", input: "u1,a\nTo_Account,b\n", want: []string{
			"0/1/0 u1 [a]", "1/2/5 To_Account [b]"}},
		{name: "not a header", input: "To_Accounts,a\n", want: []string{
			"0/1/0 To_Accounts [a]"}},
		{name: "BOM without header", input: "\xef\xbb\xbfu1,a\n", want: []string{
			"0/1/3 u1 [a]"}},
		{name: "CRLF and blank lines", input: "u1,a\r\n\r\n  \t\n,, ,\nu2,b\r\n", want: []string{
			"0/1/0 u1 [a]", "1/5/17 u2 [b]"}},
		{name: "quotes", input: "\"u,1\",\"a\"\"b\", \"c\" ,\"\"\"\"\n", want: []string{
			`0/1/0 u,1 [a"b c "]`}},
		{name: "spaces around cells", input: " u1 ,\ta b\t, c\n", want: []string{
			"0/1/0 u1 [a b c]"}},
		{name: "trailing empty cells", input: "u1,a,,,\nu2,b,\"\",\n", want: []string{
			"0/1/0 u1 [a]", "1/2/8 u2 [b]"}},
		{name: "duplicate tags", input: "u1,a,b,a,c,b\n", want: []string{
			"0/1/0 u1 [a b c]"}},
		{name: "Chinese tags", input: "u1,标签,タグ\n", want: []string{
			"0/1/0 u1 [标签 タグ]"}},
		{name: "problems", input: strings.Join([]string{
			"u1,,a",
			"u2",
			",a",
			"u3,\"a",
			"u4,\"a\"b",
			"u5,a\"b",
			"u6,\xff",
			"u\x017,a",
			strings.Repeat("x", 33) + ",a",
			"u8," + strings.Repeat("t", 51),
			"u9,ok",
		}, "\n"), want: []string{
			"0/1/0 ! line 1: cell 2 is empty",
			"1/2/6 ! line 2: account \"u2\" has no tags",
			"2/3/9 ! line 3: To_Account is empty",
			"3/4/12 ! line 4: the quoted cell 2 does not end on its line",
			"4/5/18 ! line 5: cell 2 has 'b' after its closing quote",
			"5/6/26 ! line 6: cell 2 has a quote inside it",
			"6/7/33 ! line 7: the line is not valid UTF-8",
			"7/8/38 ! line 8: To_Account \"u\\x017\" contains a control character",
			"8/9/44 ! line 9: To_Account \"xxxxx",
			"9/10/80 ! line 10: tag 1 of account \"u8\" is 51 bytes",
			"10/11/135 u9 [ok]",
		}},
		{name: "too many tags", input: "u1" + strings.Repeat(",t", 101) + "\n" +
			"u2" + strings.Repeat(",t", 150) + ",x\n", want: []string{
			"0/1/0 u1 [t]", "1/2/205 u2 [t x]"}},
		{name: "many distinct tags", input: "u1" + manyTags(101) + "\n", want: []string{
			"0/1/0 ! line 1: account \"u1\" has 101 tags"}},
		{name: "line too long", opts: DecoderOptions{MaxLineBytes: 10}, input: "u1,a\n" +
			"u2," + strings.Repeat("x", 100) + "\n" + "u3,0123456\n" + "u4,01234567\r\n" + "u5,b",
			want: []string{
				"0/1/0 u1 [a]",
				"1/2/5 ! line 2: the line is longer than 10 bytes",
				"2/3/109 u3 [0123456]",
				"3/4/120 ! line 4: the line is longer than 10 bytes",
				"4/5/133 u5 [b]",
			}},
		{name: "long last line", opts: DecoderOptions{MaxLineBytes: 10}, input: "u1,a\n" + strings.Repeat("y", 50), want: []string{
			"0/1/0 u1 [a]", "1/2/5 ! line 2: the line is longer than 10 bytes"}},
		{name: "long line over a bufio buffer", input: "u1,a\n" + strings.Repeat("z", 200000) + "\nu2,b\n", want: []string{
			"0/1/0 u1 [a]", "1/2/5 ! line 2: the line is longer than 65536 bytes", "2/3/200006 u2 [b]"}},
	})
}

// manyTags returns ",t0,t1,…" with n tags.
func manyTags(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, ",t%d", i)
	}
	return b.String()
}

func TestDecodeJSONL(t *testing.T) {
	runDecodeCases(t, FormatJSONL, []decodeCase{
		{name: "basic", input: `{"To_Account":"u1","Tags":["a","b"]}` + "\n" + ` { "Tags" : [ "c" ] , "To_Account" : "u2" } `,
			want: []string{"0/1/0 u1 [a b]", "1/2/37 u2 [c]"}},
		{name: "BOM, CRLF, blank lines", input: "\xef\xbb\xbf{\"To_Account\":\"u1\",\"Tags\":[\"a\"]}\r\n\r\n \t \r\n{\"To_Account\":\"u2\",\"Tags\":[\"a\",\"a\"]}\r\n",
			want: []string{"0/1/3 u1 [a]", "1/4/44 u2 [a]"}},
		{name: "escapes", input: `{"To_Account":"u\u0031\/","Tags":["\"q\"","\u6807\u7b7e","\ud83d\ude00","a\\b"]}`,
			want: []string{`0/1/0 u1/ ["q" 标签 😀 a\b]`}},
		{name: "problems", input: strings.Join([]string{
			`{"To_Account":"u1","Tags":["a"],"Extra":1}`,
			`{"to_account":"u1","Tags":["a"]}`,
			`{"To_Account":1,"Tags":["a"]}`,
			`{"To_Account":"u1","Tags":"a"}`,
			`{"To_Account":"u1","Tags":["a",2]}`,
			`{"To_Account":"u1","Tags":null}`,
			`{"To_Account":"u1"}`,
			`{"Tags":["a"]}`,
			`{"To_Account":"u1","To_Account":"u2","Tags":["a"]}`,
			`{"To_Account":"u1","Tags":["a"]`,
			`{"To_Account":"u1","Tags":["a"]} {}`,
			`["u1",["a"]]`,
			`{"To_Account":"u1","Tags":["` + "\xff" + `"]}`,
			`{"To_Account":"","Tags":["a"]}`,
			`{"To_Account":"u1","Tags":[]}`,
			`{"To_Account":"u\n1","Tags":["a"]}`,
			"{\"To_Account\":\"u\t1\",\"Tags\":[\"a\"]}",
			`{"To_Account":"ok","Tags":["a"]}`,
		}, "\n"), want: []string{
			`0/1/0 ! line 1: unknown field "Extra": a record has only To_Account and Tags`,
			`1/2/43 ! line 2: unknown field "to_account" (did you mean "To_Account"?)`,
			`2/3/76 ! line 3: To_Account must be a string`,
			`3/4/106 ! line 4: Tags must be an array of strings`,
			`4/5/137 ! line 5: Tags must be an array of strings`,
			`5/6/172 ! line 6: Tags must be an array of strings`,
			`6/7/204 ! line 7: Tags is missing`,
			`7/8/224 ! line 8: To_Account is missing`,
			`8/9/239 ! line 9: To_Account appears twice`,
			`9/10/290 ! line 10: invalid JSON at column 31: unexpected end of JSON input`,
			`10/11/322 ! line 11: invalid JSON at column 34: invalid character '{' after top-level value`,
			`11/12/358 ! line 12: must be a JSON object with To_Account and Tags`,
			`12/13/371 ! line 13: the line is not valid UTF-8`,
			`13/14/404 ! line 14: To_Account is empty`,
			`14/15/435 ! line 15: account "u1" has no tags`,
			`15/16/465 ! line 16: To_Account "u\n1" contains a control character`,
			`16/17/500 ! line 17: invalid JSON at column 17: invalid character '\t' in string literal`,
			`17/18/534 ok [a]`,
		}},
		{name: "line too long", opts: DecoderOptions{MaxLineBytes: 40}, input: `{"To_Account":"u1","Tags":["a"]}` + "\n" +
			`{"To_Account":"u2","Tags":["` + strings.Repeat("b", 40) + `"]}` + "\n" + `{"To_Account":"u3","Tags":["c"]}`,
			want: []string{"0/1/0 u1 [a]", "1/2/33 ! line 2: the line is longer than 40 bytes", "2/3/105 u3 [c]"}},
	})
}

func TestDecodeJSON(t *testing.T) {
	pretty := `{
  "UserTags": [
    {"To_Account": "u1", "Tags": ["a", "b"]},
    {"To_Account": "u2", "Tags": "a"},
    7,
    {
      "To_Account": "u3",
      "Tags": ["c", "c"]
    }
  ]
}
`
	runDecodeCases(t, FormatJSON, []decodeCase{
		{name: "UserTags", input: pretty, want: []string{
			"0/2/17 u1 [a b]",
			"1/3/62 ! UserTags[1]: Tags must be an array of strings",
			"2/4/101 ! UserTags[2]: must be a JSON object with To_Account and Tags",
			"3/5/108 u3 [c]",
		}},
		{name: "UserTags with BOM", input: "\xef\xbb\xbf" + `{"UserTags":[{"To_Account":"u1","Tags":["a"]}]}`, want: []string{
			"0/1/16 u1 [a]"}},
		{name: "empty UserTags", input: `{"UserTags":[]}`, want: nil},
		{name: "bulk, Tags first", input: `{"Tags":["a","b","a"],"To_Account":["u1","u2",3,"",null]}`, want: []string{
			"0/1/36 u1 [a b]",
			"1/1/40 u2 [a b]",
			"2/1/45 ! To_Account[2]: must be a string",
			"3/1/47 ! To_Account[3]: To_Account is empty",
			"4/1/50 ! To_Account[4]: must be a string",
		}},
		{name: "bulk, To_Account first", input: "{\"To_Account\":[\n\"u1\",\n\"u2\",\n\"\xff\"\n],\n\"Tags\":[\"a\"]}", want: []string{
			"0/1/15 u1 [a]",
			"1/2/20 u2 [a]",
			"2/3/26 ! To_Account[2]: not valid UTF-8",
		}},
		{name: "bulk, empty tags", input: `{"Tags":[],"To_Account":["u1"]}`, want: []string{
			`0/1/25 ! To_Account[0]: account "u1" has no tags`}},
		{name: "empty document", input: " \n", want: []string{"ERR the document is empty"}},
		{name: "not an object", input: `[{"To_Account":"u1","Tags":["a"]}]`, want: []string{
			"ERR at line 1 (byte offset 0): the document must be a JSON object"}},
		{name: "no records field", input: `{}`, want: []string{"ERR the document has no records"}},
		{name: "unknown field", input: "{\"UserTags\":[],\n\"Mode\":1}", want: []string{
			`ERR at line 2 (byte offset 16): unknown field "Mode"`}},
		{name: "mixed forms", input: `{"UserTags":[{"To_Account":"u1","Tags":["a"]}],"Tags":["a"]}`, want: []string{
			"0/1/13 u1 [a]", "ERR the field Tags mixes both forms"}},
		{name: "mixed forms, bulk first", input: `{"Tags":["a"],"UserTags":[]}`, want: []string{
			"ERR the field UserTags mixes both forms"}},
		{name: "repeated field", input: `{"UserTags":[],"UserTags":[]}`, want: []string{
			"ERR the field UserTags appears twice"}},
		{name: "UserTags not an array", input: `{"UserTags":{"To_Account":"u1"}}`, want: []string{
			"ERR UserTags must be an array"}},
		{name: "To_Account not an array", input: `{"Tags":["a"],"To_Account":"u1"}`, want: []string{
			"ERR To_Account must be an array"}},
		{name: "Tags not an array of strings", input: `{"To_Account":["u1"],"Tags":["a",1]}`, want: []string{
			"ERR Tags must be an array of strings"}},
		{name: "To_Account without Tags", input: `{"To_Account":["u1"]}`, want: []string{
			"ERR To_Account comes without Tags"}},
		{name: "Tags without To_Account", input: `{"Tags":["a"]}`, want: []string{
			"ERR Tags comes without To_Account"}},
		{name: "trailing data", input: "{\"UserTags\":[{\"To_Account\":\"u1\",\"Tags\":[\"a\"]}]}\n\n  x", want: []string{
			"0/1/13 u1 [a]", "ERR at line 3 (byte offset 51): unexpected data after the end of the document"}},
		{name: "second document", input: `{"UserTags":[]} {}`, want: []string{
			"ERR at line 1 (byte offset 16): unexpected data after the end of the document"}},
		{name: "syntax error in an element", input: "{\"UserTags\":[\n{\"To_Account\":\"u1\",\"Tags\":[\"a\"]},\n{\"To_Account\":\"u2\",,}]}", want: []string{
			"0/1/13 u1 [a]", "ERR at line 3 (byte offset 67): invalid JSON: invalid character ','"}},
		{name: "syntax error between fields", input: "{\"UserTags\":[]\n \"x\"", want: []string{
			"ERR at line 2 (byte offset 16): invalid JSON"}},
		{name: "truncated", input: `{"UserTags":[{"To_Account":"u1","Tags":["a"]},`, want: []string{
			"0/1/13 u1 [a]", "ERR the document ends before it is complete"}},
		{name: "value too long", opts: DecoderOptions{MaxLineBytes: 100}, input: `{"UserTags":[{"To_Account":"u1","Tags":["a"]},` +
			`{"To_Account":"u2","Tags":["` + strings.Repeat("b", 100000) + `"]}]}`, want: []string{
			"0/1/13 u1 [a]", "ERR at line 1 (byte offset 46): a JSON value (or a run of white space) is longer than 100 bytes"}},
	})
}

// gzipped compresses s.
func gzipped(t testing.TB, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := io.WriteString(zw, s); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestDecodeGzip(t *testing.T) {
	inputs := []struct {
		name  string
		input string
		want  []string
	}{
		{"users.csv.gz", "\xef\xbb\xbfTo_Account,Tags\r\nu1,a\r\n\r\nu2,b\r\n", []string{"0/2/20 u1 [a]", "1/4/28 u2 [b]"}},
		{"users.jsonl", `{"To_Account":"u1","Tags":["a"]}` + "\n", []string{"0/1/0 u1 [a]"}},
		{"job.json.gz", `{"UserTags":[{"To_Account":"u1","Tags":["a"]}]}`, []string{"0/1/13 u1 [a]"}},
	}
	for _, tc := range inputs {
		t.Run(tc.name, func(t *testing.T) {
			format, _, err := FormatOf(tc.name)
			if err != nil {
				t.Fatal(err)
			}
			dec, err := NewDecoder(bytes.NewReader(gzipped(t, tc.input)), DecoderOptions{Format: format})
			if err != nil {
				t.Fatal(err)
			}
			if !dec.Compressed() {
				t.Error("Compressed() = false")
			}
			matchItems(t, decodeItems(t, dec), tc.want)
		})
	}
	t.Run("corrupt", func(t *testing.T) {
		z := gzipped(t, "u1,a\nu2,b\n")
		z[len(z)-5] ^= 0xff // the length in the trailer
		dec, err := NewDecoder(bytes.NewReader(z), DecoderOptions{Format: FormatCSV})
		if err != nil {
			t.Fatal(err)
		}
		matchItems(t, decodeItems(t, dec), []string{"0/1/0 u1 [a]", "1/2/5 u2 [b]", "ERR gzip: invalid checksum"})
	})
	t.Run("bad header", func(t *testing.T) {
		_, err := NewDecoder(bytes.NewReader([]byte{0x1f, 0x8b, 0}), DecoderOptions{Format: FormatCSV})
		if err == nil || !strings.Contains(err.Error(), "gzip header") {
			t.Errorf("error %v, want one about the gzip header", err)
		}
	})
	t.Run("resume at an offset", func(t *testing.T) {
		_, err := NewDecoder(bytes.NewReader(gzipped(t, "u1,a\n")), DecoderOptions{Format: FormatCSV, Start: Position{Record: 3, Line: 4, Offset: 20}})
		if err == nil || !strings.Contains(err.Error(), "resume with SkipRecords") {
			t.Errorf("error %v, want one saying to use SkipRecords", err)
		}
	})
}

func TestDecodeMaxBytes(t *testing.T) {
	t.Run("gzip bomb", func(t *testing.T) {
		zeros := gzipBomb(t, "", string(make([]byte, 4096)))
		// Refusing a bomb of zeros (one long line) allocates next to nothing;
		// one of records allocates for the records read up to the cap.
		bombs := []struct {
			format   Format
			bomb     []byte
			maxAlloc uint64
		}{
			{FormatCSV, zeros, 1 << 20},
			{FormatJSONL, zeros, 1 << 20},
			{FormatCSV, gzipBomb(t, "", "u1,a\n"), 16 << 20},
			{FormatJSON, gzipBomb(t, `{"UserTags":[`, `{"To_Account":"u1","Tags":["a"]},`), 16 << 20},
		}
		for _, tc := range bombs {
			format, bomb := tc.format, tc.bomb
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			dec, err := NewDecoder(bytes.NewReader(bomb), DecoderOptions{Format: format, MaxBytes: 1 << 20})
			if err != nil {
				t.Fatal(err)
			}
			_, err = Check(dec)
			runtime.ReadMemStats(&after)
			if !errors.Is(err, ErrInputTooLarge) {
				t.Errorf("%v: error %v, want ErrInputTooLarge", format, err)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > tc.maxAlloc {
				t.Errorf("%v: allocated %d bytes to refuse a bomb", format, alloc)
			}
		}
	})
	t.Run("plain", func(t *testing.T) {
		input := strings.Repeat("u1,a\n", 100)
		dec, _ := NewDecoder(strings.NewReader(input), DecoderOptions{Format: FormatCSV, MaxBytes: 250})
		n, err := Check(dec)
		if !errors.Is(err, ErrInputTooLarge) || n != 50 || !strings.Contains(err.Error(), "more than 250 bytes") {
			t.Errorf("Check = %d, %v; want 50 records then ErrInputTooLarge", n, err)
		}
		dec, _ = NewDecoder(strings.NewReader(input), DecoderOptions{Format: FormatCSV, MaxBytes: 500})
		if n, err := Check(dec); n != 100 || err != nil {
			t.Errorf("at the cap: Check = %d, %v; want 100, nil", n, err)
		}
	})
}

// gzipBomb returns gzip data that inflates to head followed by 64 MiB of body
// repeated: a 1 MiB member, compressed once, repeated 64 times.
func gzipBomb(t *testing.T, head, body string) []byte {
	t.Helper()
	var member bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&member, gzip.BestCompression)
	for range (1 << 20) / len(body) {
		io.WriteString(zw, body)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	bomb := gzipped(t, head)
	for range 64 {
		bomb = append(bomb, member.Bytes()...)
	}
	if len(bomb) > 1<<20 {
		t.Fatalf("the bomb is %d bytes", len(bomb))
	}
	return bomb
}

func TestDecoderOptions(t *testing.T) {
	tests := []struct {
		name string
		opts DecoderOptions
		want string
	}{
		{"no format", DecoderOptions{}, "unknown input format"},
		{"negative skip", DecoderOptions{Format: FormatCSV, SkipRecords: -1}, "SkipRecords is negative"},
		{"JSON start", DecoderOptions{Format: FormatJSON, Start: Position{Record: 2, Offset: -1}}, "not a place inside a JSON document's array"},
		{"JSON start without context", DecoderOptions{Format: FormatJSON, Start: Position{Record: 2, Offset: 40}}, "not a place inside a JSON document's array"},
		{"JSON start in another array", DecoderOptions{Format: FormatJSON, Start: Position{Record: 2, Offset: 40, JSON: &JSONContext{Array: "Tags"}}}, `unknown JSON context (array "Tags")`},
		{"no offset", DecoderOptions{Format: FormatCSV, Start: Position{Record: 2, Line: 3, Offset: -1}}, "no byte offset"},
		{"negative record", DecoderOptions{Format: FormatCSV, Start: Position{Record: -2}}, "is not a position"},
	}
	for _, tc := range tests {
		_, err := NewDecoder(strings.NewReader("u1,a\n"), tc.opts)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
	// Offset -1 is fine for a JSON document's start.
	if _, err := NewDecoder(strings.NewReader("{}"), DecoderOptions{Format: FormatJSON, Start: Position{Offset: -1}}); err != nil {
		t.Errorf("JSON from Offset -1: %v", err)
	}
}

// resumeInputs are inputs with problems, blank lines, a header and long lines.
var resumeInputs = []struct {
	format Format
	input  string
}{
	{FormatCSV, "\xef\xbb\xbfTo_Account,Tags\r\nu1,a\r\n\r\nu2,,b\r\nu3," + strings.Repeat("x", 70) + "\r\n,,\nu4,\"c\",d\nu5,e"},
	{FormatJSONL, "\xef\xbb\xbf{\"To_Account\":\"u1\",\"Tags\":[\"a\"]}\n\n{\"To_Account\":\"u2\"}\n" + strings.Repeat(" ", 70) + "\n{\"To_Account\":\"u3\",\"Tags\":[\"b\"]}\r\n{}\n{\"To_Account\":\"u4\",\"Tags\":[\"" + strings.Repeat("y", 60) + "\"]}"},
	{FormatJSON, `{"UserTags":[{"To_Account":"u1","Tags":["a"]},3,{"To_Account":"u2","Tags":["b"]},{"To_Account":"u3","Tags":["c"]}]}`},
	{FormatJSON, "\xef\xbb\xbf{\n \"UserTags\" : [ {\"To_Account\":\"u1\",\"Tags\":[\"a\"]} ,\r\n\t3\n,\n\n{\"To_Account\":\"u2\",\n\"Tags\":[\"b\"]},{\"To_Account\":\"u3\",\"Tags\":[\"c\"]}\n]\n}\n"},
	{FormatJSON, `{"To_Account":["u1",2,"u3","u4"],"Tags":["a"]}`},
	{FormatJSON, "{\"To_Account\":[\n\"u1\",\n2 , \"u3\",\n\n\"u4\"\n],\n\"Tags\":[\"a\",\"b\"]}"},
	{FormatJSON, `{"Tags":["a"],"To_Account":["u1",2,"u3","u4"]}`},
	{FormatJSON, "{\"Tags\":[\"a\"],\n\"To_Account\":[ \"u1\" ,\n2,\"u3\"\n,\"u4\"  ]  }  "},
}

func TestDecodeResume(t *testing.T) {
	for _, in := range resumeInputs {
		t.Run(in.format.String(), func(t *testing.T) {
			full, resumes, starts := decodeWithResumes(t, in.input, DecoderOptions{Format: in.format, MaxLineBytes: 64})
			if len(full) < 4 {
				t.Fatalf("only %d records: %v", len(full), full)
			}
			for k := range full {
				opts := DecoderOptions{Format: in.format, MaxLineBytes: 64, SkipRecords: int64(k)}
				matchItems(t, decodeString(t, in.input, opts), full[k:])

				zipped, err := NewDecoder(bytes.NewReader(gzipped(t, in.input)), opts)
				if err != nil {
					t.Fatal(err)
				}
				matchItems(t, decodeItems(t, zipped), full[k:])

				// From a byte offset: where Resume said, and where the record starts (Pos).
				for _, start := range []Position{resumes[k], starts[k]} {
					opts = DecoderOptions{Format: in.format, MaxLineBytes: 64, Start: start}
					matchItems(t, decodeString(t, in.input[start.Offset:], opts), full[k:])
				}
			}
			// From after the last record: nothing is left.
			end := resumes[len(resumes)-1]
			matchItems(t, decodeString(t, in.input[end.Offset:], DecoderOptions{Format: in.format, MaxLineBytes: 64, Start: end}), nil)
			// Skipping everything leaves nothing; skipping more is an error.
			n := int64(len(full))
			matchItems(t, decodeString(t, in.input, DecoderOptions{Format: in.format, MaxLineBytes: 64, SkipRecords: n}), nil)
			matchItems(t, decodeString(t, in.input, DecoderOptions{Format: in.format, MaxLineBytes: 64, SkipRecords: n + 1}),
				[]string{fmt.Sprintf("ERR cannot skip %d records: the input has only %d", n+1, n)})
		})
	}
}

// decodeWithResumes decodes input and returns the items and, for each, the
// Resume position before it was read and its Pos; the last resume is the one
// after the last record.
func decodeWithResumes(t *testing.T, input string, opts DecoderOptions) (items []string, resumes, starts []Position) {
	t.Helper()
	dec, err := NewDecoder(strings.NewReader(input), opts)
	if err != nil {
		t.Fatal(err)
	}
	for {
		resume := dec.Resume()
		rec, err := dec.Next()
		if err == io.EOF {
			return items, append(resumes, resume), starts
		}
		pos := dec.Pos()
		at := fmt.Sprintf("%d/%d/%d", pos.Record, pos.Line, pos.Offset)
		if resume.Record != pos.Record {
			t.Errorf("Resume() before %s says record %d", at, resume.Record)
		}
		var p *Problem
		switch {
		case errors.As(err, &p):
			items = append(items, at+" ! "+p.Error())
		case err != nil:
			t.Fatal(err)
		default:
			items = append(items, fmt.Sprintf("%s %s %v", at, rec.Account, rec.Tags))
		}
		resumes, starts = append(resumes, resume), append(starts, pos)
	}
}

func TestDecodeResumeFromPos(t *testing.T) {
	// A Pos (the start of a record) is a valid Start too: the record is read again.
	input := "u1,a\nu2,b\n\nu3,c\n"
	full := decodeString(t, input, DecoderOptions{Format: FormatCSV})
	start := Position{Record: 2, Line: 4, Offset: 11}
	if want := "2/4/11 u3 [c]"; full[2] != want {
		t.Fatalf("full read: %v", full)
	}
	matchItems(t, decodeString(t, input[start.Offset:], DecoderOptions{Format: FormatCSV, Start: start}), full[2:])
	// Past line 1 a row that looks like a header is a record.
	matchItems(t, decodeString(t, "To_Account,a\n", DecoderOptions{Format: FormatCSV, Start: Position{Record: 5, Line: 7, Offset: 40}}),
		[]string{"5/7/40 To_Account [a]"})
}

func TestDecodeCheck(t *testing.T) {
	var b strings.Builder
	for i := range 50 {
		if i%2 == 0 {
			fmt.Fprintf(&b, "u%d,a\n", i)
		} else {
			fmt.Fprintf(&b, "u%d\n", i)
		}
	}
	dec, err := NewDecoder(strings.NewReader(b.String()), DecoderOptions{Format: FormatCSV})
	if err != nil {
		t.Fatal(err)
	}
	n, err := Check(dec)
	var bad *InvalidInputError
	if !errors.As(err, &bad) {
		t.Fatalf("Check = %d, %v; want an InvalidInputError", n, err)
	}
	if n != 50 || bad.Count != 25 || bad.Records != 50 || len(bad.Problems) != MaxProblems {
		t.Errorf("n %d, Count %d, Records %d, %d problems listed", n, bad.Count, bad.Records, len(bad.Problems))
	}
	first := bad.Problems[0]
	if first.Where != "line 2" || first.Pos != (Position{Record: 1, Line: 2, Offset: 5}) || !strings.Contains(first.Reason, "no tags") {
		t.Errorf("first problem %+v", first)
	}
	if !strings.Contains(err.Error(), "… and 5 more") {
		t.Errorf("error text:\n%v", err)
	}
}

// jobRecords is the records of what ReadJob returned.
func jobRecords(j *Job, err error) ([]Record, error) {
	if j == nil {
		return nil, err
	}
	return j.Records, err
}

func TestReadJob(t *testing.T) {
	recs, err := jobRecords(ReadJob(strings.NewReader(`{"UserTags":[{"To_Account":"u1","Tags":["a","b"]},{"To_Account":"u2","Tags":["c"]}]}`), JobLimits{}))
	if err != nil || len(recs) != 2 || recs[1].Account != "u2" || strings.Join(recs[0].Tags, ",") != "a,b" {
		t.Errorf("ReadJob = %+v, %v", recs, err)
	}
	recs, err = jobRecords(ReadJob(bytes.NewReader(gzipped(t, `{"Tags":["a"],"To_Account":["u1","u2","u3"]}`)), JobLimits{}))
	if err != nil || len(recs) != 3 || recs[2].Account != "u3" {
		t.Errorf("ReadJob bulk gzip = %+v, %v", recs, err)
	}

	var many strings.Builder
	many.WriteString(`{"UserTags":[{"To_Account":"ok","Tags":["a"]}`)
	for range 30 {
		many.WriteString(`,{"To_Account":"u","Tags":[1]}`)
	}
	many.WriteString(`]}`)
	_, err = ReadJob(strings.NewReader(many.String()), JobLimits{})
	var bad *InvalidInputError
	if !errors.As(err, &bad) || bad.Count != 30 || bad.Records != 31 || len(bad.Problems) != MaxProblems ||
		bad.Problems[0].Error() != "UserTags[1]: Tags must be an array of strings" {
		t.Errorf("ReadJob with problems: %v", err)
	}

	for _, tc := range []struct{ input, want string }{
		{`{"UserTags":[]}`, "the job has no records"},
		{`{"Tags":["a"],"To_Account":[]}`, "the job has no records"},
		{``, "the document is empty"},
		{`{"UserTags":[{"To_Account":"u1","Tags":["a"]}]`, "the document ends before it is complete"},
		{`{"UserTags":[{"To_Account":"u1","Tags":["a"]}]}]`, "unexpected data after the end of the document"},
		{`{"UserTags":[],"Foo":1}`, `unknown field "Foo"`},
	} {
		recs, err := jobRecords(ReadJob(strings.NewReader(tc.input), JobLimits{}))
		if err == nil || !strings.Contains(err.Error(), tc.want) || recs != nil {
			t.Errorf("ReadJob(%q) = %v, %v; want an error containing %q", tc.input, recs, err, tc.want)
		}
	}
	if _, err := ReadJob(strings.NewReader(`{"UserTags":[]}`), JobLimits{}); !errors.Is(err, ErrNoRecords) {
		t.Errorf("no records: %v, want ErrNoRecords", err)
	}
}

func TestReadJobLimits(t *testing.T) {
	three := `{"To_Account":["u1","u2","u3"],"Tags":["a"]}`
	threeBad := `{"UserTags":[{"To_Account":"u1","Tags":[1]},{"To_Account":"u2","Tags":["a"]},{"To_Account":"u3","Tags":["a"]}]}`
	tests := []struct {
		name    string
		input   string
		lim     JobLimits
		want    int   // records returned
		wantErr error // wrapped by the error
	}{
		{"at the record cap", three, JobLimits{MaxRecords: 3}, 3, nil},
		{"past the record cap", three, JobLimits{MaxRecords: 2}, 0, ErrTooManyRecords},
		{"past the cap with a problem before it: the cap wins", threeBad, JobLimits{MaxRecords: 2}, 0, ErrTooManyRecords},
		{"past the byte cap", three, JobLimits{MaxBytes: 10}, 0, ErrInputTooLarge},
		{"no cap", three, JobLimits{}, 3, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs, err := jobRecords(ReadJob(strings.NewReader(tt.input), tt.lim))
			if len(recs) != tt.want || !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("ReadJob = %d records, %v; want %d, %v", len(recs), err, tt.want, tt.wantErr)
			}
			if tt.wantErr == ErrTooManyRecords && !strings.Contains(err.Error(), "more than 2 records") {
				t.Errorf("error %q does not say the cap", err)
			}
		})
	}
}

func TestDecodeInternsTags(t *testing.T) {
	dec, err := NewDecoder(strings.NewReader("u1,a,b\nu2,b,a\n"), DecoderOptions{Format: FormatCSV})
	if err != nil {
		t.Fatal(err)
	}
	r1, _ := dec.Next()
	r2, _ := dec.Next()
	if unsafe.StringData(r1.Tags[0]) != unsafe.StringData(r2.Tags[1]) {
		t.Error("tag a is not interned")
	}
	r2.Tags = append(r2.Tags, "c")
	r2.Tags[0] = "z"
	if r1.Tags[0] != "a" || r1.Tags[1] != "b" {
		t.Errorf("changing a record's tags changed another's: %v", r1.Tags)
	}
}

func TestDecodeReadError(t *testing.T) {
	boom := errors.New("boom")
	r := io.MultiReader(strings.NewReader("u1,a\nu2,"), iotestErrReader{boom})
	dec, err := NewDecoder(r, DecoderOptions{Format: FormatCSV})
	if err != nil {
		t.Fatal(err)
	}
	items := decodeItems(t, dec)
	matchItems(t, items, []string{"0/1/0 u1 [a]", "ERR reading line 2: boom"})
	_, err = dec.Next()
	if !errors.Is(err, boom) {
		t.Errorf("error %v does not wrap the cause", err)
	}
}

type iotestErrReader struct{ err error }

func (r iotestErrReader) Read([]byte) (int, error) { return 0, r.err }
