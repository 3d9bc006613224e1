package job

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"

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

// logSink keeps one invocation's log in the job's bucket, as chunks.
type logSink struct {
	store storage.Store
	name  string // the log's name, without ".jsonl"
	keys  []string
}

func (j *fileJob) newLogSink(chain int) *logSink {
	return &logSink{store: j.store, name: fmt.Sprintf("%s%06d-%s", j.st.keys.journalParts(), chain, j.st.owner)}
}

// Append writes the next chunk.
func (ls *logSink) Append(ctx context.Context, chunk []byte) error {
	key := fmt.Sprintf("%s.chunk-%06d.jsonl", ls.name, len(ls.keys))
	if err := ls.store.Put(ctx, key, bytes.NewReader(chunk), "application/x-ndjson"); err != nil {
		return fmt.Errorf("write the journal's log: %w", err)
	}
	ls.keys = append(ls.keys, key)
	return nil
}

// recorder returns the journal's recorder for this invocation's send pass,
// or nil when the service does not journal.
func (j *fileJob) recorder(cp *Checkpoint) (*journal.Recorder, error) {
	if !j.journals() {
		return nil, nil
	}
	ls := j.newLogSink(cp.Chain)
	return journal.NewRecorder(journal.Config{
		Reader: j.s.cfg.Journal, API: j.s.cfg.API, Sink: ls, Limiter: j.s.readPace(),
		Attempt: fmt.Sprintf("%06d-%s", cp.Chain, j.st.owner),
	})
}

// mergeJournal merges the logs of every invocation of the job into its
// journal; it returns the journal's key and counts, and the logs, which the
// finish phase deletes once the report is written (a finish retried before
// that merges them again, to the same journal).
func (j *fileJob) mergeJournal(ctx context.Context) (string, journal.Changes, []storage.Info, error) {
	var c journal.Changes
	if !j.journals() {
		return "", c, nil, nil
	}
	dir := j.st.keys.journalParts()
	logs, err := j.store.List(ctx, dir)
	if err != nil {
		return "", c, nil, fmt.Errorf("list the journal's logs: %w", err)
	}
	all, err := os.CreateTemp("", "removetag-journal-logs-*.jsonl")
	if err != nil {
		return "", c, nil, fmt.Errorf("gather the journal's logs: %w", err)
	}
	defer func() {
		all.Close()
		os.Remove(all.Name())
	}()
	var size int64
	for _, l := range logs {
		if !strings.HasPrefix(l.Key, dir) {
			continue
		}
		if err := j.appendObject(ctx, all, l.Key); err != nil {
			return "", c, nil, err
		}
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
	st, err := journal.Merge(ctx, all, size, j.s.cfg.Journal, j.s.cfg.API, j.s.cfg.JournalLimiter, out)
	if err != nil {
		return "", c, nil, err
	}
	key := j.st.keys.journal()
	if _, err := out.Seek(0, io.SeekStart); err != nil {
		return "", c, nil, fmt.Errorf("merge the journal: %w", err)
	}
	if err := j.store.Put(ctx, key, out, "application/x-ndjson"); err != nil {
		return "", c, nil, fmt.Errorf("write the journal: %w", err)
	}
	j.log.Info("journal merged", "logs", len(logs), "changed", st.Changed, "tags_removed", st.TagsRemoved, "unknown", st.Unknown, "reads", st.Reads)
	return key, st.Changes, logs, nil
}

// dropLogs deletes the journal's logs once the report holds the journal.
func (j *fileJob) dropLogs(ctx context.Context, logs []storage.Info) {
	for _, l := range logs {
		if err := j.store.Delete(ctx, l.Key); err != nil {
			j.log.Warn("could not delete a log of the journal", "key", l.Key, "error", err.Error())
		}
	}
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
