package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/removetag/removetag/internal/wiring"
	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/job"
	"github.com/removetag/removetag/pkg/job/storage"
	"github.com/removetag/removetag/pkg/records"
	"github.com/spf13/cobra"
)

func newUndoCommand(env *cliEnv) *cobra.Command {
	f := &runFlags{undo: true, allowEmpty: true}
	c := &cobra.Command{
		Use:   "undo [flags] JOURNAL",
		Short: "Add back the tags a run or a job removed, from its journal",
		Long: `Adds back the tags of JOURNAL, the journal of a run (removetag-{start}-journal.jsonl)
or of a file job ({REMOVETAG_OUTPUT_PREFIX}journal/{key}.jsonl): a local file,
s3://BUCKET/KEY or cos://BUCKET-APPID/KEY (read through the storage the
environment configures, as the function reads it). Each line,
{"To_Account":"u1","Tags":["a","b"]}, goes to the add API (im_add_tag, or
timpush's add_tag with --api timpush) in parts of at most 10 tags, as the API
takes them; each part is a record of the report. Adding a tag an account holds
changes nothing: undoing a journal twice changes nothing the second time. An
account that would pass its 100 tags is refused by the service: its records
fail with the code it answers, in the failed records. A journal log left in a
local JOURNAL's folder by a run that ended before merging it (SIGKILL, a crash)
is merged into its run's journal first, so that JOURNAL holds every tag its run
removed, even if that run made none.

The target is named before the first call; on a terminal an undo on a real
app asks for confirmation (--yes does not). --emulator runs against the
built-in emulator, its accounts holding one tag ("untouched") before the undo.
Records left (a signal, --timeout, a refusal) are written under --out, and the
summary names the command that continues.`,
		Args: exactArgs(1, "one JOURNAL (a local file, s3://BUCKET/KEY or cos://BUCKET-APPID/KEY)"),
		RunE: func(c *cobra.Command, args []string) error {
			f.rateSet, f.outSet = changed(c.Flags(), "rate"), changed(c.Flags(), "out")
			rep := &runReport{Target: targetNone, Files: []*fileReport{}}
			return rep.conclude(env, f, undoAll(c.Context(), env, f, args[0], rep))
		},
	}
	fs := c.Flags()
	fs.BoolVar(&f.emulator, "emulator", false, "run against the built-in emulator of the API, its accounts those of the journal: nothing is sent to Tencent Cloud")
	fs.BoolVar(&f.yes, "yes", false, "do not ask for confirmation on a terminal (scripts never are asked)")
	fs.BoolVar(&f.asJSON, "json", false, "print the report as JSON")
	fs.Float64Var(&f.rate, "rate", 0, "calls per second, from 1 to the quota (IM_RATE_LIMIT, default 100)")
	fs.StringVar(&f.api, "api", "", "the tag API family: all_member_push or timpush; default IM_TAG_API, else all_member_push")
	fs.DurationVar(&f.timeout, "timeout", 0, "stop after this long and write what is left (0: no limit)")
	fs.StringVar(&f.out, "out", ".", "folder for the files of pending and failed records the undo leaves")
	return c
}

// undoAll names the target, reads the journal into parts, asks (on a
// terminal), sends, and writes what is left: run's steps, with the add.
func undoAll(ctx context.Context, env *cliEnv, f *runFlags, name string, rep *runReport) error {
	if f.rateSet && (math.IsNaN(f.rate) || f.rate < 1) {
		return usageErr("--rate %g: want calls per second from 1 to the app's quota (IM_RATE_LIMIT, default %d)", f.rate, imapi.MaxCallsPerSecond)
	}
	if err := checkOutDir(f.out); err != nil {
		return err
	}
	t, err := newTarget(env.getenv, f, nil, env.stderr)
	if err != nil {
		return err
	}
	defer t.close()
	if !strings.HasPrefix(name, storage.SchemeS3+"://") && !strings.HasPrefix(name, storage.SchemeCOS+"://") {
		// The journal logs that runs killed before their merge left beside
		// the journal: it may be one of theirs, or not be made yet.
		if err := recoverLogs(ctx, filepath.Dir(name), t, env.stderr); err != nil {
			return err
		}
	}
	// An undo adds tags: it reads no account back, and keeps no journal of
	// removals (a run's journal reads through t.tags).
	t.tags = nil
	rep.Target, rep.App = t.name, t.app
	in, err := openJournal(ctx, env, t, name)
	if err != nil {
		return err
	}
	defer closeInputs([]*input{in})
	rep.Files = append(rep.Files, &fileReport{File: in.name})
	inv, err := validate([]*input{in}, rep.Files, f.allowEmpty)
	if rep.Total = rep.Files[0].Total; err != nil {
		return err
	}
	if t.emu != nil {
		dec, err := in.decoder(0)
		if err != nil {
			return usageErr("%s: %v", in.name, err)
		}
		seedEmulator(t.emu, accountsOnly{dec})
	}
	t.announce(env.stderr)
	if t.real() && !f.yes && interactive(env) && !confirm(ctx, env, t, inv) {
		rep.Pending, rep.Files[0].Pending = rep.Total, rep.Total
		return &exitError{code: exitFailed, msg: "not confirmed: nothing was sent"}
	}
	if f.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.timeout)
		defer cancel()
	}
	return sendAll(ctx, env, f, t, []*input{in}, rep)
}

