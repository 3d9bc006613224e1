package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/journal"
	"github.com/removetag/removetag/pkg/records"
)

// The journal of a run (package journal): the tags the run really removed,
// in --out beside the files of records left, removetag-{start}-journal.jsonl,
// one {"To_Account":…,"Tags":[…]} line per account that lost tags, ready to be
// added back.
//
// Each input's run is journaled by pkg/journal's Recorder, as a file job's
// send pass is: every batch's accounts are read before the batch is sent and
// the listed tags they carry are written ahead to a log file (synced before the
// call), the outcome after. When the input's run ends, however it ends (done,
// --timeout, Ctrl-C, SIGTERM, a refusal), the log is merged (journal.Merge)
// into the journal, the pairs whose outcome is unknown (calls cut off by the
// stop) resolved by reading their accounts again, and the log is deleted. So
// a run stopped and continued with the command its summary names journals
// each removed pair once: a cut-off call whose tags are found gone is in the
// stopped run's journal, and the continuing run, reading those accounts
// before it removes, finds nothing of it to journal.
//
// Each input is merged before the next one starts, so that every input's
// Changed and TagsRemoved are its own: an account named by two inputs may have
// a line from each, with different tags.
//
// A run that ends before its merge (SIGKILL, a crash, a power cut, a second
// Ctrl-C) leaves its log; the next run with the same --out, or an undo of a
// journal of that folder, merges it into that run's journal before it sends
// anything (recover.go). So that it can tell a log left from the log of a run
// still going, a run holds a lock on its log (flock: the kernel releases it at
// the process's death), and the log's first line names the app it was written
// for (logHead). A merge first renames the log to say how long the journal was
// before it (….merging-{bytes}), so that a merge cut short is done again from
// there, never twice.

// settleAfterCut is how long the merge waits before reading again the accounts
// of calls cut off by the run's stop: the service may still apply a call whose
// request reached it as the client gave up, and a read before that would find
// the tag still there (and the continuing run would then find it gone).
const settleAfterCut = 2 * time.Second

// runJournal is the journal file of one run, made on its first line.
type runJournal struct {
	path   string // removetag-{start}-journal.jsonl
	log    string // the log of the input being run, deleted once merged
	head   []byte // the log's first line: logHead
	reader journal.Reader
	api    imapi.API // the tag API family read (the removals')
	rate   float64   // the reads' calls per second: the run's
	f      *os.File
	journal.Changes
}

// newRunJournal returns the journal of a run on t started at the leftovers' stamp.
func newRunJournal(lo *leftovers, t *target) *runJournal {
	return &runJournal{
		path:   filepath.Join(lo.dir, "removetag-"+lo.stamp+"-journal.jsonl"),
		log:    filepath.Join(lo.dir, "removetag-"+lo.stamp+logSuffix),
		head:   headOf(t),
		reader: t.counter.reading(t.tags), api: t.api, rate: t.rate,
	}
}

// inputJournal journals one input's run.
type inputJournal struct {
	j       *runJournal
	log     *os.File // locked while the run goes
	name    string   // its name now: j.log, or j.log's while merged
	rec     *journal.Recorder
	unknown atomic.Int64 // batches that ended with an account of unknown outcome
}

// start opens the log of the run of an input of records, written at the
// spacing of the run's expected length at the rate (journal.GroupEveryFor),
// its reads paced by reads (nil: at the run's rate).
func (j *runJournal) start(records int64, reads imapi.Limiter) (*inputJournal, error) {
	f, err := createLog(j.log, j.head)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	ij := &inputJournal{j: j, log: f, name: j.log}
	if reads == nil {
		reads = imapi.NewTokenBucket(j.rate)
	}
	ij.rec, err = journal.NewRecorder(journal.Config{
		Reader: j.reader, API: j.api, Sink: fileSink{f}, Limiter: reads, Attempt: "run",
		GroupEvery: journal.GroupEveryFor(time.Duration(float64(records) / (j.rate * imapi.MaxAccountsPerCall) * float64(time.Second))),
	})
	if err != nil {
		f.Close()
		os.Remove(j.log)
		return nil, err
	}
	return ij, nil
}

// option is the run option that journals the input's run: the recorder's
// Prepare, whose outcomes are watched for calls cut off. A batch whose read
// the service refused is not sent, and its records go where those of a
// refused removal go (refused: the failed file, or held pending for a
// configuration refusal); one left pending (a read to retry, the run
// stopping) goes nowhere.
func (ij *inputJournal) option(refused func([]records.Record, error)) imapi.RunOption {
	return imapi.BeforeSend(func(ctx context.Context, calls []records.Record) (func(func(string) (bool, bool)), error) {
		done, err := ij.rec.Prepare(ctx, calls)
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, imapi.ErrWouldOverrun) && imapi.Classify(err) != imapi.Retryable {
				refused(calls, err)
			}
			return nil, err
		}
		if done == nil {
			return nil, nil
		}
		return func(applied func(string) (bool, bool)) {
			done(applied)
			for _, c := range calls {
				if _, known := applied(c.Account); !known {
					ij.unknown.Add(1)
					return
				}
			}
		}, nil
	})
}

