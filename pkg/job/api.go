// Package job is the function's application layer, between the platform adapters
// and the core: it turns a trigger's request (an HTTP body, a timer message, an
// uploaded object, a direct or continuation event) into runs of the [imapi.Engine],
// and keeps the durable state of long jobs in object storage: checkpoints,
// reports and failed records. It knows no platform event types: the adapters in
// pkg/adapters/scf and pkg/adapters/awslambda convert those.
//
// It has one entry, [Service.Handle]: a [Request] in (a job document from a
// caller that waits, a direct payload, a timer's message, an uploaded object),
// a [Result] or a typed refusal ([RefusedError], [SourceError]) out.
//
// # File jobs
//
// A stored file is read twice, streamed: a validation pass checks every record
// (an invalid file is rejected whole, before any call, and its report says why),
// then a send pass runs the engine. When the time budget runs out, the state goes
// to a checkpoint and the rest to a new asynchronous invocation (a
// [ContinueEvent]); the invocations of one file form a chain, numbered from 0.
// Under the output prefix of the file's bucket, for a job of [KindRemoval]:
//
//	state/{key}.json             the Checkpoint, while the job runs
//	parts/{digest}/NNNNNN-{owner}.jsonl  the failed records of each invocation, while the job runs
//	reports/{key}.report.json    the FileReport, when the file is done (or rejected)
//	failed/{key}.jsonl           the failed records, one {"To_Account":…,"Tags":[…]} per line
//
// and for a job of any other [Kind] the same under a segment of its own,
// {kind}/state/{key}.json and so on: no two jobs of different kinds on one
// file share an object. An {"Undo":"s3://bucket/key"} document runs a job of
// [KindUndo] on a journal (journal/{key}.jsonl, or any file of records),
// which adds its tags back (undo.go). An invocation claims a job by a conditional write of
// its checkpoint (where the store cannot, by a write read back), and each of
// its later writes is conditional on its last: one that lost the job to
// another learns it there and stops.
//
// Each invocation resumes at the checkpoint's position (a ranged GET at its byte
// offset for every format; gzip files are read from the start, skipping the
// records done), pinned to the file's ETag: a replaced file starts
// over. The failed records come from the engine's [imapi.OnFailed] hook, which
// reports exactly the failed records before the resume point, so each record is
// counted once across the chain. A continuation event whose chain number or ETag
// no longer matches the checkpoint is a stale duplicate and does nothing; the
// timer sweep takes on checkpoints that went without an update for SweepAfter
// (a lost self-invocation, a dead invocation, a chain past MaxChain).
package job

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/job/storage"
	"github.com/removetag/removetag/pkg/journal"
	"github.com/removetag/removetag/pkg/records"
)

// Defaults of [Config].
const (
	DefaultOutputPrefix = "removetag/"
	DefaultMaxChain     = 1000
	// DefaultMaxBodyBytes is the default Config.MaxBodyBytes, 4 MiB: the
	// largest round size whose event still reaches the function. SCF and
	// Lambda take a synchronous event of at most 6 MB, its own JSON included
	// (SCF: "6MB", read here as 6,000,000 bytes; Lambda: 6,291,456 bytes), and
	// a gateway that base64-encodes a body sends 4/3 of it: 4 MiB becomes
	// 5,592,408 bytes, leaving 407,592 for the event's headers and context,
	// which take a few KB. Larger bodies, up to the ~4.45 MB that can still
	// arrive, are answered 413 by the function rather than refused by the
	// platform.
	DefaultMaxBodyBytes = 4 << 20
	// DefaultMaxInlineRecords is the default Config.MaxInlineRecords.
	DefaultMaxInlineRecords = 100_000
	// DefaultMaxAnswerJournal is the default Config.MaxAnswerJournal, 1 MiB
	// of JSON Lines: the journal of about 20,000 accounts. An answer must fit
	// the platforms' 6 MB synchronous response (Lambda's Invoke: "For
	// synchronous invocations, the maximum payload size is 6 MB",
	// docs.aws.amazon.com/lambda/latest/dg/API_Invoke.html; SCF: 同步请求响应大小
	// 6MB, cloud.tencent.com/document/product/583/11637; both looked up
	// 2026-12-02), and a gateway's answer carries it as an escaped string (a journal
	// line's ten quotes grow it by about a third): 1 MiB of journal leaves
	// over 4 MB for the rest of the answer, its PendingUserTags included.
	DefaultMaxAnswerJournal = 1 << 20
	// DefaultSweepAfter is the default Config.SweepAfter: longer than the
	// longest invocation either platform allows (900 s), so that the sweep never
	// takes a checkpoint from an invocation that is still running.
	DefaultSweepAfter = 20 * time.Minute
)

// StoreOpener opens buckets; package objstore implements it on S3 and COS.
type StoreOpener interface {
	// Open returns the Store of loc's bucket. region is the region an event
	// named (COS events carry a short code such as "gz"), or "" for the
	// function's own.
	Open(ctx context.Context, loc storage.Location, region string) (storage.Store, error)
}

