package main

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/maphash"
	"io"
	"math"
	"path"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/job/storage"
	"github.com/removetag/removetag/pkg/journal"
	"github.com/removetag/removetag/pkg/records"
	"github.com/spf13/cobra"
)

// planFlags are the flags of "removetag plan".
type planFlags struct {
	asJSON, emulator bool
	allTags          bool // --all-tags: the input is accounts alone, every tag of which a run would remove
	inputFlags
	api     string
	rate    float64
	rateSet bool
}

func newPlanCommand(env *cliEnv) *cobra.Command {
	f := &planFlags{}
	c := &cobra.Command{
		Use:   "plan [flags] FILE",
		Short: "Tell what a run of a file would change, reading the accounts and removing nothing",
		Long: `Reads the tags of the accounts of FILE (a local file, "-" for standard input,
s3://BUCKET/KEY or cos://BUCKET-APPID/KEY) with the get API of the family (--api,
IM_TAG_API: im_get_tag, or timpush's get_tag), in the batches a run
would send, and removes nothing. It reports, for each listed tag, how many of
the accounts that list it carry it; how many accounts a run would change and how
many tags it would remove; the removal calls it would make and how long they
would take at the rate (IM_RATE_LIMIT, or --rate; the journal's reads go beside
them on the get API's own quota). The counts are of distinct accounts and
account–tag pairs, as a run would change them: an account on two lines (or in
two batches) is read in each, and counted once, each tag it carries once.
With --all-tags (accounts alone, as run --all-tags takes them) every tag of
each account is counted, as a run --all-tags would remove it.`,
		Args: exactArgs(1, "one FILE (a local file, -, s3://BUCKET/KEY or cos://BUCKET-APPID/KEY)"),
		RunE: func(c *cobra.Command, args []string) error {
			f.rateSet = changed(c.Flags(), "rate")
			return planFile(c.Context(), env, f, args[0])
		},
	}
	fs := c.Flags()
	fs.BoolVar(&f.emulator, "emulator", false, "read from the built-in emulator of the API, seeded from the input as run seeds it: nothing is read from Tencent Cloud")
	fs.BoolVar(&f.asJSON, "json", false, "print the plan as JSON")
	fs.BoolVar(&f.allTags, "all-tags", false, "plan a run --all-tags: the input is accounts alone (CSV of one column, JSON Lines {\"To_Account\":…}, JSON {\"To_Account\":[…]}), every tag of each counted as going; a record naming tags is invalid input")
	f.inputFlags.addTo(c)
	fs.StringVar(&f.api, "api", "", "the tag API family whose get reads: all_member_push or timpush; default IM_TAG_API, else all_member_push")
	fs.Float64Var(&f.rate, "rate", 0, "calls per second of the reads, and of the run the plan times: from 1 to the quota (IM_RATE_LIMIT, default 100)")
	return c
}

// planReport is the answer of `removetag plan`.
type planReport struct {
	Target   string
	App      *App `json:",omitempty"`
	Status   string
	ExitCode int
	Error    string `json:",omitempty"`
	File     string
	// Read and Remove are the APIs read and that a run would call:
	// v4/all_member_push/im_get_tag and im_remove_tag, or timpush's.
	ReadAPI, RemoveAPI string
	// AllTags: the plan of a run --all-tags, every tag of each account going.
	AllTags bool `json:",omitempty"`
	// Records counts the file's records; Read those whose accounts were read,
	// Unread the others (Failures says why).
	Records, Read, Unread int64
	// Tags are the listed tags, most listed first: how many distinct
	// accounts list each, and how many of them carry it now (at most 1,000
	// tags; MoreTags says there were more). With AllTags, every tag the
	// accounts carry, Listed and Carried both the accounts carrying it.
	Tags     []tagPlan
	MoreTags bool `json:",omitempty"`
	// Changed and TagsRemoved are what a run would change: the distinct
	// accounts that carry a listed tag, and the distinct account–tag pairs
	// it would remove.
	journal.Changes
	// Calls are the removal calls a run would make (the batches the
	// engine makes of the file), RunSeconds their time at Rate calls/s. A
	// journaled run reads each batch first, JournalReads calls on the get
	// API's own quota, pipelined beside the removals: JournalReadSeconds
	// alone, no time added to the run's.
	Calls              int64
	Rate               float64
	RunSeconds         float64
	JournalReads       int64
	JournalReadSeconds float64
	// ReadCalls are this plan's get calls (retries included),
	// ElapsedSeconds its time, ReadCeiling the records it read per second
	// over the get API's ceiling (100 calls/s of 100 accounts).
	ReadCalls      int64
	ElapsedSeconds float64
	ReadCeiling    float64
	Failures       []imapi.Failure            `json:",omitempty"`
	Errors         *records.InvalidInputError `json:",omitempty"`
}

