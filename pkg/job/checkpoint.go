package job

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/removetag/removetag/pkg/adapters/objstore"
	"github.com/removetag/removetag/pkg/imapi"
)

// Phases of a file job.
const (
	phaseValidate = "validate" // reading the whole file once, checking every record
	phaseSend     = "send"     // sending the records
	phaseFinish   = "finish"   // every record sent: the report is left to write
)

// Hand-offs: what the invocation that wrote a checkpoint last expects to happen next.
const (
	handoffInvoked = "invoked" // a continuation event for Chain is on its way
	handoffSweep   = "sweep"   // no event was sent: the timer sweep takes it on
	handoffError   = "error"   // the invocation failed; a platform retry (or the sweep) takes it on
)

// Checkpoint is the durable state of a file job between invocations, stored
// as JSON at {prefix}state/{key}.json in the file's bucket. Counts are of the
// records before Position, accumulated across the chain.
type Checkpoint struct {
	// Version is the checkpoint format's version, 1.
	Version int
	// Source is the file, "s3://bucket/key" or "cos://bucket-appid/key".
	Source string
	// Region is the region an upload event named, if any.
	Region string `json:",omitempty"`
	// ETag is the version of the file the job works on.
	ETag string
	// Format is the file's format: "csv", "jsonl" or "json".
	Format string
	// Compressed is set for gzip files, which are resumed by skipping records
	// rather than at a byte offset.
	Compressed bool `json:",omitempty"`
	// SkipRate is how many records per second reading a compressed file past
	// records went at, as last measured (a validation pass, which is slower, until
	// a skip is measured): what an invocation plans a resume with.
	SkipRate float64 `json:",omitempty"`
	// Phase is "validate", "send" or "finish".
	Phase string
	// Total counts the records of the file (in the validate phase: those checked so far).
	Total int64
	// Position is where to go on reading: the first record not done.
	Position imapi.Position
	// Succeeded, Failed, Calls and Retries count the work done so far.
	Succeeded, Failed, Calls, Retries int64
	// Failures groups the failed records by error.
	Failures []imapi.Failure `json:",omitempty"`
	// Problems and ProblemCount are what the validate phase found so far.
	Problems     []imapi.Problem `json:",omitempty"`
	ProblemCount int             `json:",omitempty"`
	// Parts are the objects holding the failed records, in input order.
	Parts []string `json:",omitempty"`
	// PartSeq numbers the next part.
	PartSeq int `json:",omitempty"`
	// Chain is the place, in the file's chain, of the invocation that works on
	// the job or is to work on it next.
	Chain int
	// Invocations counts the invocations that worked on the job.
	Invocations int
	// Idle counts the invocations in a row that could do no record.
	Idle int `json:",omitempty"`
	// Restarted is set when the file changed during the job, which started over.
	Restarted bool `json:",omitempty"`
	// Owner identifies the invocation working on the job now; empty between invocations.
	Owner string `json:",omitempty"`
	// Handoff says what the last invocation expects next: "invoked", "sweep" or "error".
	Handoff string `json:",omitempty"`
	// Note says why the job was left for the sweep, if it was.
	Note string `json:",omitempty"`
	// Started is when the job started; UpdatedAt when the checkpoint was written.
	Started   time.Time
	UpdatedAt time.Time
}

const checkpointVersion = 1

// format returns the checkpoint's imapi.Format.
func (cp *Checkpoint) format() (imapi.Format, error) {
	for _, f := range []imapi.Format{imapi.FormatCSV, imapi.FormatJSONL, imapi.FormatJSON} {
		if f.String() == cp.Format {
			return f, nil
		}
	}
	return 0, fmt.Errorf("checkpoint of %s: unknown format %q", cp.Source, cp.Format)
}

// fresh reports whether the checkpoint was written less than SweepAfter ago.
func (s *Service) fresh(cp *Checkpoint) bool {
	return time.Since(cp.UpdatedAt) < s.cfg.SweepAfter
}

// busy reports whether a live invocation works on the job or is about to: the
// checkpoint is fresh and has an owner or an event on its way.
func (s *Service) busy(cp *Checkpoint) bool {
	return s.fresh(cp) && (cp.Owner != "" || cp.Handoff == handoffInvoked)
}

// checkpointKey is where the job's checkpoint is kept: {prefix}state/{key}.json.
func (j *fileJob) checkpointKey() string {
	return j.s.cfg.OutputPrefix + "state/" + j.loc.Key + ".json"
}

// reportKey is where the report goes: {prefix}reports/{key}.report.json.
func (j *fileJob) reportKey() string {
	return j.s.cfg.OutputPrefix + "reports/" + j.loc.Key + ".report.json"
}

// failedKey is where the failed records go: {prefix}failed/{key}.jsonl.
func (j *fileJob) failedKey() string {
	return j.s.cfg.OutputPrefix + "failed/" + j.loc.Key + ".jsonl"
}

// partsDir holds the parts of the failed records. Its name is a digest of the
// key: no listing of one file's parts can hold another file's.
func (j *fileJob) partsDir() string {
	sum := sha256.Sum256([]byte(j.loc.Key))
	return j.s.cfg.OutputPrefix + "parts/" + hex.EncodeToString(sum[:16]) + "/"
}