// finish closes the log and merges it into the run's journal, and returns
// what the input changed. The merge's reads run after a signal too (a second
// one ends the process, and the log is then left in --out).
func (ij *inputJournal) finish() (journal.Changes, error) {
	var c journal.Changes
	defer ij.log.Close() // after the log is removed: its lock goes with it
	if _, err := ij.rec.Close(context.Background()); err != nil {
		return c, fmt.Errorf("%w (the log is kept: %s)", err, ij.name)
	}
	if ij.unknown.Load() > 0 {
		time.Sleep(settleAfterCut)
	}
	size, err := ij.log.Seek(0, io.SeekEnd)
	if err != nil {
		return c, fmt.Errorf("journal: %w", err)
	}
	var at int64 // the journal's length before this merge
	if ij.j.f != nil {
		fi, err := ij.j.f.Stat()
		if err != nil {
			return c, fmt.Errorf("journal: %w", err)
		}
		at = fi.Size()
	}
	if ij.name, err = markMerging(ij.j.log, at); err != nil {
		return c, fmt.Errorf("journal: %w", err)
	}
	out := &lazyFile{path: ij.j.path, f: &ij.j.f}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	from := int64(len(ij.j.head))
	st, err := journal.Merge(ctx, io.NewSectionReader(ij.log, from, size-from), size-from, ij.j.reader, ij.j.api, imapi.NewTokenBucket(ij.j.rate), out)
	if err == nil {
		err = out.err
	}
	if err == nil && ij.j.f != nil {
		err = ij.j.f.Sync() // the journal durable before its log goes
	}
	if err != nil {
		return c, fmt.Errorf("%w (the log is kept: %s)", err, ij.name)
	}
	if err := os.Remove(ij.name); err != nil {
		return st.Changes, fmt.Errorf("journal: %w", err)
	}
	ij.j.Changed += st.Changed
	ij.j.TagsRemoved += st.TagsRemoved
	return st.Changes, nil
}

// close closes the journal file, if one was made.
func (j *runJournal) close() error {
	if j == nil || j.f == nil {
		return nil
	}
	err := j.f.Sync()
	return errors.Join(err, j.f.Close())
}

// written names the journal file, or "" if nothing was removed.
func (j *runJournal) written() string {
	if j == nil || j.f == nil {
		return ""
	}
	return j.path
}

// fileSink keeps a log in a local file: an appended chunk is synced to disk
// before Append returns, ahead of the calls it covers.
type fileSink struct{ f *os.File }

func (s fileSink) Append(_ context.Context, chunk []byte) error {
	if _, err := s.f.Write(chunk); err != nil {
		return err
	}
	return s.f.Sync()
}

// lazyFile creates the file at path on its first write (never overwriting
// one: O_EXCL) and appends to it after; *f holds it across inputs.
type lazyFile struct {
	path string
	f    **os.File
	err  error
}

func (l *lazyFile) Write(p []byte) (int, error) {
	if *l.f == nil {
		f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			l.err = fmt.Errorf("create %s: %w", l.path, err)
			return 0, l.err
		}
		*l.f = f
	}
	n, err := (*l.f).Write(p)
	if err != nil {
		l.err = fmt.Errorf("%s: %w", l.path, err)
	}
	return n, err
}

// begin starts the journal of an input's run, if the run keeps one (j not
// nil), and returns the run's options with the journal's; refused sees the
// records of a batch whose read was refused (see option). reads paces the
// reads (a share of a coordinated quota); nil: the run's rate.
func (j *runJournal) begin(in *input, opts []imapi.RunOption, refused func([]records.Record, error), reads imapi.Limiter) (*inputJournal, []imapi.RunOption, error) {
	if j == nil {
		return nil, opts, nil
	}
	ij, err := j.start(in.records, reads)
	if err != nil {
		return nil, opts, err
	}
	return ij, append(opts, ij.option(refused)), nil
}

// end merges the input's log and sets fr's Changed and TagsRemoved.
func (ij *inputJournal) end(fr *fileReport) error {
	if ij == nil {
		return nil
	}
	fr.journaled = true
	var err error
	fr.Changes, err = ij.finish()
	return err
}

// progress returns what the progress line shows of the journal: nil without one.
func (ij *inputJournal) progress() func() *journal.Changes {
	if ij == nil {
		return func() *journal.Changes { return nil }
	}
	return func() *journal.Changes {
		c := ij.rec.Removed()
		return &c
	}
}