// tagPlan is one listed tag's line.
type tagPlan struct {
	Tag             string
	Listed, Carried int64
}

// planFile reads name's accounts and prints the plan.
func planFile(ctx context.Context, env *cliEnv, f *planFlags, name string) error {
	rep := &planReport{Target: targetNone, File: name, Tags: []tagPlan{}, AllTags: f.allTags}
	err := planAll(ctx, env, f, name, rep)
	ex := exitFor(err, rep.Unread == 0)
	rep.Status = statusDone
	if ex.code != exitOK {
		rep.Status = statusFor(ex.code)
	}
	rep.ExitCode, rep.Error = ex.code, ex.msg
	rep.print(env.stdout, f.asJSON)
	return ex.orNil()
}

// planAll names the target, opens and validates the input, and reads it.
func planAll(ctx context.Context, env *cliEnv, f *planFlags, name string, rep *planReport) error {
	if f.rateSet && (math.IsNaN(f.rate) || f.rate < 1) {
		return usageErr("--rate %g: want calls per second from 1 to the app's quota (IM_RATE_LIMIT, default %d)", f.rate, imapi.MaxCallsPerSecond)
	}
	t, err := newTarget(env.getenv, &runFlags{emulator: f.emulator, rate: f.rate, rateSet: f.rateSet, api: f.api, allTags: f.allTags}, nil, env.stderr)
	if err != nil {
		return err
	}
	defer t.close()
	rep.Target, rep.App = t.name, t.app
	rep.ReadAPI, rep.RemoveAPI = strings.TrimPrefix(t.api.GetTag().String(), "/"), strings.TrimPrefix(t.op().String(), "/")
	in, err := openPlanInput(ctx, env, t, f, name)
	if err != nil {
		return err
	}
	defer closeInputs([]*input{in})
	in.accountsOnly = f.allTags
	fr := &fileReport{File: in.name}
	_, err = validate([]*input{in}, []*fileReport{fr}, false)
	rep.Records, rep.Errors = fr.Total, fr.Errors
	if err != nil {
		return err
	}
	if t.emu != nil {
		dec, err := in.decoder(0)
		if err != nil {
			return usageErr("%s: %v", in.name, err)
		}
		seedEmulator(t.emu, dec)
	}
	t.announce(env.stderr)
	return readPlan(ctx, env, t, in, rep)
}

// openPlanInput opens a local input, or copies an object of a bucket
// (openSource) to a temporary file unlinked at once (as standard input is:
// the input is read twice).
func openPlanInput(ctx context.Context, env *cliEnv, t *target, f *planFlags, name string) (*input, error) {
	header := f.headerMode()
	if !strings.HasPrefix(name, storage.SchemeS3+"://") && !strings.HasPrefix(name, storage.SchemeCOS+"://") {
		inputs, err := openInputs([]string{name}, f.format, header, env.stdin)
		if err != nil {
			return nil, usageErr("%v", err)
		}
		return inputs[0], nil
	}
	body, key, err := openSource(ctx, env, t, name)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	in := &input{name: name, header: header}
	if in.spool, in.remove, err = spool(body); err != nil {
		return nil, &exitError{code: exitFailed, msg: fmt.Sprintf("%s: %v", name, err)}
	}
	if in.format, err = formatOf(&input{name: key}, f.format); err != nil {
		closeInputs([]*input{in})
		return nil, usageErr("%s: %v", name, err)
	}
	return in, nil
}

// readPlan reads the input's accounts in the batches a run would send, at
// the target's rate, through an engine whose calls read instead of remove.
func readPlan(ctx context.Context, env *cliEnv, t *target, in *input, rep *planReport) error {
	repeated, err := repeatedAccounts(in) // before the run's decoder: an input has one open at a time
	if err != nil {
		return &exitError{code: exitFailed, msg: fmt.Sprintf("%s: %v", in.name, err)}
	}
	dec, err := in.decoder(0)
	if err != nil {
		return usageErr("%s: %v", in.name, err)
	}
	tally := &tagTally{reader: t.counter.reading(t.tags), api: t.api, tags: map[string]*tagPlan{},
		allTags: t.allTags, repeated: repeated, again: map[string]*seenTags{}}
	counter := &countingCaller{next: tally}
	eng := imapi.NewEngine(counter, imapi.EngineConfig{Rate: t.rate})
	changes := func() *journal.Changes { c := tally.changes(); return &c }
	stop := startProgress(env.stderr, displayOf(env.stderr, env.getenv), in, counter, changes, t.app.Endpoint)
	r, runErr := eng.Run(ctx, dec, imapi.WithOperation(t.op())) // the batches of the run: --all-tags clears
	stop()
	tally.fill(rep)
	// The engine merges an account's records of a batch into one of its
	// calls: the records read are those of the batches it counts done.
	rep.Read, rep.Unread = r.Succeeded, rep.Records-r.Succeeded
	rep.Failures = append(r.Failures, r.PendingErrors...)
	rep.Calls, rep.ReadCalls, rep.ElapsedSeconds, rep.Rate = r.Calls-r.Retries, r.Calls, r.ElapsedSeconds, t.rate
	rep.RunSeconds = float64(rep.Calls) / t.rate
	rep.JournalReads, rep.JournalReadSeconds = rep.Calls, float64(rep.Calls)/imapi.MaxCallsPerSecond
	if r.ElapsedSeconds > 0 {
		rep.ReadCeiling = float64(rep.Read) / r.ElapsedSeconds / (imapi.MaxCallsPerSecond * imapi.MaxAccountsPerCall)
	}
	switch {
	case runErr != nil:
		return fmt.Errorf("%s: %w", in.name, runErr)
	case r.StopReason == imapi.StopFatal:
		return configErr("%s: the service refused the configuration: %s", in.name, r.Stopped)
	case r.Stopped != "":
		return &exitError{code: exitFailed, msg: fmt.Sprintf("%s: stopped: %s", in.name, r.Stopped)}
	}
	return nil
}

