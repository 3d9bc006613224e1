package journal

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

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
	// Resolved counts the pairs an earlier merge's reads resolved (its
	// resolution lines, see Merger.Resolutions), read again by none.
	Resolved int64
	// Unfinished: the merge stopped at Merger.Until, before every pair of
	// unknown outcome was read; what it wrote to out is not the journal. A
	// merge given the same logs and the resolutions this one wrote goes on
	// where it stopped.
	Unfinished bool
}

// maxLineBytes bounds a log line: an intent of 100 accounts with 100 tags of 50 bytes.
const maxLineBytes = 1 << 20

// partitionBytes is about how much of the logs one partition of the merge
// stands for: its pairs are held in memory at once, in about as many bytes.
const partitionBytes = 8 << 20

// A Merger makes a job's journal from the logs of all its invocations. See
// the package documentation for the rule, and Merge.
type Merger struct {
	// Reader reads the accounts of the pairs whose outcome is unknown; nil
	// makes such pairs an error.
	Reader Reader
	// API is the tag API family the reads go to; "" is imapi.AllMemberPush.
	API imapi.API
	// Limiter paces the reads; nil: the get API's 100 calls/s.
	Limiter imapi.Limiter
	// Until, if not zero, is when the merge must be over: it stops, with
	// MergeStats.Unfinished, rather than start a read (or go on reading the
	// logs) that would not end by then.
	Until time.Time
	// Resolutions, if set, keeps what the merge's reads found, as log lines
	// (durable once Append returns: a chunk every few seconds of reads, and
	// one at the end), so that a merge cut short is gone on from: the next
	// merge, given them among the logs, reads only the pairs left.
	Resolutions Sink
}

// Merge reads the logs of every invocation of a job (concatenated, in any
// order; a line given twice counts once), resolves the pairs whose outcome is
// unknown by reading the accounts again (rd, through api's get operation, paced
// by lim; nil: the get API's 100 calls/s), and writes the journal to out: one {"To_Account","Tags"} line
// per account that lost tags, accounts and tags sorted within each of a few
// partitions. See the package documentation for the rule.
func Merge(ctx context.Context, logs io.ReadSeeker, size int64, rd Reader, api imapi.API, lim imapi.Limiter, out io.Writer) (MergeStats, error) {
	if _, err := logs.Seek(0, io.SeekStart); err != nil {
		return MergeStats{}, fmt.Errorf("journal: read the logs: %w", err)
	}
	m := &Merger{Reader: rd, API: api, Limiter: lim}
	return m.Merge(ctx, Readers(logs), size, out)
}

// Readers yields logs, as Merger.Merge takes them.
func Readers(logs ...io.Reader) iter.Seq2[io.Reader, error] {
	return func(yield func(io.Reader, error) bool) {
		for _, l := range logs {
			if !yield(l, nil) {
				return
			}
		}
	}
}

// Merge reads every log of logs (size: about their bytes in all, to size
// the merge's partitions), and writes the journal to out, unless the merge
// is cut short at m.Until (MergeStats.Unfinished). The pairs read present
// ahead of a removal are spread over partitions on disk by account; each
// partition is then sorted in memory (by account, then tag), its pairs of unknown
// outcome are read again, and its accounts written out.
func (m *Merger) Merge(ctx context.Context, logs iter.Seq2[io.Reader, error], size int64, out io.Writer) (MergeStats, error) {
	g := &merge{m: m, ids: map[string]int32{}}
	parts, err := newPartitions(1 + int(size/partitionBytes))
	if err != nil {
		return g.st, err
	}
	defer parts.close()
	g.parts = parts
	n := 0
	for log, err := range logs {
		if err != nil {
			return g.st, fmt.Errorf("journal: read the logs: %w", err)
		}
		n++
		if err := g.readLog(n, log); err != nil || g.st.Unfinished {
			return g.st, err
		}
	}
	bw := bufio.NewWriterSize(out, 64<<10)
	for part := range g.sortedParts() {
		if err := g.partition(ctx, part, bw); err != nil || g.st.Unfinished {
			return g.st, errors.Join(err, g.flushResolutions(ctx))
		}
	}
	if err := g.flushResolutions(ctx); err != nil {
		return g.st, err
	}
	if err := bw.Flush(); err != nil {
		return g.st, fmt.Errorf("journal: write: %w", err)
	}
	return g.st, nil
}

