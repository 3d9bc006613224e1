// Package storage is the object storage port of the job service: one bucket,
// seen through [Store], addressed by [Location]. The service declares it; the
// adapters implement it (package objstore for Amazon S3 and Tencent Cloud COS,
// objstore.Leases presents a Store to package quota).
//
// Every implementation behaves alike (objstore's contract test suite runs
// against each): missing keys are [ErrNotFound], reads pinned to an ETag that
// no longer matches are [ErrChanged], reads can start at any byte offset and
// stream, and listings return every page.
//
// Conditional writes ([Store.PutIf]) are what the store offers, no more: each
// store reports in [Store.Conditions] which preconditions it honours, and
// refuses the others with [ErrConditionUnsupported] rather than writing
// without them. A precondition that does not hold is [ErrPreconditionFailed].
package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"
)

// Schemes of [Location].
const (
	SchemeS3  = "s3"
	SchemeCOS = "cos"
)

// ErrNotFound is returned (wrapped) by Stat and Open when the key does not exist.
var ErrNotFound = errors.New("object not found")

// ErrChanged is returned (wrapped) by Open when it is given an ETag and the
// object's ETag differs: the object was replaced since the ETag was read.
var ErrChanged = errors.New("object changed")

// ErrPreconditionFailed is returned (wrapped) by PutIf when its condition does
// not hold: a create-only put found the key taken, or a put conditional on an
// ETag found the object changed or deleted. Nothing was written. Of two
// conditional writes racing on one key, at most one succeeds.
var ErrPreconditionFailed = errors.New("precondition failed")

// ErrConditionUnsupported is returned (wrapped) by PutIf for a condition the
// store does not honour (see Store.Conditions). Nothing was written.
var ErrConditionUnsupported = errors.New("conditional write not supported by the store")

// Condition is the precondition of a conditional write: exactly one of its
// fields is set.
type Condition struct {
	// Create makes the put create-only: it fails if the key exists.
	Create bool
	// IfMatch makes the put replace only the object whose ETag it is (quoted
	// or not): it fails if the object changed or no longer exists.
	IfMatch string
}

// IfAbsent is the create-only condition.
func IfAbsent() Condition { return Condition{Create: true} }

// IfMatch is the condition of replacing only the object with this ETag.
func IfMatch(etag string) Condition { return Condition{IfMatch: etag} }

// String describes the condition, for errors and logs.
func (c Condition) String() string {
	switch {
	case c.Create && c.IfMatch == "":
		return "create-only"
	case !c.Create && c.IfMatch != "":
		return `if-match "` + TrimETag(c.IfMatch) + `"`
	}
	return fmt.Sprintf("invalid condition (create %v, if-match %q)", c.Create, c.IfMatch)
}

// Validate rejects a condition with none or both of its fields set; a store's
// PutIf calls it before anything else.
func (c Condition) Validate() error {
	if c.Create == (c.IfMatch != "") {
		return fmt.Errorf("%s: set exactly one of Create and IfMatch", c)
	}
	return nil
}

// Conditions says which conditions a store's PutIf honours, atomically, on
// its bucket.
type Conditions struct {
	// Create: create-only puts are honoured.
	Create bool
	// IfMatch: puts conditional on an ETag are honoured.
	IfMatch bool
	// Note says, for logs, how they are honoured or why not.
	Note string
}

// Supports reports whether c is among the conditions.
func (cs Conditions) Supports(c Condition) bool {
	if c.Create {
		return cs.Create
	}
	return cs.IfMatch
}

// Info describes a stored object.
type Info struct {
	Key  string
	Size int64
	// ETag is the object's entity tag without quotes.
	ETag string
	// Modified is when the object was last written, as the store says it
	// (to the second: HTTP's Last-Modified); zero where the store did not
	// say. Stat fills it in. Beside the ETag it tells a new upload of the same
	// content from a repeated event of the old one.
	Modified time.Time
}