// maxPlanTags caps the tags a plan counts apart.
const maxPlanTags = maxDistinctTags

// tagTally is the plan's imapi.Caller: each "call" of a batch reads its
// accounts' tags and counts, per listed tag, the distinct accounts listing it
// and carrying it, and the distinct accounts and pairs a run would change. It
// never removes anything.
//
// Most accounts are on one line: they are counted as read. Those on two or
// more (repeated, found by a pass over the input first) are counted on
// their first sight of each tag, what was seen of each kept in again.
type tagTally struct {
	reader   tagReader
	api      imapi.API
	allTags  bool                 // every tag carried counts, listed or not (--all-tags)
	repeated accountSet           // the accounts on more than one line
	again    map[string]*seenTags // of a repeated account: its tags counted so far

	mu       sync.Mutex
	tags     map[string]*tagPlan
	order    []string
	moreTags bool
	journal.Changes
}

// seenTags are the tags of a repeated account counted so far.
type seenTags struct{ listed, carried []string }

// Call reads the accounts of recs, whatever op.
func (t *tagTally) Call(ctx context.Context, _ imapi.Operation, recs []records.Record) error {
	accounts := make([]string, len(recs))
	for i, r := range recs {
		accounts[i] = r.Account
	}
	have, failed, err := t.reader.GetTags(ctx, t.api, accounts)
	if err != nil {
		return err
	}
	if len(failed) > 0 {
		return failed[0] // an account the service would not read: the batch is not counted
	}
	present := journal.Present(recs, have)
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.allTags {
		for _, r := range recs {
			t.count(r.Account, r.Tags, false)
		}
	}
	for _, p := range present {
		t.count(p.Account, p.Tags, true)
	}
	return nil
}

// count counts the tags an account lists (carried false) or carries of
// those it lists (true), each account–tag pair once in the plan; t.mu is held.
func (t *tagTally) count(account string, tags []string, carried bool) {
	var seen *[]string
	if t.repeated.has(account) {
		st := t.again[account]
		if st == nil {
			st = &seenTags{}
			t.again[account] = st
		}
		seen = &st.listed
		if carried {
			seen = &st.carried
		}
	}
	fresh := 0
	for i, tg := range tags {
		if slices.Contains(tags[:i], tg) || seen != nil && slices.Contains(*seen, tg) {
			continue
		}
		if seen != nil {
			*seen = append(*seen, tg)
		}
		fresh++
		tp := t.tag(tg)
		switch {
		case tp == nil:
		case carried && t.allTags:
			tp.Listed++
			tp.Carried++
		case carried:
			tp.Carried++
		default:
			tp.Listed++
		}
	}
	if !carried || fresh == 0 {
		return
	}
	if seen == nil || len(*seen) == fresh {
		t.Changed++ // the account's first tags found carried
	}
	t.TagsRemoved += int64(fresh)
}

// accountSet is a set of accounts by a hash of their names: a member may
// be a collision, never missed. The hashes are sorted, looked up by binary
// search: 8 bytes a member.
type accountSet struct {
	seed   maphash.Seed
	hashes []uint64
}

func (s accountSet) has(account string) bool {
	if len(s.hashes) == 0 {
		return false
	}
	_, ok := slices.BinarySearch(s.hashes, maphash.String(s.seed, account))
	return ok
}

