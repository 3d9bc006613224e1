package job

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/job/storage"
	"github.com/removetag/removetag/pkg/journal"
)

// The journal of a file job (package journal): each invocation's log of
// intents and outcomes under journal-parts/{digest}/, merged by the finish
// phase into journal/{key}.jsonl, the tags the job removed; its counts go into
// the report.
//
// Every invocation writes a log of its own, named by its place in the chain
// and its owner, so that the logs of two invocations that started from one
// checkpoint (a takeover while the owner still ran, a duplicate delivery)
// never replace each other. Unlike the failed records' parts, the logs are
// not listed in the checkpoint: the log of an invocation that was killed, or
// that lost the job, holds removals it made, and the merge needs them. The
// finish phase lists the directory, merges everything in it and deletes it:
// nothing is left behind. A log is written ahead of the calls it covers, chunk
// by chunk (a few a second: see journal.Config.GroupEvery), and left so: the
// hand-off at an invocation's end writes one chunk more at most, and the
// merge reads the chunks.

// journalOn reports whether the service journals removals.
func (s *Service) journalOn() bool { return s.cfg.Journal != nil }

// journals reports whether the job keeps a journal: a removal, where the
// service journals removals (an undo adds tags: it has nothing to journal).
func (j *fileJob) journals() bool { return j.kind == KindRemoval && j.s.journalOn() }

// logSink keeps one invocation's log in the job's bucket, as chunks; a
// send pass's also keeps a copy of them in a temporary file (unlinked at
// once), from which this invocation's own merge reads them instead of
// fetching every chunk back (a few hundred requests: journal.GroupEveryFor).
type logSink struct {
	store storage.Store
	name  string // the log's name, without ".jsonl"
	keys  []string
	copy  *os.File // nil: no copy (none made, or a write to it failed)
}

// newLogSink starts this invocation's log of a send pass; the job keeps it
// for its merge.
func (j *fileJob) newLogSink(chain int) *logSink {
	j.closeOwnLog()
	ls := &logSink{store: j.store, name: fmt.Sprintf("%s%06d-%s", j.st.keys.journalParts(), chain, j.st.owner)}
	if f, err := os.CreateTemp("", "removetag-journal-log-*.jsonl"); err == nil {
		os.Remove(f.Name()) // read through its descriptor; gone with it however the process ends
		ls.copy = f
	}
	j.ownLog = ls
	return ls
}

// Append writes the next chunk, and its copy.
func (ls *logSink) Append(ctx context.Context, chunk []byte) error {
	key := fmt.Sprintf("%s.chunk-%06d.jsonl", ls.name, len(ls.keys))
	if err := ls.store.Put(ctx, key, bytes.NewReader(chunk), "application/x-ndjson"); err != nil {
		return fmt.Errorf("write the journal's log: %w", err)
	}
	ls.keys = append(ls.keys, key)
	if ls.copy != nil {
		if _, err := ls.copy.Write(chunk); err != nil {
			ls.copy.Close()
			ls.copy = nil // the merge fetches the chunks instead
		}
	}
	return nil
}

// closeOwnLog ends the copy of this invocation's log.
func (j *fileJob) closeOwnLog() {
	if j.ownLog != nil && j.ownLog.copy != nil {
		j.ownLog.copy.Close()
	}
	j.ownLog = nil
}

// withOwnLog splits logs into those fetched and this invocation's own, whose
// copy it has: the logs' bodies to merge, the fetched ones first.
func (j *fileJob) withOwnLog(ctx context.Context, logs []storage.Info) iter.Seq2[io.Reader, error] {
	own := j.ownLog
	if own == nil || own.copy == nil || len(own.keys) == 0 {
		return j.fetchLogs(ctx, logs)
	}
	mine := make(map[string]bool, len(own.keys))
	for _, k := range own.keys {
		mine[k] = true
	}
	others := slices.DeleteFunc(slices.Clone(logs), func(i storage.Info) bool { return mine[i.Key] })
	return func(yield func(io.Reader, error) bool) {
		for r, err := range j.fetchLogs(ctx, others) {
			if !yield(r, err) || err != nil {
				return
			}
		}
		if _, err := own.copy.Seek(0, io.SeekStart); err != nil {
			yield(nil, fmt.Errorf("read this invocation's log: %w", err))
			return
		}
		yield(own.copy, nil)
	}
}