// merge is the state of one Merger.Merge.
type merge struct {
	m     *Merger
	parts *partitions
	st    MergeStats
	ids   map[string]int32 // intent ID → its index in outs
	outs  []outcomeOf      // the intents' outcomes, by index
	lines int              // lines read, for the look at the clock
	rec   *Recorder        // reads again (its read, with its retries); made on first use
	sc    lineScanner      // reads the intents, its slices kept from line to line
	buf   []byte           // the line buffer, kept from log to log
	res   []byte           // resolution lines not yet given to m.Resolutions
	resAt time.Time        // when res was last given
}

// outcomeOf is an intent's outcome: all ok, all not, or per account.
type outcomeOf struct {
	all    string // "ok", "no" or "" (see ok, no)
	ok, no map[string]bool
}

// applied says whether the intent's call applied to account (ok), or is known not to have (no).
func (o *outcomeOf) applied(account string) (ok, no bool) {
	switch {
	case o.all == "ok" || o.ok[account]:
		return true, false
	case o.all == "no" || o.no[account]:
		return false, true
	}
	return false, false
}

// late reports whether the merge is past m.Until (looked at every 4,096 lines).
func (g *merge) late() bool {
	g.lines++
	if g.m.Until.IsZero() || g.lines%4096 != 0 || time.Now().Before(g.m.Until) {
		return false
	}
	g.st.Unfinished = true
	return true
}

