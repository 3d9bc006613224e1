package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/removetag/removetag/pkg/records"
)

// leftovers are the records a run leaves: the pending ones (not sent, or
// with no known outcome, or refused for the configuration) and the failed
// ones (refused for good), each in a file in the API's JSON Lines form,
// {"To_Account":…,"Tags":[…]} a line, ready to run again. The files are made
// only when they get a record, in dir, named by the run's start. Beside them,
// the journal of the tags the run removed (journal.go), unless it keeps none.
type leftovers struct {
	dir     string
	stamp   string
	pending jsonlFile
	failed  jsonlFile
	journal *runJournal // nil: no journal
}

func newLeftovers(dir string, start time.Time) *leftovers {
	stamp := start.Format("20060102-150405")
	for n := 2; taken(dir, stamp); n++ {
		// A run started within the same second: the files are never overwritten.
		stamp = start.Format("20060102-150405") + "-" + strconv.Itoa(n)
	}
	l := &leftovers{dir: dir, stamp: stamp}
	l.pending.path = filepath.Join(dir, "removetag-"+l.stamp+"-pending.jsonl")
	l.failed.path = filepath.Join(dir, "removetag-"+l.stamp+"-failed.jsonl")
	return l
}

// taken reports whether a file of a run started at stamp is in dir.
func taken(dir, stamp string) bool {
	found, _ := filepath.Glob(filepath.Join(dir, "removetag-"+stamp+"-*"))
	return len(found) > 0
}

// checkOutDir makes sure the leftovers can be written to dir, before any call.
func checkOutDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return usageErr("--out %s: %v", dir, err)
	}
	f, err := os.CreateTemp(dir, ".removetag-probe-*")
	if err != nil {
		return usageErr("--out %s: the pending and failed records could not be written there: %v", dir, err)
	}
	f.Close()
	return os.Remove(f.Name())
}

// addPending writes held, then the records of in from index from to its end.
func (l *leftovers) addPending(in *input, held []records.Record, from int64) error {
	for _, r := range held {
		l.pending.add(r)
	}
	if from < in.records {
		dec, err := in.decoder(from)
		if err != nil {
			return fmt.Errorf("%s: %w", in.name, err)
		}
		for {
			rec, err := dec.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return fmt.Errorf("%s: reading the records left: %w", in.name, err)
			}
			l.pending.add(rec)
		}
	}
	return l.pending.err
}

// close flushes the files and returns the first error.
func (l *leftovers) close() error {
	return errors.Join(l.pending.close(), l.failed.close(), l.journal.close())
}

// jsonlFile is a file of records in JSON Lines, made on its first record.
type jsonlFile struct {
	path string
	f    *os.File
	w    *bufio.Writer
	n    int64
	err  error
}

func (j *jsonlFile) add(rec records.Record) {
	if j.err != nil {
		return
	}
	if j.f == nil {
		// O_EXCL: never overwrite a file of an earlier run.
		if j.f, j.err = os.OpenFile(j.path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600); j.err != nil {
			return
		}
		j.w = bufio.NewWriterSize(j.f, 64<<10)
	}
	line, err := rec.JSONLine()
	if err == nil {
		line = append(line, '\n')
		_, err = j.w.Write(line)
	}
	if err != nil {
		j.err = fmt.Errorf("write %s: %w", j.path, err)
		return
	}
	j.n++
}

func (j *jsonlFile) close() error {
	if j.f == nil {
		return j.err
	}
	err := j.w.Flush()
	if cerr := j.f.Close(); err == nil {
		err = cerr
	}
	j.f = nil
	if j.err == nil && err != nil {
		j.err = fmt.Errorf("write %s: %w", j.path, err)
	}
	return j.err
}

// shellQuote quotes s for a POSIX shell where it needs it.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:@+,", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
