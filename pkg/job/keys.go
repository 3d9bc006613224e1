package job

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// Kind is what a file job does with the file's records. Each kind keeps its
// objects apart from every other kind's (see [fileKeys]), so that jobs of
// two kinds on one file never share a checkpoint, a report or failed records.
type Kind string

// The kinds of file jobs this version runs.
const (
	// KindRemoval removes the records' tags. Its objects keep the names they
	// had before jobs had kinds.
	KindRemoval Kind = "removal"
	// KindUndo adds the records' tags back: its file is a journal (see
	// [FileReport].JournalKey), named by a {"Undo":…} document (undo.go).
	KindUndo Kind = "undo"
)

// runs reports whether this version runs jobs of the kind.
func (k Kind) runs() bool { return k == KindRemoval || k == KindUndo }

// runKinds are the kinds this version runs: the sweep looks for the
// checkpoints of each.
func runKinds() []Kind { return []Kind{KindRemoval, KindUndo} }

// check says why k cannot name a kind's objects, if it cannot: a name is
// lower-case letters, digits and hyphens, starting with a letter, and is never
// a segment of the layout.
func (k Kind) check() error {
	if k == KindRemoval {
		return nil
	}
	s := string(k)
	if s == "" || len(s) > 32 || s[0] < 'a' || s[0] > 'z' {
		return fmt.Errorf("job kind %q: want a lower-case name of at most 32 characters, starting with a letter", s)
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' {
			return fmt.Errorf("job kind %q: %q is not a lower-case letter, a digit or a hyphen", s, r)
		}
	}
	switch s {
	case "state", "reports", "failed", "parts", "pending", "cancel", // a file job's objects
		"quota",                    // the shared quota's leases (internal/wiring)
		"journal", "journal-parts", // the journal and its logs (journal.go)
		"inline-journal": // the journals of inline jobs too large for their answer (inlinejournal.go)
		return fmt.Errorf("job kind %q: the name is a segment of the output layout", s)
	}
	return nil
}

// kindRoot is where a kind's objects live: the output prefix itself for
// removal, {prefix}{kind}/ for every other kind.
func kindRoot(prefix string, k Kind) string {
	if k == KindRemoval {
		return prefix
	}
	return prefix + string(k) + "/"
}

// stateDir holds the checkpoints of a kind's jobs: {root}state/.
func stateDir(prefix string, k Kind) string { return kindRoot(prefix, k) + "state/" }

// fileKeys names the objects of one file job, in the file's bucket:
//
//	{root}state/{key}.json                       the Checkpoint, while the job runs
//	{root}parts/{digest}/NNNNNN-{owner}.jsonl    the failed records of each invocation, while it runs
//	{root}reports/{key}.report.json              the FileReport, when the file is done (or rejected)
//	{root}failed/{key}.jsonl                     the failed records of the whole file
//	{root}journal-parts/{digest}/NNNNNN-{owner}… the journal's log of each invocation, while it runs
//	{root}journal/{key}.jsonl                    the journal: the tags the job removed
//	{root}cancel/{key}                           the cancel marker, when an admin stops the job
//	{root}pending/{key}.jsonl                    the records a canceled job left, ready to run again
//	{root}pending/{key}.json                     … of a job of accounts alone ({"AllTags":true,…})
//
// where {root} is the output prefix for removal and {prefix}{kind}/ for any
// other kind (see kindRoot). A kind's name has no slash and is never a
// segment of the layout (see Kind.check), so the segment after the prefix
// tells the kind, the next one the object, and the rest the source key: no two
// (kind, key) pairs name one object.
type fileKeys struct {
	root string // kindRoot of the job's kind
	key  string // the source key
}

// keysOf names the objects of the kind's job on the source key.
func keysOf(prefix string, k Kind, key string) fileKeys {
	return fileKeys{root: kindRoot(prefix, k), key: key}
}

// checkpoint is where the job's checkpoint is kept.
func (fk fileKeys) checkpoint() string { return fk.root + "state/" + fk.key + ".json" }

// report is where the report goes.
func (fk fileKeys) report() string { return fk.root + "reports/" + fk.key + ".report.json" }

// failed is where the failed records of the whole file go.
func (fk fileKeys) failed() string { return fk.root + "failed/" + fk.key + ".jsonl" }

// journal is where the journal of the whole file goes.
func (fk fileKeys) journal() string { return fk.root + "journal/" + fk.key + ".jsonl" }

// journalParts holds the logs of the journal, named by a digest of the key as
// partsDir is.
func (fk fileKeys) journalParts() string {
	sum := sha256.Sum256([]byte(fk.key))
	return fk.root + "journal-parts/" + hex.EncodeToString(sum[:16]) + "/"
}

// cancel is where an admin's cancel marker for the job goes (see cancel.go).
func (fk fileKeys) cancel() string { return fk.root + "cancel/" + fk.key }

// pending is where a canceled job's pending records go; pendingDoc, those
// of a job of accounts alone, as a document of that form.
func (fk fileKeys) pending() string    { return fk.root + "pending/" + fk.key + ".jsonl" }
func (fk fileKeys) pendingDoc() string { return fk.root + "pending/" + fk.key + ".json" }

// partsDir holds the parts of the failed records. Its name is a digest of the
// key: no listing of one file's parts can hold another file's.
func (fk fileKeys) partsDir() string {
	sum := sha256.Sum256([]byte(fk.key))
	return fk.root + "parts/" + hex.EncodeToString(sum[:16]) + "/"
}

// part names one part of the failed records. The owner's name in it keeps
// apart the parts of two invocations that started from one checkpoint: the
// part of one that lost the job never replaces the owner's.
func (fk fileKeys) part(seq int, owner string) string {
	return fmt.Sprintf("%s%06d-%s.jsonl", fk.partsDir(), seq, owner)
}

// parseCheckpointKey returns the kind and the source key of a checkpoint's
// object key under prefix, or false if it names no checkpoint.
func parseCheckpointKey(prefix, objectKey string) (Kind, string, bool) {
	rest, ok := strings.CutPrefix(objectKey, prefix)
	if !ok {
		return "", "", false
	}
	kind := KindRemoval
	if !strings.HasPrefix(rest, "state/") {
		name, after, found := strings.Cut(rest, "/")
		if !found || Kind(name).check() != nil || Kind(name) == KindRemoval {
			return "", "", false
		}
		kind, rest = Kind(name), after
	}
	rest, ok = strings.CutPrefix(rest, "state/")
	if !ok || !strings.HasSuffix(rest, ".json") {
		return "", "", false
	}
	return kind, strings.TrimSuffix(rest, ".json"), true
}
