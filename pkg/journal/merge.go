package journal

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/records"
)

// Changes says what a job changed, from its merged journal.
type Changes struct {
	// Changed counts the accounts that lost at least one tag.
	Changed int64 `json:",omitempty"`
	// TagsRemoved counts the account–tag pairs removed.
	TagsRemoved int64 `json:",omitempty"`
}

// MergeStats tell how a merge resolved the log.
type MergeStats struct {
	Changes
	// Unknown counts the pairs whose removal was not confirmed by an answer
	// and were read again; Reads the get calls that took.
	Unknown, Reads int64
}

// maxLineBytes bounds a log line: an intent of 100 accounts with 100 tags of 50 bytes.
const maxLineBytes = 1 << 20

// partitionBytes is about how much of the pairs one partition holds in memory.
const partitionBytes = 16 << 20

// Merge reads the logs of every invocation of a job (concatenated, in any
// order; a line given twice counts once), resolves the pairs whose outcome is
// unknown by reading the accounts again (rd, through api's get operation, paced
// by lim; nil: the get API's 100 calls/s), and writes the journal to out: one {"To_Account","Tags"} line
// per account that lost tags, accounts and tags sorted within each of a few
// partitions. See the package documentation for the rule.
func Merge(ctx context.Context, logs io.ReadSeeker, size int64, rd Reader, api imapi.API, lim imapi.Limiter, out io.Writer) (MergeStats, error) {
	var st MergeStats
	outcomes, err := readOutcomes(logs)
	if err != nil {
		return st, err
	}
	parts, err := newPartitions(1 + int(size/partitionBytes))
	if err != nil {
		return st, err
	}
	defer parts.close()
	unknown, err := sortIntents(logs, outcomes, parts)
	if err != nil {
		return st, err
	}
	if err := resolve(ctx, unknown, rd, api, lim, parts, &st); err != nil {
		return st, err
	}
	st.Changes, err = parts.write(out)
	return st, err
}

// outcomeOf is an intent's outcome: all ok, all not, or per account.
type outcomeOf struct {
	all     string // "ok", "no" or "" (see ok, no)
	ok, no  map[string]bool
	unknown bool // no outcome line
}

// applied says whether the intent's call applied to account (ok), or is known not to have (no).
func (o *outcomeOf) applied(account string) (ok, no bool) {
	switch {
	case o == nil:
		return false, false
	case o.all == "ok" || o.ok[account]:
		return true, false
	case o.all == "no" || o.no[account]:
		return false, true
	}
	return false, false
}

