package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/journal"
)

// The journal logs a run leaves when it ends before merging them (journal.go):
// found in a folder, merged into their own run's journal and deleted, before
// the run or undo that found them sends anything.

const (
	// logSuffix ends the name of a run's journal log, after its stamp.
	logSuffix = "-journal-log.jsonl"
	// mergingSuffix, then the journal's length in bytes before the merge,
	// ends the name of a log being merged.
	mergingSuffix = ".merging-"
	// logTemp begins the name of a log being made, before it is locked and
	// named.
	logTemp = ".removetag-journal-log-"
)

// logHead is the first line of a run's journal log: the app whose accounts
// it read, so that a log is merged only by a run on that app (the reads of
// its pairs of unknown outcome must be of its accounts), and the API family.
type logHead struct {
	Run *logApp `json:",omitempty"`
}

// logApp is the app a log was written for.
type logApp struct {
	SDKAppID int
	Endpoint string
	API      imapi.API
	// Emulator: the built-in emulator, whose store ended with its run.
	Emulator bool `json:",omitempty"`
}

// headOf returns the log's first line for a run on t.
func headOf(t *target) []byte {
	h := logHead{Run: &logApp{API: t.api, Emulator: t.emu != nil}}
	if t.app != nil {
		h.Run.SDKAppID, h.Run.Endpoint = t.app.SDKAppID, t.app.Endpoint
	}
	line, _ := json.Marshal(h)
	return append(line, '\n')
}

// createLog makes the log at path, never over another (as O_EXCL), locked
// before it is named and holding head: a log found by its name is locked
// while its run goes.
func createLog(path string, head []byte) (*os.File, error) {
	f, err := os.CreateTemp(filepath.Dir(path), logTemp+"*")
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*os.File, error) {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	if _, err := tryLock(f); err != nil && !errors.Is(err, errors.ErrUnsupported) {
		return fail(fmt.Errorf("lock %s: %w", f.Name(), err))
	}
	if _, err := f.Write(head); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := os.Link(f.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fail(err)
		}
		// A file system without hard links: the stamp is the run's own (taken).
		if err := os.Rename(f.Name(), path); err != nil {
			return fail(err)
		}
		return f, nil
	}
	os.Remove(f.Name())
	return f, nil
}

// markMerging renames log to say that it is being merged into a journal of at
// bytes, and returns its new name.
func markMerging(log string, at int64) (string, error) {
	name := log + mergingSuffix + strconv.FormatInt(at, 10)
	return name, os.Rename(log, name)
}

// leftoverOf parses the name of a log: its run's journal, and the journal's
// length before a merge that was begun (-1: none was).
func leftoverOf(path string) (journalPath string, at int64, ok bool) {
	base := filepath.Base(path)
	stem, rest, found := strings.Cut(base, logSuffix)
	if !found || !strings.HasPrefix(stem, "removetag-") {
		return "", 0, false
	}
	at = -1
	if rest != "" {
		n, err := strconv.ParseInt(strings.TrimPrefix(rest, mergingSuffix), 10, 64)
		if !strings.HasPrefix(rest, mergingSuffix) || err != nil || n < 0 {
			return "", 0, false
		}
		at = n
	}
	return filepath.Join(filepath.Dir(path), stem+"-journal.jsonl"), at, true
}

// recoverLogs merges the journal logs left in dir by runs that ended before
// merging them (not those of runs still going: their lock is held) into
// their runs' journals, reading the accounts of unknown outcome through t,
// and says so on stderr. A log that cannot be merged makes an error: the
// caller sends nothing (a removal meanwhile would be journaled twice).
func recoverLogs(ctx context.Context, dir string, t *target, stderr io.Writer) error {
	if t.tags == nil {
		return nil
	}
	found, err := filepath.Glob(filepath.Join(dir, "removetag-*"+logSuffix+"*"))
	if err != nil {
		return err
	}
	var errs []error
	for _, path := range found {
		if err := recoverLog(ctx, path, t, stderr); err != nil {
			errs = append(errs, err)
		}
	}
	removeStaleTemps(dir)
	if err := errors.Join(errs...); err != nil {
		return &exitError{code: exitFailed, msg: fmt.Sprintf("journal: a log left by an earlier run could not be merged, so nothing was sent: %v", err)}
	}
	return nil
}