// recorder returns the journal's recorder for this invocation's send pass,
// or nil when the service does not journal.
//
// Its log is written at the spacing of the pass's expected length
// (journal.GroupEveryFor): the records left at the API's ceiling, at most the
// time to ctx's deadline.
func (j *fileJob) recorder(ctx context.Context, cp *Checkpoint) (*journal.Recorder, error) {
	if !j.journals() {
		return nil, nil
	}
	left := max(cp.Total-cp.Position.Record, 0)
	expect := time.Duration(left) * time.Second / (imapi.MaxCallsPerSecond * imapi.MaxAccountsPerCall)
	if dl, ok := ctx.Deadline(); ok {
		expect = min(expect, time.Until(dl))
	}
	ls := j.newLogSink(cp.Chain)
	return journal.NewRecorder(journal.Config{
		Reader: j.s.cfg.Journal, API: j.s.cfg.API, Sink: ls, Limiter: j.s.readPace(),
		Attempt: fmt.Sprintf("%06d-%s", cp.Chain, j.st.owner), GroupEvery: journal.GroupEveryFor(expect),
	})
}

// errMergeUnfinished says the journal's merge stopped at the invocation's
// time budget, before every removal of unknown outcome was read again: the
// finish phase is handed on, and the next invocation merges again, reading
// only the accounts the reads so far left (their findings are logs too).
var errMergeUnfinished = errors.New("the journal's merge did not fit in the invocation")

// mergeJournal merges the logs of every invocation of the job into its
// journal; it returns the journal's key and counts, and the logs, which the
// finish phase deletes once the report is written (a finish retried before
// that merges them again, to the same journal). The merge is over by work's
// end (workEnd: the reserve for the hand-off left): short of time it returns
// errMergeUnfinished, with what its reads found kept under the logs.
func (j *fileJob) mergeJournal(ctx context.Context, l *link) (key string, c journal.Changes, logs []storage.Info, err error) {
	if !j.journals() {
		return "", c, nil, nil
	}
	key, c, logs, err = j.merge(ctx, l)
	if err != nil && !errors.Is(err, errMergeUnfinished) && ctx.Err() != nil {
		// Cut off by the invocation's end: not for want of anything but time.
		j.log.Info("journal merge cut off at the invocation's end: handed on", "error", err.Error())
		return "", c, nil, errMergeUnfinished
	}
	return key, c, logs, err
}

// merge is mergeJournal's work: ctx, the invocation's, bounds the reads of
// the logs and of the accounts; the journal's write has a bookkeeping budget.
func (j *fileJob) merge(ctx context.Context, l *link) (string, journal.Changes, []storage.Info, error) {
	var c journal.Changes
	dir := j.st.keys.journalParts()
	logs, err := j.store.List(ctx, dir)
	if err != nil {
		return "", c, nil, fmt.Errorf("list the journal's logs: %w", err)
	}
	logs = slices.DeleteFunc(logs, func(i storage.Info) bool { return !strings.HasPrefix(i.Key, dir) })
	var size int64
	for _, l := range logs {
		size += l.Size
	}
	out, err := os.CreateTemp("", "removetag-journal-*.jsonl")
	if err != nil {
		return "", c, nil, fmt.Errorf("merge the journal: %w", err)
	}
	defer func() {
		out.Close()
		os.Remove(out.Name())
	}()
	// What the merge's reads find is a log of its own (named apart from any
	// other merge's), deleted with the others.
	found := &logSink{store: j.store, name: fmt.Sprintf("%s%06d-%s-merge-%d", dir, l.chain, j.st.owner, time.Now().UnixNano())}
	m := &journal.Merger{
		Reader: j.s.cfg.Journal, API: j.s.cfg.API, Limiter: j.s.cfg.JournalLimiter, Until: workEnd(ctx), Resolutions: found,
	}
	st, err := m.Merge(ctx, j.withOwnLog(ctx, logs), size, out)
	for _, k := range found.keys {
		logs = append(logs, storage.Info{Key: k})
	}
	if err != nil {
		return "", c, nil, err
	}
	attrs := []any{"logs", len(logs), "bytes", size, "unknown", st.Unknown, "reads", st.Reads, "resolved_before", st.Resolved}
	if st.Unfinished {
		l.progress = l.progress || st.Reads > 0
		j.log.Info("journal merge unfinished: handed on", attrs...)
		return "", c, nil, errMergeUnfinished
	}
	key := j.st.keys.journal()
	if _, err := out.Seek(0, io.SeekStart); err != nil {
		return "", c, nil, fmt.Errorf("merge the journal: %w", err)
	}
	bctx, cancel := bookkeeping(ctx)
	defer cancel()
	if err := j.store.Put(bctx, key, out, "application/x-ndjson"); err != nil {
		return "", c, nil, fmt.Errorf("write the journal: %w", err)
	}
	j.log.Info("journal merged", append(attrs, "changed", st.Changed, "tags_removed", st.TagsRemoved)...)
	return key, st.Changes, logs, nil
}