// scanLines calls fn for each line of logs, from its start.
func scanLines(logs io.ReadSeeker, fn func(line []byte) error) error {
	if _, err := logs.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("journal: read the logs: %w", err)
	}
	sc := bufio.NewScanner(logs)
	sc.Buffer(make([]byte, 64<<10), maxLineBytes)
	n := 0
	for sc.Scan() {
		n++
		if line := bytes.TrimSpace(sc.Bytes()); len(line) > 0 {
			if err := fn(line); err != nil {
				return fmt.Errorf("journal: log line %d: %w", n, err)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("journal: read the logs: %w", err)
	}
	return nil
}

// readOutcomes collects the outcome lines of the logs.
func readOutcomes(logs io.ReadSeeker) (map[string]*outcomeOf, error) {
	outs := map[string]*outcomeOf{}
	err := scanLines(logs, func(line []byte) error {
		if !bytes.HasPrefix(line, []byte(`{"O":`)) {
			return nil
		}
		var o outcome
		if err := json.Unmarshal(line, &o); err != nil {
			return err
		}
		cur := outs[o.O]
		if cur == nil {
			cur = &outcomeOf{ok: map[string]bool{}, no: map[string]bool{}}
			outs[o.O] = cur
		}
		switch o.S {
		case "ok", "no":
			cur.all = o.S
		}
		for _, a := range o.Ok {
			cur.ok[a] = true
		}
		for _, a := range o.No {
			cur.no[a] = true
		}
		return nil
	})
	return outs, err
}

// sortIntents sends the pairs of applied intents to the partitions and
// returns those of intents whose outcome is unknown (account → tags); pairs
// known not applied are dropped.
func sortIntents(logs io.ReadSeeker, outcomes map[string]*outcomeOf, parts *partitions) (map[string][]string, error) {
	unknown := map[string][]string{}
	err := scanLines(logs, func(line []byte) error {
		if !bytes.HasPrefix(line, []byte(`{"I":`)) {
			if bytes.HasPrefix(line, []byte(`{"O":`)) {
				return nil
			}
			return fmt.Errorf("not a journal log line: %.60q", line)
		}
		var in intent
		if err := json.Unmarshal(line, &in); err != nil {
			return err
		}
		o := outcomes[in.I]
		for _, p := range in.UserTags {
			ok, no := o.applied(p.Account)
			switch {
			case ok:
				for _, t := range p.Tags {
					if err := parts.add(p.Account, t); err != nil {
						return err
					}
				}
			case !no:
				unknown[p.Account] = union(unknown[p.Account], p.Tags)
			}
		}
		return nil
	})
	return unknown, err
}

// union appends to a the tags of b it lacks.
func union(a, b []string) []string {
	for _, t := range b {
		if !slices.Contains(a, t) {
			a = append(a, t)
		}
	}
	return a
}

// resolve reads the accounts of unknown pairs again: a tag gone now was
// removed by the job (it was present when the intent was read).
func resolve(ctx context.Context, unknown map[string][]string, rd Reader, api imapi.API, lim imapi.Limiter, parts *partitions, st *MergeStats) error {
	if len(unknown) == 0 {
		return nil
	}
	if rd == nil {
		return fmt.Errorf("journal: %d accounts have removals of unknown outcome and no reader is given", len(unknown))
	}
	if lim == nil {
		lim = imapi.NewTokenBucket(imapi.MaxCallsPerSecond)
	}
	accounts := slices.Sorted(maps.Keys(unknown))
	rec := &Recorder{cfg: Config{Reader: rd, API: api, Limiter: lim, MaxReads: 8}}
	for chunk := range slices.Chunk(accounts, imapi.MaxAccountsPerCall) {
		listed := make([]records.Record, len(chunk))
		for i, a := range chunk {
			listed[i] = records.Record{Account: a, Tags: unknown[a]}
			st.Unknown += int64(len(unknown[a]))
		}
		st.Reads++
		still, err := rec.read(ctx, listed)
		if err != nil {
			return fmt.Errorf("journal: resolve removals of unknown outcome: %w", err)
		}
		left := map[string][]string{}
		for _, s := range still {
			left[s.Account] = s.Tags
		}
		for _, l := range listed {
			for _, t := range l.Tags {
				if !slices.Contains(left[l.Account], t) {
					if err := parts.add(l.Account, t); err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}

// partitions spread the journal's pairs over temporary files by account, so
// that each is deduplicated in memory on its own.
type partitions struct {
	files []*os.File
	ws    []*bufio.Writer
}

func newPartitions(n int) (*partitions, error) {
	p := &partitions{}
	for range n {
		f, err := os.CreateTemp("", "removetag-journal-part-*")
		if err != nil {
			p.close()
			return nil, fmt.Errorf("journal: merge: %w", err)
		}
		p.files = append(p.files, f)
		p.ws = append(p.ws, bufio.NewWriterSize(f, 64<<10))
	}
	return p, nil
}

// add notes a removed pair, as "account NUL tag" on a line of its account's
// partition; a pair that holds either separator is refused.
func (p *partitions) add(account, tag string) error {
	if strings.ContainsAny(account, "\x00\n") || strings.ContainsAny(tag, "\x00\n") {
		return fmt.Errorf("journal: pair %q/%q holds a NUL or a newline", account, tag)
	}
	h := fnv.New32a()
	h.Write([]byte(account))
	w := p.ws[int(h.Sum32()%uint32(len(p.ws)))]
	w.WriteString(account)
	w.WriteByte(0)
	w.WriteString(tag)
	return w.WriteByte('\n')
}

// write writes every partition's accounts, deduplicated and sorted, to out.
func (p *partitions) write(out io.Writer) (Changes, error) {
	var c Changes
	bw := bufio.NewWriterSize(out, 64<<10)
	for i, f := range p.files {
		if err := p.ws[i].Flush(); err != nil {
			return c, fmt.Errorf("journal: merge: %w", err)
		}
		tags, err := readPartition(f)
		if err != nil {
			return c, err
		}
		for _, a := range slices.Sorted(maps.Keys(tags)) {
			ts := slices.Sorted(maps.Keys(tags[a]))
			line, err := json.Marshal(records.Record{Account: a, Tags: ts})
			if err != nil {
				return c, fmt.Errorf("journal: encode %s: %w", a, err)
			}
			bw.Write(line)
			if err := bw.WriteByte('\n'); err != nil {
				return c, fmt.Errorf("journal: write: %w", err)
			}
			c.Changed++
			c.TagsRemoved += int64(len(ts))
		}
	}
	if err := bw.Flush(); err != nil {
		return c, fmt.Errorf("journal: write: %w", err)
	}
	return c, nil
}

// readPartition reads one partition's pairs into sets.
func readPartition(f *os.File) (map[string]map[string]struct{}, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("journal: merge: %w", err)
	}
	tags := map[string]map[string]struct{}{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 4096), maxLineBytes)
	for sc.Scan() {
		a, t, _ := strings.Cut(sc.Text(), "\x00")
		set := tags[a]
		if set == nil {
			set = map[string]struct{}{}
			tags[a] = set
		}
		set[t] = struct{}{}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("journal: merge: %w", err)
	}
	return tags, nil
}

func (p *partitions) close() {
	for _, f := range p.files {
		f.Close()
		os.Remove(f.Name())
	}
}
