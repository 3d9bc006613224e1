package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/removetag/removetag/pkg/records"
)

// input is one file to process. Standard input is spooled to a temporary file,
// because the input is read twice: once to validate it, once to send it.
type input struct {
	name    string
	path    string
	temp    bool
	format  records.Format
	records int64
	open    *os.File // the file behind the current decoder
}

func openInputs(names []string, format string, stdin io.Reader) ([]*input, error) {
	var inputs []*input
	for _, name := range names {
		in := &input{name: name, path: name}
		if name == "-" {
			in.name = "stdin"
			f, err := os.CreateTemp("", "removetag-stdin-*")
			if err != nil {
				return nil, fmt.Errorf("spool standard input: %w", err)
			}
			_, err = io.Copy(f, stdin)
			f.Close()
			in.path, in.temp = f.Name(), true
			if err != nil {
				closeInputs(append(inputs, in))
				return nil, fmt.Errorf("read standard input: %w", err)
			}
		}
		f, err := formatOf(in, format)
		if err != nil {
			closeInputs(append(inputs, in))
			return nil, err
		}
		in.format = f
		inputs = append(inputs, in)
	}
	return inputs, nil
}

// formatOf picks the format: the flag first, else the file name.
func formatOf(in *input, flagFormat string) (records.Format, error) {
	if flagFormat != "" {
		f, _, err := records.FormatOf("x." + strings.TrimPrefix(strings.ToLower(flagFormat), "."))
		if err != nil {
			return 0, fmt.Errorf("--format %q: want csv, jsonl or json", flagFormat)
		}
		return f, nil
	}
	if in.temp {
		return 0, fmt.Errorf("standard input: give its format with --format csv|jsonl|json")
	}
	f, _, err := records.FormatOf(in.name)
	if err != nil {
		return 0, fmt.Errorf("%s: %w (or give --format)", in.name, err)
	}
	return f, nil
}

// decoder opens the input afresh and returns a decoder over it (gzip is detected).
func (in *input) decoder() (*records.Decoder, error) {
	if in.open != nil {
		in.open.Close()
	}
	f, err := os.Open(in.path)
	if err != nil {
		return nil, err
	}
	in.open = f
	return records.NewDecoder(f, records.DecoderOptions{Format: in.format})
}

func closeInputs(inputs []*input) {
	for _, in := range inputs {
		if in.open != nil {
			in.open.Close()
		}
		if in.temp {
			os.Remove(in.path)
		}
	}
}