// recoverLog merges the log at path, if it is one left, and deletes it.
func recoverLog(ctx context.Context, path string, t *target, stderr io.Writer) error {
	journalPath, at, ok := leftoverOf(path)
	if !ok {
		return nil
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // merged meanwhile
	}
	if err != nil {
		return err
	}
	defer f.Close() // after the log is removed: its lock goes with it
	locked, err := tryLock(f)
	switch {
	case errors.Is(err, errors.ErrUnsupported):
		fmt.Fprintf(stderr, "removetag: %s: a journal log, left or of a run still going (this system has no lock to tell): left alone\n", path)
		return nil
	case err != nil:
		return fmt.Errorf("lock %s: %w", path, err)
	case !locked:
		fmt.Fprintf(stderr, "removetag: %s: the journal log of a run still going (another process holds its lock): left to it\n", path)
		return nil
	}
	if now, err := os.Stat(path); err != nil || !sameFile(f, now) {
		return nil // merged and removed (or renamed) by another since it was found
	}
	head, from, err := readHead(f)
	if err != nil {
		fmt.Fprintf(stderr, "removetag: %s: not a journal log this removetag reads (%v): left alone\n", path, err)
		return nil
	}
	switch app := head.Run; {
	case app.Emulator:
		fmt.Fprintf(stderr, "removetag: %s: the journal log of a run on the built-in emulator, whose store ended with it (no app was changed): deleted\n", path)
		return os.Remove(path)
	case t.emu != nil || t.app == nil || app.SDKAppID != t.app.SDKAppID || app.Endpoint != t.app.Endpoint:
		fmt.Fprintf(stderr, "removetag: %s: the journal log left by a run on app %d at %s, not this target: left, for a run or an undo on that app to merge\n", path, app.SDKAppID, app.Endpoint)
		return nil
	}
	if at < 0 { // no merge begun: the journal holds nothing of it
		if at, err = sizeOf(journalPath); err != nil {
			return err
		}
		if path, err = markMerging(path, at); err != nil {
			return err
		}
	}
	if err := settle(ctx, f); err != nil {
		return err
	}
	st, err := mergeInto(ctx, f, from, journalPath, at, t.tags, head.Run.API, t.rate)
	if err != nil {
		return fmt.Errorf("%s: %w (the log is kept)", path, err)
	}
	if err := os.Remove(path); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "removetag: merged %s, the journal log of a run that ended before merging it, into %s: %d accounts changed, %d tags removed (%d pairs of unknown outcome read again)\n",
		filepath.Base(path), journalPath, st.Changed, st.TagsRemoved, st.Unknown)
	return nil
}

// sameFile reports whether f is the file fi describes.
func sameFile(f *os.File, fi os.FileInfo) bool {
	mine, err := f.Stat()
	return err == nil && os.SameFile(mine, fi)
}

// readHead reads a log's first line, and returns it and its length.
func readHead(f *os.File) (logHead, int64, error) {
	var h logHead
	buf := make([]byte, 4096)
	n, err := f.ReadAt(buf, 0)
	if err != nil && err != io.EOF {
		return h, 0, err
	}
	end := bytes.IndexByte(buf[:n], '\n')
	if end < 0 {
		return h, 0, errors.New("no first line")
	}
	if err := json.Unmarshal(buf[:end], &h); err != nil || h.Run == nil {
		return h, 0, fmt.Errorf("its first line does not name its app: %.60q", buf[:end])
	}
	return h, int64(end + 1), nil
}

// sizeOf returns the length of the file at path, 0 if there is none.
func sizeOf(path string) (int64, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// settle waits, after the log's last write, as long as a run's own merge
// waits after a stop (settleAfterCut) and a second more: the run ended
// within about a write's spacing of it, and the service may still apply a
// call that run sent.
func settle(ctx context.Context, f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	wait := time.Until(fi.ModTime().Add(settleAfterCut + time.Second))
	if wait <= 0 {
		return nil
	}
	tm := time.NewTimer(wait)
	defer tm.Stop()
	select {
	case <-tm.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// mergeInto merges the log f (its lines from byte from) into the journal at
// path, cut back first to its at bytes: what it was before this log's merge
// began.
func mergeInto(ctx context.Context, f *os.File, from int64, path string, at int64, rd journal.Reader, api imapi.API, rate float64) (journal.MergeStats, error) {
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return journal.MergeStats{}, err
	}
	out, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return journal.MergeStats{}, err
	}
	if err := out.Truncate(at); err != nil {
		out.Close()
		return journal.MergeStats{}, err
	}
	if _, err := out.Seek(at, io.SeekStart); err != nil {
		out.Close()
		return journal.MergeStats{}, err
	}
	st, err := journal.Merge(ctx, io.NewSectionReader(f, from, size-from), size-from, rd, api, imapi.NewTokenBucket(rate), out)
	if err == nil {
		err = out.Sync()
	}
	err = errors.Join(err, out.Close())
	if err == nil && at == 0 && st.TagsRemoved == 0 {
		err = os.Remove(path) // nothing removed: no journal, as a run writes none
	}
	return st, err
}

// removeStaleTemps removes the logs being made that a run left (it ended
// between making and naming one: they hold their first line at most), once
// they are a minute old.
func removeStaleTemps(dir string) {
	found, _ := filepath.Glob(filepath.Join(dir, logTemp+"*"))
	for _, p := range found {
		if fi, err := os.Stat(p); err == nil && time.Since(fi.ModTime()) > time.Minute {
			os.Remove(p)
		}
	}
}
