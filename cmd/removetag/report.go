package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/journal"
	"github.com/removetag/removetag/pkg/records"
)

// Statuses of a run's report.
const (
	statusDone       = "done"          // every record succeeded
	statusDryRun     = "dry-run"       // nothing was sent
	statusIncomplete = "incomplete"    // records failed or are pending
	statusRefused    = "refused"       // the service refused the configuration (exit 3)
	statusConfig     = "configuration" // the configuration is wrong or missing (exit 3)
	statusInvalid    = "invalid"       // invalid input or usage: nothing was sent (exit 2)
)

// runReport is the answer of `removetag run`, in one shape for any number of
// files, and also for a run refused before its first call.
type runReport struct {
	// Target is where the calls went: "emulator", "app {SDKAppID}", or "none"
	// (a dry run with no app configured).
	Target string
	// App is the app of the target (the emulator's own for "emulator").
	App *App `json:",omitempty"`
	// DryRun is set when nothing was sent: Planned and PlannedCalls then say
	// what would have been, and Succeeded is 0.
	DryRun bool
	Status string
	// ExitCode is the process's exit status.
	ExitCode int
	// Error says why the run was refused or stopped, if it was.
	Error string `json:",omitempty"`
	// Counts add up the files': Total is every record of the inputs.
	imapi.Counts
	// Changed and TagsRemoved add up the files': the accounts that lost a
	// tag and the account–tag pairs removed, from the journal.
	journal.Changes
	Planned      int64 `json:",omitempty"`
	PlannedCalls int64 `json:",omitempty"`
	// ElapsedSeconds is the time spent sending, every file together.
	ElapsedSeconds float64
	Files          []*fileReport
	// PendingFile and FailedFile hold the records left, in the API's JSON
	// Lines form; Continue is the command that sends the pending ones.
	PendingFile string `json:",omitempty"`
	FailedFile  string `json:",omitempty"`
	Continue    string `json:",omitempty"`
	// JournalFile holds the tags the run removed, one {"To_Account":…,"Tags":[…]}
	// line per account that lost tags (none if nothing was removed);
	// NoJournal says the run kept none (--no-journal, REMOVETAG_JOURNAL=off),
	// so that Changed and TagsRemoved are not known.
	JournalFile string `json:",omitempty"`
	NoJournal   bool   `json:",omitempty"`
}

// fileReport is one input's part: every record of it is succeeded, failed
// (before Resume; in the failed file) or pending (in the pending file).
type fileReport struct {
	File string
	imapi.Counts
	// Changed counts the accounts that lost at least one tag, TagsRemoved
	// the account–tag pairs removed: the file's part of the journal.
	journal.Changes
	journaled    bool  // the run kept a journal of the file: Changes are known
	Planned      int64 `json:",omitempty"`
	PlannedCalls int64 `json:",omitempty"`
	// Failures groups the failed records by their error; PendingErrors the
	// pending ones whose retries ran out, or that the configuration refused.
	Failures      []imapi.Failure `json:",omitempty"`
	PendingErrors []imapi.Failure `json:",omitempty"`
	// Refused counts the pending records of calls the service refused for the
	// configuration (a fatal error: 70009, 70016, 90009, 90045, …).
	Refused    int64                      `json:",omitempty"`
	StopReason imapi.StopReason           `json:",omitempty"`
	Stopped    string                     `json:",omitempty"`
	Errors     *records.InvalidInputError `json:",omitempty"`
	// Verify is what reading the accounts back found (--verify).
	Verify         *Verification `json:",omitempty"`
	ElapsedSeconds float64
}

