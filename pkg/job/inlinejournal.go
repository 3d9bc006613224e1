package job

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/removetag/removetag/pkg/job/storage"
	"github.com/removetag/removetag/pkg/journal"
	"github.com/removetag/removetag/pkg/records"
)

// The journal of an inline job (an HTTP body, a direct payload, a timer
// message): the tags it removed, in its answer. Its run is journaled by
// package journal's Recorder as a file job's send pass is (each batch read and
// written ahead before it is sent), into a log held in memory: an inline job
// lives in one invocation, and its answer is its only output. At the end the
// log is merged (the pairs of calls cut off by the deadline resolved by a read)
// and the journal goes into the answer, JournalUserTags, unless it is over
// Config.MaxAnswerJournal: it is then written to the first of the function's
// buckets, {prefix}inline-journal/{time}-{id}.jsonl, named by JournalObject;
// with no bucket, JournalNotKept says that it was not kept, as it does when the
// merge or the write fails. Changed and TagsRemoved are set whenever the merge
// succeeded. Records left pending come back in PendingUserTags; a job sent
// again with them reads their accounts first, so a pair removed by a cut-off
// call is in this answer's journal, not in the next one's.

// memLog is an inline job's log: chunks in memory.
type memLog struct{ bytes.Buffer }

// Append keeps the next chunk.
func (m *memLog) Append(_ context.Context, chunk []byte) error {
	_, err := m.Write(chunk)
	return err
}

// inlineRecorder returns the recorder of an inline job's run and its log, or
// nil when the service does not journal.
func (s *Service) inlineRecorder() (*journal.Recorder, *memLog, error) {
	if !s.journalOn() {
		return nil, nil, nil
	}
	log := &memLog{}
	rec, err := journal.NewRecorder(journal.Config{Reader: s.cfg.Journal, API: s.cfg.API, Sink: log, Limiter: s.readPace(), Attempt: "inline"})
	return rec, log, err
}

// inlineMergeTime bounds an inline job's merge and the write of its journal,
// past the run's own context (the deadline may have cut the run's last calls).
const inlineMergeTime = 10 * time.Second

// journalInline ends the journal of an inline job's run and puts it in res;
// recErr is inlineRecorder's.
func (s *Service) journalInline(ctx context.Context, rec *journal.Recorder, lg *memLog, recErr error, res *Result, log *slog.Logger) {
	if recErr != nil {
		res.JournalNotKept = "the journal could not be made: " + recErr.Error()
		return
	}
	if rec == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), inlineMergeTime)
	defer cancel()
	if _, err := rec.Close(ctx); err != nil {
		res.JournalNotKept = "the journal could not be made: " + err.Error()
		return
	}
	var out bytes.Buffer
	st, err := journal.Merge(ctx, bytes.NewReader(lg.Bytes()), int64(lg.Len()), s.cfg.Journal, s.cfg.API, s.cfg.JournalLimiter, &out)
	if err != nil {
		res.JournalNotKept = "the journal could not be made: " + err.Error()
		log.Warn("inline job's journal not kept", "error", err.Error())
		return
	}
	res.Changes = st.Changes
	if out.Len() <= s.cfg.MaxAnswerJournal {
		res.JournalUserTags, err = readJournal(out.Bytes())
		if err != nil {
			res.JournalUserTags, res.JournalNotKept = nil, "the journal could not be read back: "+err.Error()
		}
		return
	}
	if len(s.cfg.Buckets) == 0 || s.cfg.OpenStore == nil {
		res.JournalNotKept = fmt.Sprintf("the journal (%d accounts, %d bytes) is over the answer's %d bytes, and the function has no bucket to write it to (REMOVETAG_BUCKETS): it was not kept",
			st.Changed, out.Len(), s.cfg.MaxAnswerJournal)
		log.Warn("inline job's journal not kept: no bucket", "changed", st.Changed, "bytes", out.Len())
		return
	}
	loc, err := s.putInlineJournal(ctx, out.Bytes())
	if err != nil {
		res.JournalNotKept = fmt.Sprintf("the journal (%d accounts, %d bytes, over the answer's %d) could not be written: %v", st.Changed, out.Len(), s.cfg.MaxAnswerJournal, err)
		log.Warn("inline job's journal not kept", "error", err.Error())
		return
	}
	res.JournalObject = loc.String()
	log.Info("inline job's journal written", "journal", res.JournalObject, "changed", st.Changed, "tags_removed", st.TagsRemoved)
}

// putInlineJournal writes an inline job's journal to the first of the buckets.
func (s *Service) putInlineJournal(ctx context.Context, data []byte) (storage.Location, error) {
	loc := s.cfg.Buckets[0]
	loc.Key = s.cfg.OutputPrefix + "inline-journal/" + time.Now().UTC().Format("20060102-150405") + "-" + newOwner() + ".jsonl"
	st, err := s.cfg.OpenStore.Open(ctx, loc, "")
	if err != nil {
		return loc, err
	}
	return loc, st.Put(ctx, loc.Key, bytes.NewReader(data), "application/x-ndjson")
}

// readJournal reads a merged journal's lines.
func readJournal(data []byte) ([]records.Record, error) {
	out := []records.Record{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var r records.Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, sc.Err()
}
