package imapi

import (
	"errors"
	"fmt"
	"io"
)

// DecodeJob reads a whole job document held in memory, such as the body of an
// HTTP request: a JSON document in either form (see FormatJSON), gzip-compressed
// or not. Every record is validated; if any is invalid, the error is an
// *InvalidInputError listing the first MaxProblems problems, each with its element
// ("UserTags[3]"), and counting them all. A document without records is an error too.
func DecodeJob(r io.Reader) ([]Record, error) {
	dec, err := NewDecoder(r, DecoderOptions{Format: FormatJSON})
	if err != nil {
		return nil, err
	}
	var (
		recs []Record
		bad  InvalidInputError
		n    int64
	)
	for ; ; n++ {
		rec, err := dec.Next()
		if err == io.EOF {
			break
		}
		var p *Problem
		switch {
		case errors.As(err, &p):
			bad.add(p)
		case err != nil:
			return nil, err
		default:
			recs = append(recs, rec)
		}
	}
	switch {
	case bad.Count > 0:
		bad.Records = n
		return nil, &bad
	case n == 0:
		return nil, fmt.Errorf("imapi: the job has no records: its UserTags (or To_Account) array is empty")
	}
	return recs, nil
}