// summary is the file's line.
func (r *fileReport) summary(target string, dryRun bool) string {
	if dryRun {
		return fmt.Sprintf("%s: dry run, nothing sent: %d records would go to %s in %d calls", r.File, r.Total, target, r.PlannedCalls)
	}
	s := fmt.Sprintf("%s → %s: %d records: %d succeeded, %d failed, %d pending", r.File, target, r.Total, r.Succeeded, r.Failed, r.Pending)
	if r.journaled {
		s += fmt.Sprintf("; %s", changesText(r.Changes))
	}
	s += fmt.Sprintf("; %d calls, %d retries, %.1fs", r.Calls, r.Retries, r.ElapsedSeconds)
	if r.Stopped != "" {
		s += "; stopped: " + r.Stopped
	}
	return s
}

// changesText says what a journal found changed.
func changesText(c journal.Changes) string {
	return fmt.Sprintf("%d accounts changed, %d tags removed", c.Changed, c.TagsRemoved)
}

// add counts a file's part in the run's totals.
func (rep *runReport) add(f *fileReport) {
	rep.Counts.Add(f.Counts)
	rep.Changed += f.Changed
	rep.TagsRemoved += f.TagsRemoved
	rep.Planned += f.Planned
	rep.PlannedCalls += f.PlannedCalls
	rep.ElapsedSeconds += f.ElapsedSeconds
}

func (rep *runReport) print(w io.Writer, asJSON bool) {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep)
		return
	}
	for _, r := range rep.Files {
		if r.Errors != nil || rep.Status == statusInvalid || rep.Status == statusConfig {
			continue // said on stderr
		}
		fmt.Fprintln(w, r.summary(rep.Target, rep.DryRun))
		printDetails(w, r)
	}
	if rep.Status == statusInvalid || rep.Status == statusConfig {
		return
	}
	if len(rep.Files) > 1 {
		if rep.DryRun {
			fmt.Fprintf(w, "all: dry run, nothing sent: %d records would go to %s in %d calls\n", rep.Total, rep.Target, rep.PlannedCalls)
		} else {
			fmt.Fprintf(w, "all → %s: %d records: %d succeeded, %d failed, %d pending", rep.Target, rep.Total, rep.Succeeded, rep.Failed, rep.Pending)
			if !rep.NoJournal {
				fmt.Fprint(w, "; "+changesText(rep.Changes))
			}
			fmt.Fprintln(w)
		}
	}
	if rep.JournalFile != "" {
		fmt.Fprintf(w, "journal of the tags removed (to add them back): %s\n", rep.JournalFile)
	}
	if rep.FailedFile != "" {
		fmt.Fprintf(w, "failed records (refused for good; fix them, then run the file again): %s\n", rep.FailedFile)
	}
	if rep.PendingFile != "" {
		fmt.Fprintf(w, "pending records: %s\n", rep.PendingFile)
		fmt.Fprintf(w, "continue with: %s\n", rep.Continue)
	}
}

func printDetails(w io.Writer, r *fileReport) {
	for _, f := range r.Failures {
		fmt.Fprintf(w, "  failed: %d records, ErrorCode %d (%s): %s; accounts: %s\n",
			f.Records, f.ErrorCode, f.Class, f.ErrorInfo, strings.Join(f.Accounts[:min(len(f.Accounts), 10)], ", "))
	}
	for _, f := range r.PendingErrors {
		fmt.Fprintf(w, "  pending: %d records, last error %d (%s): %s\n", f.Records, f.ErrorCode, f.Class, f.ErrorInfo)
	}
	v := r.Verify
	if v == nil {
		return
	}
	fmt.Fprintf(w, "  verify: %d accounts read back", v.Checked)
	if v.Skipped > 0 {
		fmt.Fprintf(w, " (%d of failed or pending records not)", v.Skipped)
	}
	if v.StillTagged == 0 {
		fmt.Fprintln(w, ": none carries a removed tag")
		return
	}
	fmt.Fprintf(w, ": %d still carry a removed tag:", v.StillTagged)
	for _, a := range v.Accounts[:min(len(v.Accounts), 10)] {
		fmt.Fprintf(w, " %s %v", a.Account, a.Tags)
	}
	fmt.Fprintln(w)
}
