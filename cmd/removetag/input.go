package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/removetag/removetag/pkg/records"
	"github.com/spf13/cobra"
)

// inputFlags say how to read an input (run's and plan's): --format,
// --header, --no-header.
type inputFlags struct {
	format           string
	header, noHeader bool
}

// addTo declares the flags on c.
func (f *inputFlags) addTo(c *cobra.Command) {
	fs := c.Flags()
	fs.StringVar(&f.format, "format", "", "input format when the name does not tell (stdin): csv, jsonl or json")
	fs.BoolVar(&f.header, "header", false, "a CSV input's first row is a header: skip it, whatever it holds")
	fs.BoolVar(&f.noHeader, "no-header", false, "a CSV input's first row is a record, even if it looks like a header")
	c.MarkFlagsMutuallyExclusive("header", "no-header")
}

// headerMode is what --header and --no-header say.
func (f *inputFlags) headerMode() records.HeaderMode {
	switch {
	case f.header:
		return records.HeaderPresent
	case f.noHeader:
		return records.HeaderAbsent
	}
	return records.HeaderAuto
}

// input is one file to process. Standard input is spooled to a temporary
// file, because the input is read more than once (to validate it, to send it,
// to write what is left); the file is unlinked as soon as it is made, so that
// no copy of the account list outlives the process however it ends.
type input struct {
	name   string
	path   string   // "" for standard input: read through spool
	spool  *os.File // standard input's copy, already unlinked
	remove string   // the copy's name, where it could not be unlinked while open
	format records.Format
	header records.HeaderMode
	// accountsOnly: --all-tags, the input is accounts alone.
	accountsOnly bool
	records      int64    // counted by the validation pass
	open         *os.File // the file behind the current decoder
}

func openInputs(names []string, format string, header records.HeaderMode, stdin io.Reader) ([]*input, error) {
	var inputs []*input
	for _, name := range names {
		in := &input{name: name, path: name, header: header}
		if name == "-" {
			in.name, in.path = "stdin", ""
			if slices.ContainsFunc(inputs, func(i *input) bool { return i.spool != nil }) {
				closeInputs(inputs)
				return nil, fmt.Errorf("standard input (-) is named twice")
			}
			var err error
			if in.spool, in.remove, err = spool(stdin); err != nil {
				closeInputs(inputs)
				return nil, err
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

// spool copies r to a temporary file that is unlinked at once; on systems
// that cannot remove an open file, remove names it, to remove when closed.
func spool(r io.Reader) (f *os.File, remove string, err error) {
	if f, err = os.CreateTemp("", "removetag-stdin-*"); err != nil {
		return nil, "", fmt.Errorf("spool standard input: %w", err)
	}
	if os.Remove(f.Name()) != nil {
		remove = f.Name()
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		if remove != "" {
			os.Remove(remove)
		}
		return nil, "", fmt.Errorf("read standard input: %w", err)
	}
	return f, remove, nil
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
	if in.spool != nil {
		return 0, fmt.Errorf("standard input: give its format with --format csv|jsonl|json")
	}
	f, _, err := records.FormatOf(in.name)
	if err != nil {
		return 0, fmt.Errorf("%s: %w (or give --format)", in.name, err)
	}
	return f, nil
}

// decoder opens the input afresh and returns a decoder over it (gzip is
// detected) that skips its first skip records.
func (in *input) decoder(skip int64) (*records.Decoder, error) {
	if in.open != nil && in.open != in.spool {
		in.open.Close()
	}
	in.open = nil
	var f *os.File
	if in.spool != nil {
		if _, err := in.spool.Seek(0, io.SeekStart); err != nil {
			return nil, err
		}
		f = in.spool
	} else {
		var err error
		if f, err = os.Open(in.path); err != nil {
			return nil, err
		}
	}
	in.open = f
	return records.NewDecoder(f, records.DecoderOptions{Format: in.format, Header: in.header, SkipRecords: skip, AccountsOnly: in.accountsOnly})
}

func closeInputs(inputs []*input) {
	for _, in := range inputs {
		if in.open != nil && in.open != in.spool {
			in.open.Close()
		}
		if in.spool != nil {
			in.spool.Close()
		}
		if in.remove != "" {
			os.Remove(in.remove)
		}
	}
}
