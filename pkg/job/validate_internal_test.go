package job

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"testing"

	"github.com/removetag/removetag/pkg/records"
)

// closeAfter closes done once r has served more than n bytes: a job canceled
// while its file is being read.
type closeAfter struct {
	r    io.Reader
	n    int
	done chan struct{}
}

func (c *closeAfter) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	if c.n -= k; c.n < 0 && c.done != nil {
		close(c.done)
		c.done = nil
	}
	return k, err
}

// TestCutValidationResumes cuts a validation pass (records.Check over a
// cutSource, which reads past valid rows with SkipValid) at several places and
// goes on from the decoder's Resume: the two parts count every record once and
// find the problems of the whole file, each at its own line.
func TestCutValidationResumes(t *testing.T) {
	var in bytes.Buffer
	in.WriteString("To_Account,Tags\n")
	for i := range 30_000 {
		switch {
		case i%1999 == 0:
			fmt.Fprintf(&in, "u%d\n", i) // no tag: a problem
		case i%501 == 0:
			fmt.Fprintf(&in, "\"u%d\",\"a b\"\n", i) // quoted: decoded, valid
		default:
			fmt.Fprintf(&in, "u%d,vip\n", i)
		}
	}
	data := in.Bytes()
	whole, werr := records.Check(mustDecoder(t, bytes.NewReader(data), records.Position{}))
	var want *records.InvalidInputError
	if !errors.As(werr, &want) || whole != 30_000 || want.Count != 16 {
		t.Fatalf("the whole file: %d records, %v", whole, werr)
	}
	for _, at := range []int{1, 70_000, 150_000, 300_000} {
		t.Run(fmt.Sprint(at), func(t *testing.T) {
			done := make(chan struct{})
			dec := mustDecoder(t, &closeAfter{r: bytes.NewReader(data), n: at, done: done}, records.Position{})
			src := &cutSource{dec: dec, done: done}
			n1, err1 := records.Check(src)
			if !src.cut {
				t.Fatalf("the pass was not cut (%d records)", n1)
			}
			pos := dec.Resume()
			n2, err2 := records.Check(mustDecoder(t, bytes.NewReader(data[pos.Offset:]), pos))
			if n1+n2 != whole {
				t.Fatalf("%d + %d records, want %d", n1, n2, whole)
			}
			var got []records.Problem
			for _, err := range []error{err1, err2} {
				var bad *records.InvalidInputError
				if errors.As(err, &bad) {
					got = append(got, bad.Problems...)
				} else if err != nil {
					t.Fatal(err)
				}
			}
			if !reflect.DeepEqual(got, want.Problems) {
				t.Errorf("problems of the two parts:\n%+v\nof the whole file:\n%+v", got, want.Problems)
			}
		})
	}
}

func mustDecoder(t *testing.T, r io.Reader, start records.Position) *records.Decoder {
	t.Helper()
	dec, err := records.NewDecoder(r, records.DecoderOptions{Format: records.FormatCSV, Start: start})
	if err != nil {
		t.Fatal(err)
	}
	return dec
}