// partKey names one part of the failed records.
func (j *fileJob) partKey(seq int) string { return fmt.Sprintf("%s%06d.jsonl", j.partsDir(), seq) }

// loadCheckpoint reads the checkpoint; nil if there is none. A checkpoint that
// cannot be used (damaged, or of another version of this program) counts as
// none: a new upload of the file starts over and replaces it.
func (j *fileJob) loadCheckpoint(ctx context.Context) (*Checkpoint, error) {
	var cp Checkpoint
	ok, err := j.getJSON(ctx, j.checkpointKey(), &cp)
	var bad *badObjectError
	if errors.As(err, &bad) {
		j.log.Warn("checkpoint unusable: ignored", "checkpoint", j.checkpointKey(), "error", bad.Error())
		return nil, nil
	}
	if err != nil || !ok {
		return nil, err
	}
	if cp.Version != checkpointVersion {
		j.log.Warn("checkpoint of another version: ignored", "checkpoint", j.checkpointKey(), "version", cp.Version)
		return nil, nil
	}
	return &cp, nil
}

// saveCheckpoint writes the checkpoint, stamped now.
func (j *fileJob) saveCheckpoint(ctx context.Context, cp *Checkpoint) error {
	cp.Version = checkpointVersion
	cp.UpdatedAt = time.Now().UTC()
	if err := j.putJSON(ctx, j.checkpointKey(), cp); err != nil {
		return fmt.Errorf("write checkpoint: %w", err)
	}
	return nil
}

// claim makes this invocation the checkpoint's owner. Object storage has no
// compare-and-swap, so it writes its name and reads it back: of two invocations
// claiming at once, one that sees the other's name backs off. False: another
// invocation owns the job.
func (j *fileJob) claim(ctx context.Context, cp *Checkpoint) (bool, error) {
	cp.Owner, cp.Handoff, cp.Note = j.owner, "", ""
	cp.Invocations++
	if err := j.saveCheckpoint(ctx, cp); err != nil {
		return false, err
	}
	back, err := j.loadCheckpoint(ctx)
	if err != nil {
		return false, err
	}
	return back != nil && back.Owner == j.owner, nil
}

// release gives the job up after an error, so that a retry of the same event
// (or the sweep) takes it on. Best effort: storage may be what failed.
func (j *fileJob) release(ctx context.Context, cp *Checkpoint) {
	cp.Owner, cp.Handoff = "", handoffError
	if err := j.saveCheckpoint(ctx, cp); err != nil {
		j.log.Warn("could not release the checkpoint; the sweep will take it on when it is stale", "error", err.Error())
	}
}

// loadReport reads the file's report; nil if there is none (or it is damaged:
// the file is then done again).
func (j *fileJob) loadReport(ctx context.Context) (*FileReport, error) {
	var rep FileReport
	ok, err := j.getJSON(ctx, j.reportKey(), &rep)
	var bad *badObjectError
	if errors.As(err, &bad) {
		j.log.Warn("report unusable: ignored", "report", j.reportKey(), "error", bad.Error())
		return nil, nil
	}
	if err != nil || !ok {
		return nil, err
	}
	return &rep, nil
}

// badObjectError is a state object that was read but cannot be decoded.
type badObjectError struct{ err error }

func (e *badObjectError) Error() string { return e.err.Error() }
func (e *badObjectError) Unwrap() error { return e.err }

// maxStateBytes bounds the checkpoint and report objects read back.
const maxStateBytes = 16 << 20

// getJSON reads a small JSON object into v; false if it does not exist.
func (j *fileJob) getJSON(ctx context.Context, key string, v any) (bool, error) {
	rc, _, err := j.store.Open(ctx, key, 0, "")
	if errors.Is(err, objstore.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxStateBytes))
	if err != nil {
		return false, fmt.Errorf("read %s: %w", key, err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return false, &badObjectError{fmt.Errorf("decode %s: %w", key, err)}
	}
	return true, nil
}

// putJSON writes v as a JSON object.
func (j *fileJob) putJSON(ctx context.Context, key string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	return j.store.Put(ctx, key, bytes.NewReader(append(data, '\n')), "application/json")
}

// deleteState removes the checkpoint and every part: the job is over.
func (j *fileJob) deleteState(ctx context.Context) error {
	var errs []error
	if err := j.store.Delete(ctx, j.checkpointKey()); err != nil {
		errs = append(errs, err)
	}
	if err := j.deleteParts(ctx); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// deleteParts removes every part of the file, listed or orphaned by an
// invocation that failed before its checkpoint was written.
func (j *fileJob) deleteParts(ctx context.Context) error {
	infos, err := j.store.List(ctx, j.partsDir())
	if err != nil {
		return err
	}
	var errs []error
	for _, info := range infos {
		if err := j.store.Delete(ctx, info.Key); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// newOwner returns a random name for this invocation's claims.
func newOwner() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// sourceKey returns the key of the file a checkpoint key belongs to, or false.
func (s *Service) sourceKey(checkpointKey string) (string, bool) {
	rest, ok := strings.CutPrefix(checkpointKey, s.cfg.OutputPrefix+"state/")
	if !ok || !strings.HasSuffix(rest, ".json") {
		return "", false
	}
	return strings.TrimSuffix(rest, ".json"), true
}