// Invoker hands an event to a new asynchronous invocation of this function;
// package invoke implements it on Lambda and SCF.
type Invoker interface {
	// InvokeAsync queues payload, a JSON event, for a new invocation and
	// returns once the platform has accepted it.
	InvokeAsync(ctx context.Context, payload []byte) error
}

// Config configures a [Service].
type Config struct {
	// Engine runs the calls; shared by every request the process serves.
	Engine *imapi.Engine
	// API is the tag API family every run calls, and the journal reads:
	// imapi.AllMemberPush (the default, "") or imapi.TimPush. Reports and
	// results name the operation called.
	API imapi.API
	// Quota, if set, gives every run (file, continuation, sweep, HTTP, timer,
	// direct) its share of the app's rate, shared with the jobs of every
	// instance; nil: each run uses the engine's own rate.
	Quota Quota
	// OpenStore opens buckets (S3 or COS) by location; nil: file jobs are refused.
	OpenStore StoreOpener
	// Invoker hands continuation events to a new asynchronous invocation; nil: no
	// self-invocation (long file jobs then rely on the timer sweep).
	Invoker Invoker
	// OutputPrefix is where reports, failed records and checkpoints go in the
	// source's bucket; default "removetag/" (a missing final slash is added).
	// Objects under it are never processed as uploads or {"Source":…}
	// documents; an {"Undo":…} document names one (a journal) on purpose.
	OutputPrefix string
	// Buckets are where the timer sweep looks for checkpoints left behind
	// (locations without a key).
	Buckets []storage.Location
	// MaxChain bounds the continuation chain of one file; default 1000. Past it,
	// the checkpoint is left for the timer sweep.
	MaxChain int
	// MaxBodyBytes bounds an HTTP body or direct payload; default
	// DefaultMaxBodyBytes (4 MiB). An inline job may inflate (gzip) to at most
	// twice this.
	MaxBodyBytes int64
	// MaxInlineRecords bounds the records of one inline job (an HTTP body, a
	// direct payload or a timer message); default 100,000. Past it, nothing is
	// sent: HTTP answers 413, other triggers an invalid result, each saying to
	// upload the records as a file.
	MaxInlineRecords int
	// SweepAfter is how long a checkpoint must have gone without an update
	// before the timer sweep (or a new upload event) takes its job over; default
	// 20 minutes. A live chain updates its checkpoint at the start and end of
	// every invocation, so this must exceed the function's timeout.
	SweepAfter time.Duration
	// Logger receives structured logs (never a secret); default: discard.
	Logger *slog.Logger
	// Journal, if set, reads the accounts' tags before each batch is
	// removed (the IM client), and the file jobs keep a journal of the tags
	// they really removed (package journal): the report's Changed and
	// TagsRemoved, and journal/{key}.jsonl. nil: no journal.
	Journal journal.Reader
	// JournalLimiter paces the journal's reads (the get API's own rate) where
	// the run has no share of the Quota (with one, they follow the share's
	// rate) and at the merge; default: a token bucket at 100 calls/s per run.
	JournalLimiter imapi.Limiter
	// MaxAnswerJournal bounds the journal an inline job's answer carries
	// (JournalUserTags), in bytes of JSON Lines; a larger one is written to
	// the first of Buckets (JournalObject). Default DefaultMaxAnswerJournal.
	MaxAnswerJournal int
}

// Status says what became of a request's job: the Status of a [Result] and of a [FileReport].
type Status string

// Statuses of a [Result]. The driving side may answer in statuses of its own
// (pkg/adapters/trigger's HTTP answers add "refused" and "error").
const (
	// StatusDone: every record was handled (some may have failed for good; see Failed).
	StatusDone Status = "done"
	// StatusPending: records are left: PendingUserTags (inline jobs), or a
	// checkpoint that a continuation (Continued) or the timer sweep takes on.
	StatusPending Status = "pending"
	// StatusInvalid: the input was rejected before any call (Errors, Message).
	StatusInvalid Status = "invalid"
	// StatusSkipped: the file is already done or in progress elsewhere; nothing was sent.
	StatusSkipped Status = "skipped"
	// StatusIgnored: the object is the function's own output; nothing was read.
	StatusIgnored Status = "ignored"
	// StatusSwept: the result of a sweep; see Jobs.
	StatusSwept Status = "swept"
	// StatusCanceled: an admin stopped the job (a cancel request, see
	// [RequestCancel]); its records left are pending, in PendingKey.
	StatusCanceled Status = "canceled"
	// StatusListed: the answer of a status request; see Summaries.
	StatusListed Status = "listed"
)