// readLog reads log number n into the partitions and the outcomes.
func (g *merge) readLog(n int, log io.Reader) error {
	if g.buf == nil {
		g.buf = make([]byte, 64<<10)
	}
	sc := bufio.NewScanner(log)
	sc.Buffer(g.buf, maxLineBytes)
	for i := 1; sc.Scan(); i++ {
		if line := bytes.TrimSpace(sc.Bytes()); len(line) > 0 {
			if err := g.line(line); err != nil {
				return fmt.Errorf("journal: log %d, line %d: %w", n, i, err)
			}
		}
		if g.late() {
			return nil
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("journal: read log %d: %w", n, err)
	}
	return nil
}

// line reads one line of a log.
func (g *merge) line(line []byte) error {
	switch {
	case bytes.HasPrefix(line, []byte(`{"I":`)):
		return g.intent(line)
	case bytes.HasPrefix(line, []byte(`{"O":`)):
		return g.outcome(line)
	case bytes.HasPrefix(line, []byte(`{"G":`)), bytes.HasPrefix(line, []byte(`{"K":`)):
		return g.resolution(line)
	}
	return fmt.Errorf("not a journal log line: %.60q", line)
}

// index returns the index of intent id, giving it one if it has none.
func (g *merge) index(id []byte) int32 {
	if i, ok := g.ids[string(id)]; ok {
		return i
	}
	i := int32(len(g.outs))
	g.ids[string(id)] = i
	g.outs = append(g.outs, outcomeOf{})
	return i
}

// intent sends an intent's pairs to the partitions, as its intent's.
func (g *merge) intent(line []byte) error {
	sc := &g.sc
	id, recs, ok := sc.intent(line)
	if !ok {
		var in intent
		if err := json.Unmarshal(line, &in); err != nil {
			return err
		}
		sc.recs = nil
		for _, r := range in.UserTags {
			sc.add(r.Account, r.Tags)
		}
		id, recs = []byte(in.I), sc.recs
	}
	kind := "i" + strconv.Itoa(int(g.index(id)))
	for _, r := range recs {
		for _, t := range r.tags {
			if err := g.parts.add(r.account, t, kind); err != nil {
				return err
			}
		}
	}
	return nil
}

// outcome notes an outcome line.
func (g *merge) outcome(line []byte) error {
	var o outcome
	if id, s, ok := scanOutcome(line); ok {
		o.O, o.S = id, s
	} else if err := json.Unmarshal(line, &o); err != nil {
		return err
	}
	cur := &g.outs[g.index([]byte(o.O))]
	switch o.S {
	case "ok", "no":
		cur.all = o.S
	}
	for _, a := range o.Ok {
		if cur.ok == nil {
			cur.ok = map[string]bool{}
		}
		cur.ok[a] = true
	}
	for _, a := range o.No {
		if cur.no == nil {
			cur.no = map[string]bool{}
		}
		cur.no[a] = true
	}
	return nil
}

// resolution is a line of what a merge's read found: the pairs of unknown
// outcome gone (removed by the job) and kept (not removed).
type resolution struct {
	G []records.Record `json:",omitempty"`
	K []records.Record `json:",omitempty"`
}

// resolution sends a resolution line's pairs to the partitions.
func (g *merge) resolution(line []byte) error {
	var r resolution
	if err := json.Unmarshal(line, &r); err != nil {
		return err
	}
	for kind, recs := range map[string][]records.Record{"g": r.G, "k": r.K} {
		for _, rec := range recs {
			for _, t := range rec.Tags {
				if err := g.parts.add([]byte(rec.Account), []byte(t), kind); err != nil {
					return err
				}
				g.st.Resolved++
			}
		}
	}
	return nil
}

// sortedPart is a partition read and sorted.
type sortedPart struct {
	lines []string
	err   error
}

// pairAt is a pair of sorted lines: the index of its first line, and its verdict.
type pairAt struct {
	line int32 // a partition holds about partitionBytes of lines: far fewer than 2³¹
	v    verdict
}

// account and tag are those of the pair whose first line is line.
func pairOf(line string) (account, tag string) {
	account, rest, _ := strings.Cut(line, "\x00")
	tag, _, _ = strings.Cut(rest, "\x00")
	return account, tag
}

// sortPart reads partition i and sorts it.
func (g *merge) sortPart(i int) sortedPart {
	lines, err := g.parts.read(i)
	if err != nil {
		return sortedPart{err: err}
	}
	slices.Sort(lines)
	return sortedPart{lines: lines}
}

// sortedParts yields the partitions in turn, each read and sorted. With
// more than one P the next is sorted while the caller resolves and writes
// one: at most one ahead, two partitions in memory (one with one P).
func (g *merge) sortedParts() iter.Seq[sortedPart] {
	return func(yield func(sortedPart) bool) {
		n := len(g.parts.files)
		if n == 1 || runtime.GOMAXPROCS(0) == 1 {
			for i := range n {
				if part := g.sortPart(i); !yield(part) || part.err != nil {
					return
				}
			}
			return
		}
		ready := make(chan sortedPart)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		defer func() { close(stop); wg.Wait() }()
		wg.Go(func() {
			defer close(ready)
			for i := range n {
				part := g.sortPart(i)
				select {
				case ready <- part:
				case <-stop:
					return
				}
				if part.err != nil {
					return
				}
			}
		})
		for part := range ready {
			if !yield(part) || part.err != nil {
				return
			}
		}
	}
}

// partition resolves a sorted partition and writes its accounts to out.
// One pass judges each pair and writes each account whose every pair is
// known: all of them in the common case. From the first account with a pair
// of unknown outcome on, it only keeps the pairs and collects the unknown
// ones; they are read again, and the rest of the accounts written after.
func (g *merge) partition(ctx context.Context, part sortedPart, out *bufio.Writer) error {
	if part.err != nil {
		return part.err
	}
	var (
		rest    []pairAt // the pairs from the first account not written; while all are known, the current account's
		known   = true   // no pair of unknown outcome so far
		account string
		tags    []string
		unknown []records.Record
		buf     []byte
	)
	write := func(account string, tags []string) error {
		if len(tags) == 0 {
			return nil
		}
		buf = appendRecord(buf[:0], records.Record{Account: account, Tags: tags})
		buf = append(buf, '\n')
		if _, err := out.Write(buf); err != nil {
			return fmt.Errorf("journal: write: %w", err)
		}
		g.st.Changed++
		g.st.TagsRemoved += int64(len(tags))
		return nil
	}
	for p := range pairs(part.lines) {
		v := g.verdict(p)
		if known && p.account != account {
			if err := write(account, tags); err != nil {
				return err
			}
			account, tags, rest = p.account, tags[:0], rest[:0]
		}
		rest = append(rest, pairAt{line: int32(p.at), v: v})
		switch {
		case v == unknownOf:
			known = false
			if n := len(unknown); n > 0 && unknown[n-1].Account == p.account {
				unknown[n-1].Tags = append(unknown[n-1].Tags, p.tag)
			} else {
				unknown = append(unknown, records.Record{Account: p.account, Tags: []string{p.tag}})
			}
			g.st.Unknown++
		case known && v == removed:
			tags = append(tags, p.tag)
		}
	}
	if known {
		return write(account, tags)
	}
	gone, err := g.resolve(ctx, unknown)
	if err != nil || g.st.Unfinished {
		return err
	}
	for account, tags := range g.journal(part.lines, rest, gone) {
		if err := write(account, tags); err != nil {
			return err
		}
	}
	return nil
}

// A partition's lines are "account NUL tag NUL kind", kind "g" (a read
// found the tag gone), "k" (found it kept) or "i" and an intent's index:
// sorted, the lines of a pair are together, and the pairs of an account.

// hashOf is the FNV-64a hash of s, which picks an account's partition.
func hashOf(s []byte) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// pairLines are the lines of one pair in a sorted partition.
type pairLines struct {
	account, tag string
	at           int      // the index of its first line
	lines        []string // each the pair's key ("account NUL tag NUL"), then a kind
}

// kind returns the kind of the pair's line i.
func (p pairLines) kind(i int) string { return p.lines[i][len(p.account)+len(p.tag)+2:] }

// pairs yields the pairs of sorted lines, each with its lines.
func pairs(lines []string) iter.Seq[pairLines] {
	return func(yield func(pairLines) bool) {
		for i := 0; i < len(lines); {
			account, tag := pairOf(lines[i])
			key := lines[i][:len(account)+len(tag)+2]
			j := i + 1
			for j < len(lines) && strings.HasPrefix(lines[j], key) {
				j++
			}
			if !yield(pairLines{account: account, tag: tag, at: i, lines: lines[i:j]}) {
				return
			}
			i = j
		}
	}
}

// verdict is what the lines of a pair say of its removal.
type verdict uint8

const (
	removed    verdict = iota // applied by a call of the job, or found gone
	notRemoved                // no call applied it: known, or found kept
	unknownOf                 // an intent's outcome is unknown: to be read
)

// verdict says what the kinds of a pair's lines say of it.
func (g *merge) verdict(p pairLines) verdict {
	kept, unknown := false, false
	for i := range p.lines {
		switch k := p.kind(i); {
		case k == "g":
			return removed
		case k == "k":
			kept = true
		case strings.HasPrefix(k, "i"):
			n, _ := strconv.Atoi(k[1:])
			ok, no := g.outs[n].applied(p.account)
			if ok {
				return removed
			}
			unknown = unknown || !no
		}
	}
	if unknown && !kept {
		return unknownOf
	}
	return notRemoved
}

// journal yields each account of pairs (of sorted lines) that lost tags,
// with its tags, sorted: the pairs removed, and those a read found gone.
func (g *merge) journal(lines []string, pairs []pairAt, gone map[string][]string) iter.Seq2[string, []string] {
	return func(yield func(string, []string) bool) {
		var account string
		var tags []string
		flush := func() bool {
			if len(tags) == 0 {
				return true
			}
			return yield(account, tags)
		}
		for _, p := range pairs {
			a, tag := pairOf(lines[p.line])
			if a != account {
				if !flush() {
					return
				}
				account, tags = a, tags[:0]
			}
			if p.v == removed || p.v == unknownOf && slices.Contains(gone[a], tag) {
				tags = append(tags, tag)
			}
		}
		flush()
	}
}

// resolve reads the accounts of unknown pairs again: a tag gone now was
// removed by the job (it was present when the intent was read). It returns
// the tags found gone, by account, and writes what it found as resolution
// lines. Short of time it stops, the merge unfinished.
func (g *merge) resolve(ctx context.Context, unknown []records.Record) (map[string][]string, error) {
	if len(unknown) == 0 {
		return nil, nil
	}
	if g.m.Reader == nil {
		return nil, fmt.Errorf("journal: %d accounts have removals of unknown outcome and no reader is given", len(unknown))
	}
	if g.rec == nil {
		lim := g.m.Limiter
		if lim == nil {
			lim = imapi.NewTokenBucket(imapi.MaxCallsPerSecond)
		}
		g.rec = &Recorder{cfg: Config{Reader: g.m.Reader, API: g.m.API, Limiter: lim, MaxReads: 8}}
		g.resAt = time.Now()
	}
	rctx, cancel := ctx, context.CancelFunc(func() {})
	if !g.m.Until.IsZero() {
		rctx, cancel = context.WithDeadline(ctx, g.m.Until)
	}
	defer cancel()
	gone := map[string][]string{}
	for chunk := range slices.Chunk(unknown, imapi.MaxAccountsPerCall) {
		g.st.Reads++
		still, err := g.rec.read(rctx, chunk)
		if err != nil && rctx.Err() == nil && !errors.Is(err, imapi.ErrWouldOverrun) {
			return nil, fmt.Errorf("journal: resolve removals of unknown outcome: %w", err)
		}
		if err != nil { // no read fits before m.Until: the next merge goes on
			g.st.Reads--
			g.st.Unfinished = true
			return nil, nil
		}
		var r resolution
		left := map[string][]string{}
		for _, s := range still {
			left[s.Account] = s.Tags
		}
		for _, u := range chunk {
			var lost []string
			for _, t := range u.Tags {
				if !slices.Contains(left[u.Account], t) {
					lost = append(lost, t)
				}
			}
			gone[u.Account] = lost
			if len(lost) > 0 {
				r.G = append(r.G, records.Record{Account: u.Account, Tags: lost})
			}
			if len(left[u.Account]) > 0 {
				r.K = append(r.K, records.Record{Account: u.Account, Tags: left[u.Account]})
			}
		}
		if err := g.noteResolution(ctx, r); err != nil {
			return nil, err
		}
	}
	return gone, nil
}

// resolutionEvery spaces the writes of the resolution lines.
const resolutionEvery = 2 * time.Second

// noteResolution keeps a resolution line, written to m.Resolutions with
// those of the next seconds.
func (g *merge) noteResolution(ctx context.Context, r resolution) error {
	if g.m.Resolutions == nil {
		return nil
	}
	line, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("journal: encode a resolution: %w", err)
	}
	g.res = append(append(g.res, line...), '\n')
	if time.Since(g.resAt) < resolutionEvery {
		return nil
	}
	return g.flushResolutions(ctx)
}