// logsAhead is how many logs are fetched ahead of the merge, and deleted at once.
const logsAhead = 8

// bigLog is the size above which a log is streamed to the merge rather than fetched ahead.
const bigLog = 4 << 20

// fetchLogs yields the logs' bodies in order, fetching a few ahead.
func (j *fileJob) fetchLogs(ctx context.Context, logs []storage.Info) iter.Seq2[io.Reader, error] {
	type fetched struct {
		body []byte
		err  error
	}
	return func(yield func(io.Reader, error) bool) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		got := make([]chan fetched, len(logs))
		for i := range got {
			got[i] = make(chan fetched, 1)
		}
		slots := make(chan struct{}, logsAhead)
		go func() {
			for i, l := range logs {
				select {
				case slots <- struct{}{}:
				case <-ctx.Done():
					return
				}
				if l.Size > bigLog {
					got[i] <- fetched{} // streamed below
					continue
				}
				go func() {
					body, err := j.readObject(ctx, l.Key, l.Size)
					got[i] <- fetched{body, err}
				}()
			}
		}()
		for i, l := range logs {
			// The fetcher stops at the context's end without sending for the
			// logs it has not started: waiting for them would outlive the
			// invocation's deadline.
			var f fetched
			select {
			case f = <-got[i]:
			case <-ctx.Done():
				yield(nil, fmt.Errorf("read the journal's log %s: %w", l.Key, ctx.Err()))
				return
			}
			<-slots
			if f.err == nil && f.body == nil && l.Size > bigLog {
				rc, _, err := j.store.Open(ctx, l.Key, 0, "")
				if err != nil {
					yield(nil, fmt.Errorf("read the journal's log %s: %w", l.Key, err))
					return
				}
				ok := yield(rc, nil)
				rc.Close()
				if !ok {
					return
				}
				continue
			}
			if !yield(bytes.NewReader(f.body), f.err) {
				return
			}
		}
	}
}

// readObject reads an object of about size bytes whole.
func (j *fileJob) readObject(ctx context.Context, key string, size int64) ([]byte, error) {
	rc, _, err := j.store.Open(ctx, key, 0, "")
	if err != nil {
		return nil, fmt.Errorf("read the journal's log %s: %w", key, err)
	}
	defer rc.Close()
	var body bytes.Buffer
	body.Grow(int(size) + bytes.MinRead)
	if _, err := body.ReadFrom(rc); err != nil {
		return nil, fmt.Errorf("read the journal's log %s: %w", key, err)
	}
	return body.Bytes(), nil
}

// dropLogs deletes the journal's logs once the report holds the journal, a
// few at a time.
func (j *fileJob) dropLogs(ctx context.Context, logs []storage.Info) {
	keys := make(chan string)
	var wg sync.WaitGroup
	for range min(logsAhead, len(logs)) {
		wg.Go(func() {
			for key := range keys {
				if err := j.store.Delete(ctx, key); err != nil {
					j.log.Warn("could not delete a log of the journal", "key", key, "error", err.Error())
				}
			}
		})
	}
	for _, l := range logs {
		keys <- l.Key
	}
	close(keys)
	wg.Wait()
}

// closeRecorder ends the recorder of a send pass: the outcomes are made
// durable before the checkpoint moves on.
func (j *fileJob) closeRecorder(ctx context.Context, rec *journal.Recorder) error {
	if rec == nil {
		return nil
	}
	st, err := rec.Close(ctx)
	if err != nil {
		return err
	}
	j.log.Info("journal log written", "intents", st.Intents, "pairs_read", st.Pairs, "chunks", st.Chunks)
	return nil
}

// journalOpts are the run options of a send pass with rec.
func journalOpts(rec *journal.Recorder, opts ...imapi.RunOption) []imapi.RunOption {
	if rec != nil {
		opts = append(opts, rec.Option())
	}
	return opts
}