// Store is one bucket.
type Store interface {
	// Name names the bucket: "s3://bucket" or "cos://bucket-appid".
	Name() string
	// Open streams the object from byte offset off (0: the whole object) to its
	// end. If etag is not empty and the object's ETag differs, Open returns
	// ErrChanged. The Info is the whole object's: Size is its full size.
	// Opening at off == Size gives an empty stream.
	Open(ctx context.Context, key string, off int64, etag string) (io.ReadCloser, Info, error)
	// Stat describes the object.
	Stat(ctx context.Context, key string) (Info, error)
	// Put stores body (read from its current position to its end) under key.
	// The body is seekable because the SDKs must send a Content-Length and may
	// retry.
	Put(ctx context.Context, key string, body io.ReadSeeker, contentType string) error
	// Conditions reports which conditions PutIf honours on this bucket. It
	// may ask the service, once; a question the service could not answer
	// counts as "none" and is asked again next time.
	Conditions(ctx context.Context) Conditions
	// PutIf stores body like Put, if cond holds when the object is written,
	// and returns the new object's ETag (unquoted) for the next conditional
	// write. A condition that does not hold is ErrPreconditionFailed, one
	// the store does not honour ErrConditionUnsupported; neither writes.
	PutIf(ctx context.Context, key string, body io.ReadSeeker, contentType string, cond Condition) (etag string, err error)
	// List returns every object whose key starts with prefix, in key order.
	List(ctx context.Context, prefix string) ([]Info, error)
	// Delete removes the object; deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
}

// Location is a parsed "s3://bucket/key" or "cos://bucket-appid/key".
// Key may be empty when the location names a bucket.
type Location struct {
	Scheme string // SchemeS3 or SchemeCOS
	Bucket string
	Key    string
}

var (
	// S3 bucket names: 3-63 lower-case letters, digits, dots and hyphens,
	// starting and ending with a letter or digit.
	s3BucketName = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
	// COS bucket names: name-appid, the name of lower-case letters, digits and
	// hyphens, the appid of digits.
	cosBucketName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*-[0-9]+$`)
)

// ParseLocation parses "s3://bucket/key" or "cos://bucket-appid/key". The key
// is everything after the bucket's slash, taken literally (no URL decoding),
// and may be empty.
func ParseLocation(s string) (Location, error) {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return Location{}, fmt.Errorf("object location %q: want s3://bucket/key or cos://bucket-appid/key", s)
	}
	bucket, key, _ := strings.Cut(rest, "/")
	l := Location{Scheme: scheme, Bucket: bucket, Key: key}
	if err := l.Validate(); err != nil {
		return Location{}, fmt.Errorf("object location %q: %w", s, err)
	}
	return l, nil
}

// Validate checks the bucket's name against its scheme's naming rules.
func (l Location) Validate() error {
	if l.Bucket == "" {
		return errors.New("empty bucket name")
	}
	switch l.Scheme {
	case SchemeS3:
		if !s3BucketName.MatchString(l.Bucket) || strings.Contains(l.Bucket, "..") {
			return fmt.Errorf("invalid S3 bucket name %q", l.Bucket)
		}
	case SchemeCOS:
		if !cosBucketName.MatchString(l.Bucket) {
			return fmt.Errorf("invalid COS bucket name %q: want name-appid, e.g. accounts-1250000000", l.Bucket)
		}
	default:
		return fmt.Errorf("unknown scheme %q: want %q or %q", l.Scheme, SchemeS3, SchemeCOS)
	}
	return nil
}

// String formats the location back to "scheme://bucket/key", or
// "scheme://bucket" when the key is empty.
func (l Location) String() string {
	s := l.Scheme + "://" + l.Bucket
	if l.Key != "" {
		s += "/" + l.Key
	}
	return s
}

// TrimETag removes the quotes (and a weak validator prefix) around an ETag,
// giving the form [Info.ETag] holds.
func TrimETag(etag string) string {
	return strings.Trim(strings.TrimPrefix(etag, "W/"), `"`)
}