// flushResolutions writes the resolution lines not written yet.
func (g *merge) flushResolutions(ctx context.Context) error {
	if len(g.res) == 0 || g.m.Resolutions == nil {
		return nil
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := g.m.Resolutions.Append(actx, g.res); err != nil {
		return fmt.Errorf("journal: keep what the merge's reads found: %w", err)
	}
	g.res, g.resAt = g.res[:0], time.Now()
	return nil
}

// lineScanner reads the lines appendIntent writes, by hand; anything else
// (an escape in a string, another shape) it leaves to encoding/json.
type lineScanner struct {
	b    []byte
	i    int
	recs []scannedRecord
	tags [][]byte
}

// scannedRecord is an account of an intent and its tags, as read.
type scannedRecord struct {
	account []byte
	tags    [][]byte
}

// add appends a record decoded otherwise.
func (s *lineScanner) add(account string, tags []string) {
	r := scannedRecord{account: []byte(account)}
	for _, t := range tags {
		r.tags = append(r.tags, []byte(t))
	}
	s.recs = append(s.recs, r)
}

// lit reads the literal l, if it is next.
func (s *lineScanner) lit(l string) bool {
	if !bytes.HasPrefix(s.b[s.i:], []byte(l)) {
		return false
	}
	s.i += len(l)
	return true
}

// str reads a string without escapes.
func (s *lineScanner) str() ([]byte, bool) {
	if !s.lit(`"`) {
		return nil, false
	}
	rest := s.b[s.i:]
	end := bytes.IndexByte(rest, '"')
	if end < 0 || bytes.IndexByte(rest[:end], '\\') >= 0 {
		return nil, false
	}
	s.i += end + 1
	return rest[:end], true
}

// intent reads an intent line.
func (s *lineScanner) intent(line []byte) (id []byte, recs []scannedRecord, ok bool) {
	*s = lineScanner{b: line, recs: s.recs[:0], tags: s.tags[:0]}
	if !s.lit(`{"I":`) {
		return nil, nil, false
	}
	if id, ok = s.str(); !ok {
		return nil, nil, false
	}
	if s.lit(`}`) {
		return id, nil, s.i == len(s.b)
	}
	if !s.lit(`,"UserTags":[`) {
		return nil, nil, false
	}
	for first := true; !s.lit(`]`); first = false {
		if !first && !s.lit(`,`) || !s.record() {
			return nil, nil, false
		}
	}
	return id, s.recs, s.lit(`}`) && s.i == len(s.b)
}

// record reads an element of UserTags.
func (s *lineScanner) record() bool {
	if !s.lit(`{"To_Account":`) {
		return false
	}
	account, ok := s.str()
	if !ok || !s.lit(`,"Tags":[`) {
		return false
	}
	start := len(s.tags)
	for first := true; !s.lit(`]`); first = false {
		if !first && !s.lit(`,`) {
			return false
		}
		t, ok := s.str()
		if !ok {
			return false
		}
		s.tags = append(s.tags, t)
	}
	s.recs = append(s.recs, scannedRecord{account: account, tags: s.tags[start:len(s.tags):len(s.tags)]})
	return s.lit(`}`)
}

// scanOutcome reads an outcome line of all its accounts: {"O":"…","S":"ok"}
// or "no"; false for any other.
func scanOutcome(line []byte) (id, all string, ok bool) {
	s := lineScanner{b: line}
	if !s.lit(`{"O":`) {
		return "", "", false
	}
	b, ok := s.str()
	if !ok || !s.lit(`,"S":`) {
		return "", "", false
	}
	switch {
	case s.lit(`"ok"}`):
		all = "ok"
	case s.lit(`"no"}`):
		all = "no"
	default:
		return "", "", false
	}
	return string(b), all, s.i == len(s.b)
}

// partitions spread the pairs over temporary files by account, so that each
// is sorted in memory on its own.
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

// add notes a pair with kind, as "account NUL tag NUL kind" on a line of its
// account's partition; a pair that holds either separator is refused.
func (p *partitions) add(account, tag []byte, kind string) error {
	if bytes.ContainsAny(account, "\x00\n") || bytes.ContainsAny(tag, "\x00\n") {
		return fmt.Errorf("journal: pair %q/%q holds a NUL or a newline", account, tag)
	}
	w := p.ws[0]
	if len(p.ws) > 1 {
		w = p.ws[hashOf(account)%uint64(len(p.ws))]
	}
	w.Write(account)
	w.WriteByte(0)
	w.Write(tag)
	w.WriteByte(0)
	w.WriteString(kind)
	return w.WriteByte('\n')
}

// read returns the lines of partition i, and removes its file.
func (p *partitions) read(i int) ([]string, error) {
	if err := p.ws[i].Flush(); err != nil {
		return nil, fmt.Errorf("journal: merge: %w", err)
	}
	f := p.files[i]
	size, err := f.Seek(0, io.SeekCurrent)
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		return nil, fmt.Errorf("journal: merge: %w", err)
	}
	var text strings.Builder
	text.Grow(int(size))
	if _, err := io.Copy(&text, f); err != nil {
		return nil, fmt.Errorf("journal: merge: %w", err)
	}
	// Read once: removed now, the file gives its pages back (in a function's
	// memory, the page cache counts) before the journal's grow.
	f.Close()
	os.Remove(f.Name())
	p.files[i] = nil
	s := strings.TrimSuffix(text.String(), "\n")
	if s == "" {
		return nil, nil
	}
	return strings.Split(s, "\n"), nil
}

func (p *partitions) close() {
	for _, f := range p.files {
		if f != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}
}