// Result is the answer of every kind of request: the report of the records it
// handled, and what became of the job.
type Result struct {
	// Status is one of: "done", "pending" (records left; see PendingUserTags or
	// Continued), "invalid" (rejected before any call; see Errors), "skipped"
	// (already done or in progress), "ignored" (the function's own output),
	// "swept", "canceled", "listed".
	Status Status
	// Message explains the status for people, where there is more to say.
	Message string `json:",omitempty"`
	// Source is the stored file, for file jobs.
	Source string `json:",omitempty"`
	// API is the operation the job called (see FileReport.API); empty when
	// none was called.
	API string `json:",omitempty"`
	// AllTags is set for an inline job of the form of accounts alone
	// ({"AllTags":true,"To_Account":[…]}): every tag of each account was to
	// go, and PendingUserTags hold accounts alone, to send again in that form.
	AllTags bool `json:",omitempty"`
	// Report counts the records (for file jobs: the whole file so far, across the chain).
	imapi.Report
	// Invocation counts this invocation's own part of the work (see
	// [Result.Ended] and [Result.LeftForSweep] for what became of the job):
	// for a file job, what its link added to the file's counts; for an
	// inline job, its Report's; for a sweep, the sum over its Jobs; nothing
	// for a request it skipped or refused. Succeeded, Failed, Calls and
	// Retries are the flows (summed over a chain's invocations they give the
	// report's, unless the file changed and the job started over); Total is
	// Succeeded + Failed, and Pending 0: the records left are the Report's.
	Invocation imapi.Counts `json:",omitzero"`
	// Errors lists the problems of a rejected input (first 20; ErrorCount counts all).
	Errors     []records.Problem `json:",omitempty"`
	ErrorCount int               `json:",omitempty"`
	// PendingUserTags are the records not done, in the API's form, for inline jobs.
	PendingUserTags []records.Record `json:",omitempty"`
	// Restarted is set when a stored file changed (new ETag) since its checkpoint:
	// the job started over.
	Restarted bool `json:",omitempty"`
	// Continued is set when the rest was handed to a new invocation.
	Continued bool `json:",omitempty"`
	// Chain is the invocation's place in the file's continuation chain (0: the first).
	Chain int `json:",omitempty"`
	// Changed and TagsRemoved say what a journaled file job changed: the
	// accounts that lost a tag, the account–tag pairs removed (see FileReport).
	journal.Changes
	// JournalUserTags is an inline job's journal, in the API's form: the tags
	// it removed, an element per account that lost tags ([] if none did).
	// A journal over Config.MaxAnswerJournal is in the object JournalObject
	// names instead (s3://bucket/key or cos://bucket-appid/key, in the first
	// of the function's buckets); JournalNotKept says why a job that journals
	// has neither (no bucket for a large journal, a read or write that failed).
	JournalUserTags []records.Record `json:",omitzero"`
	JournalObject   string           `json:",omitempty"`
	JournalNotKept  string           `json:",omitempty"`
	// ReportKey, FailedKey, JournalKey, PendingKey and CheckpointKey name the
	// objects written in the source's bucket.
	ReportKey     string `json:",omitempty"`
	FailedKey     string `json:",omitempty"`
	JournalKey    string `json:",omitempty"`
	PendingKey    string `json:",omitempty"`
	CheckpointKey string `json:",omitempty"`
	// Jobs holds the results of the files a sweep continued.
	Jobs []*Result `json:",omitempty"`
	// Summaries are the file jobs a status request found (see [Summary]),
	// and the job a cancel request stopped.
	Summaries []Summary `json:",omitempty"`
}

// Service handles the function's requests ([Service.Handle]). It is safe for
// concurrent use.
type Service struct {
	cfg Config
}

// New checks cfg and returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Engine == nil {
		return nil, errors.New("job: Config.Engine is required")
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Service{cfg: cfg}, nil
}

// withDefaults checks cfg, but for its Engine, and fills in its defaults.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.OutputPrefix == "" {
		cfg.OutputPrefix = DefaultOutputPrefix
	}
	if strings.HasPrefix(cfg.OutputPrefix, "/") {
		return cfg, fmt.Errorf("job: OutputPrefix %q must not start with a slash", cfg.OutputPrefix)
	}
	if !strings.HasSuffix(cfg.OutputPrefix, "/") {
		cfg.OutputPrefix += "/"
	}
	if cfg.MaxChain <= 0 {
		cfg.MaxChain = DefaultMaxChain
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.MaxInlineRecords <= 0 {
		cfg.MaxInlineRecords = DefaultMaxInlineRecords
	}
	if cfg.SweepAfter <= 0 {
		cfg.SweepAfter = DefaultSweepAfter
	}
	if cfg.MaxAnswerJournal <= 0 {
		cfg.MaxAnswerJournal = DefaultMaxAnswerJournal
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	for _, b := range cfg.Buckets {
		if _, err := storage.ParseLocation(b.Scheme + "://" + b.Bucket); err != nil {
			return cfg, fmt.Errorf("job: Buckets: %w", err)
		}
		if b.Key != "" {
			return cfg, fmt.Errorf("job: Buckets: %s names an object; want a bucket (%s://%s)", b, b.Scheme, b.Bucket)
		}
	}
	return cfg, nil
}