// action names what the target's runs do, for a confirmation.
func (t *target) action() string {
	if t.undo {
		return "ADD TAGS BACK"
	}
	return "REMOVE TAGS"
}

// leftNote says which tags the emulator holds after a run: the ones the
// input did not name (none with --all-tags), and after an undo those added
// back too.
func (t *target) leftNote() string {
	switch {
	case t.allTags:
		return "every tag of the accounts cleared"
	case t.undo:
		return `the "untouched" ones and those added back`
	}
	return `the "untouched" ones`
}

// accountsOnly is a source of records without their tags: an undo's
// emulator holds each account with only the tag seedEmulator adds.
type accountsOnly struct{ src records.Source }

func (a accountsOnly) Next() (records.Record, error) {
	rec, err := a.src.Next()
	return records.Record{Account: rec.Account}, err
}

// openJournal reads the journal name, a local file or an object, and spools
// its lines as parts of at most job.UndoTagsPerCall tags each, in JSON Lines,
// to a temporary file unlinked at once: the input of the undo's run. An
// invalid journal is refused whole, its problems named as in the journal.
func openJournal(ctx context.Context, env *cliEnv, t *target, name string) (*input, error) {
	body, key, err := openSource(ctx, env, t, name)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	format, _, err := records.FormatOf(key)
	if err != nil {
		return nil, usageErr("%s: %v", name, err)
	}
	dec, err := records.NewDecoder(body, records.DecoderOptions{Format: format})
	if err != nil {
		return nil, usageErr("%s: %v", name, err)
	}
	f, err := os.CreateTemp("", "removetag-undo-*.jsonl")
	if err != nil {
		return nil, fmt.Errorf("spool the journal: %w", err)
	}
	in := &input{name: name, spool: f, format: records.FormatJSONL}
	if os.Remove(f.Name()) != nil {
		in.remove = f.Name()
	}
	w := bufio.NewWriterSize(f, 64<<10)
	var werr error
	_, err = records.Check(tap{dec, func(rec records.Record) {
		for tags := range slices.Chunk(rec.Tags, job.UndoTagsPerCall) {
			line, _ := json.Marshal(records.Record{Account: rec.Account, Tags: tags})
			if _, err := w.Write(append(line, '\n')); err != nil && werr == nil {
				werr = err
			}
		}
	}})
	var bad *records.InvalidInputError
	switch {
	case errors.As(err, &bad):
		closeInputs([]*input{in})
		return nil, usageErr("%s: %v\ninvalid journal: nothing was sent", name, bad)
	case err != nil:
		closeInputs([]*input{in})
		return nil, &exitError{code: exitFailed, msg: fmt.Sprintf("%s: %v", name, err)}
	}
	if werr = errors.Join(werr, w.Flush()); werr != nil {
		closeInputs([]*input{in})
		return nil, fmt.Errorf("spool the journal: %w", werr)
	}
	return in, nil
}

// openSource opens name, a local file or an object of a bucket through the
// storage the environment configures, and returns it and the key or path
// that names its format.
func openSource(ctx context.Context, env *cliEnv, t *target, name string) (io.ReadCloser, string, error) {
	if !strings.HasPrefix(name, storage.SchemeS3+"://") && !strings.HasPrefix(name, storage.SchemeCOS+"://") {
		f, err := os.Open(name)
		if err != nil {
			return nil, "", usageErr("%v", err)
		}
		return f, name, nil
	}
	loc, err := storage.ParseLocation(name)
	if err != nil || loc.Key == "" {
		return nil, "", usageErr("%s: want s3://BUCKET/KEY or cos://BUCKET-APPID/KEY (%v)", name, err)
	}
	getenv := env.getenv
	if t.emu != nil {
		getenv = emulatorEnv(t.emu, getenv)
	}
	cfg, err := wiring.Load(getenv)
	if err != nil {
		return nil, "", configErr("%v", err)
	}
	opener, err := wiring.NewStoreOpener(cfg)
	if err != nil {
		return nil, "", configErr("%v", err)
	}
	st, err := opener.Open(ctx, loc, "")
	if err != nil {
		return nil, "", configErr("%s: %v", name, err)
	}
	body, _, err := st.Open(ctx, loc.Key, 0, "")
	if err != nil {
		return nil, "", &exitError{code: exitFailed, msg: fmt.Sprintf("%s: %v", name, err)}
	}
	return body, loc.Key, nil
}