// repeatedAccounts reads in once and returns the accounts on more than one
// of its lines: 8 bytes per record while it reads (a slice of every
// account's hash, sorted at the end; a map would take six times that: 93 MiB
// of RSS at a million records), then 8 bytes per repeated account.
func repeatedAccounts(in *input) (accountSet, error) {
	s := accountSet{seed: maphash.MakeSeed()}
	dec, err := in.decoder(0)
	if err != nil {
		return s, err
	}
	all := make([]uint64, 0, min(in.records, 1<<20))
	for {
		rec, err := dec.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return s, err
		}
		all = append(all, maphash.String(s.seed, rec.Account))
	}
	slices.Sort(all)
	var dups []uint64
	for i := 1; i < len(all); i++ {
		if all[i] == all[i-1] && (len(dups) == 0 || dups[len(dups)-1] != all[i]) {
			dups = append(dups, all[i])
		}
	}
	s.hashes = dups
	return s, nil
}

// tag returns the line of tag, nil past maxPlanTags; t.mu is held.
func (t *tagTally) tag(tag string) *tagPlan {
	tp := t.tags[tag]
	if tp == nil {
		if len(t.tags) >= maxPlanTags {
			t.moreTags = true
			return nil
		}
		tp = &tagPlan{Tag: tag}
		t.tags[tag] = tp
		t.order = append(t.order, tag)
	}
	return tp
}

// changes returns what the reads found so far, for the progress line.
func (t *tagTally) changes() journal.Changes {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.Changes
}

// fill puts the counts in rep: the tags most listed first (then by name).
func (t *tagTally) fill(rep *planReport) {
	t.mu.Lock()
	defer t.mu.Unlock()
	rep.Changes, rep.MoreTags = t.Changes, t.moreTags
	for _, tg := range t.order {
		rep.Tags = append(rep.Tags, *t.tags[tg])
	}
	sort.SliceStable(rep.Tags, func(i, j int) bool {
		a, b := rep.Tags[i], rep.Tags[j]
		return a.Listed > b.Listed || a.Listed == b.Listed && a.Tag < b.Tag
	})
}

// print writes the plan: a table, or JSON.
func (rep *planReport) print(w io.Writer, asJSON bool) {
	if asJSON {
		writeJSON(w, rep)
		return
	}
	if rep.Status == statusInvalid || rep.Status == statusConfig {
		return // said on stderr
	}
	get, remove := path.Base(rep.ReadAPI), path.Base(rep.RemoveAPI)
	fmt.Fprintf(w, "%s: %d records, %d read with %s in %d calls, %.1fs (%.2f of the get API's ceiling); nothing was removed\n",
		rep.File, rep.Records, rep.Read, get, rep.ReadCalls, rep.ElapsedSeconds, rep.ReadCeiling)
	width := len("tag")
	for _, tp := range rep.Tags {
		width = max(width, len([]rune(tp.Tag)))
	}
	if rep.AllTags {
		fmt.Fprintln(w, "  --all-tags: every tag of the accounts read goes")
		fmt.Fprintf(w, "  %-*s  %10s\n", width, "tag", "accounts")
		for _, tp := range rep.Tags {
			fmt.Fprintf(w, "  %-*s  %10d\n", width+len(tp.Tag)-len([]rune(tp.Tag)), tp.Tag, tp.Carried)
		}
	} else {
		printTagTable(w, rep.Tags, width)
	}
	if rep.MoreTags {
		fmt.Fprintf(w, "  (more than %d distinct tags: the others are not counted apart)\n", maxPlanTags)
	}
	fmt.Fprintf(w, "a run would change %d accounts, removing %d tags, in %d %s calls: %s at %g calls/s",
		rep.Changed, rep.TagsRemoved, rep.Calls, remove, planDuration(rep.RunSeconds), rep.Rate)
	fmt.Fprintf(w, " (its journal's %d reads, %s on %s's own 100 calls/s, go beside the removals)\n",
		rep.JournalReads, planDuration(rep.JournalReadSeconds), get)
	for _, g := range rep.Failures {
		fmt.Fprintf(w, "  not read: %d records, ErrorCode %d (%s): %s\n", g.Records, g.ErrorCode, g.Class, g.ErrorInfo)
	}
}

// printTagTable writes the listed tags' lines: accounts listing, carrying, share.
func printTagTable(w io.Writer, tags []tagPlan, width int) {
	fmt.Fprintf(w, "  %-*s  %10s  %10s  %7s\n", width, "tag", "listed", "carried", "share")
	for _, tp := range tags {
		share := 100 * float64(tp.Carried) / max(float64(tp.Listed), 1)
		fmt.Fprintf(w, "  %-*s  %10d  %10d  %6.1f%%\n", width+len(tp.Tag)-len([]rune(tp.Tag)), tp.Tag, tp.Listed, tp.Carried, share)
	}
}

// planDuration rounds seconds for people: tenths below a minute.
func planDuration(s float64) string {
	if s < 60 {
		return fmt.Sprintf("%.1fs", s)
	}
	return time.Duration(s * float64(time.Second)).Round(time.Second).String()
}

// writeJSON writes v as indented JSON.
func writeJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
