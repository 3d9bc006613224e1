// Package secrets reads the function's secrets (the IM key and the HTTP
// token) at run time from a secret store, so that they never sit in the
// function's configuration and a rotated key reaches running instances:
//
//   - [ParseRef] reads REMOVETAG_SECRET: secretsmanager:NAME (or an ARN) on AWS
//     Secrets Manager, ssm:NAME on Tencent Cloud Secrets Manager (SSM).
//   - [NewAWS] and [NewTencent] read a secret's current value from each store:
//     on AWS through a client made at the first read, on Tencent Cloud signed
//     with the role's credentials of the moment.
//   - [Cache] keeps the values for an instance, reads them again after
//     [DefaultMaxAge] or at once when IM refuses the key, and is the
//     imapi.KeySource of the IM client and the source of the HTTP token
//     ([Cache.HTTPToken]); it gives every value it reads to an observer
//     (CacheConfig.OnRead), for the log redaction.
//
// A secret holds JSON: {"IM_SECRET_KEY":"…","HTTP_TOKEN":"…"}. No error of
// this package quotes a secret's value; each names the secret.
package secrets

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Stores named by a [Ref].
const (
	// StoreAWS is AWS Secrets Manager.
	StoreAWS = "secretsmanager"
	// StoreTencent is Tencent Cloud Secrets Manager (SSM).
	StoreTencent = "ssm"
)

// The JSON keys of a secret's value.
const (
	FieldKey   = "IM_SECRET_KEY"
	FieldToken = "HTTP_TOKEN"
)

// Ref names a secret in a store.
type Ref struct {
	// Store is StoreAWS or StoreTencent.
	Store string
	// Name is the secret's name (on AWS, or its ARN).
	Name string
}

// String returns the reference as REMOVETAG_SECRET spells it.
func (r Ref) String() string { return r.Store + ":" + r.Name }

// ParseRef reads a secret reference: secretsmanager:NAME,
// secretsmanager:arn:aws:secretsmanager:…, a bare arn:aws:secretsmanager:…
// ARN, or ssm:NAME.
func ParseRef(s string) (Ref, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "arn:") {
		if !strings.Contains(s, ":secretsmanager:") {
			return Ref{}, fmt.Errorf("%q is not a Secrets Manager ARN", s)
		}
		return Ref{Store: StoreAWS, Name: s}, nil
	}
	store, name, ok := strings.Cut(s, ":")
	if !ok || name == "" || strings.ContainsFunc(name, func(r rune) bool { return r <= ' ' }) {
		return Ref{}, fmt.Errorf("%q: want secretsmanager:NAME (or an ARN) or ssm:NAME", s)
	}
	switch store {
	case StoreAWS, StoreTencent:
		return Ref{Store: store, Name: name}, nil
	}
	return Ref{}, fmt.Errorf("%q: unknown store %q: want secretsmanager:NAME (or an ARN) or ssm:NAME", s, store)
}

// Values are the function's secrets.
type Values struct {
	// IMSecretKey is the Chat app's key (IM_SECRET_KEY). Never empty.
	IMSecretKey string
	// HTTPToken is the bearer token of HTTP triggers (HTTP_TOKEN); may be empty.
	HTTPToken string
}

// Reader reads a secret's current values from its store.
type Reader interface {
	Read(ctx context.Context) (Values, error)
}

// Error is a secret that could not be read or used: it names the secret and
// says why, never quoting its value.
type Error struct {
	// Secret is the secret's reference.
	Secret Ref
	// Err is the cause.
	Err error
}

// Error names the secret and the cause.
func (e *Error) Error() string { return "secret " + e.Secret.String() + ": " + e.Err.Error() }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// decodeValues reads a secret's JSON. Errors never quote it.
func decodeValues(raw string) (Values, error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal([]byte(raw), &doc); err != nil {
		return Values{}, fmt.Errorf("its value is not a JSON object (want {%q:\"…\",%q:\"…\"}); the value is not shown", FieldKey, FieldToken)
	}
	field := func(name string) (string, error) {
		v, ok := doc[name]
		if !ok {
			return "", nil
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return "", fmt.Errorf("%s is not a string", name)
		}
		if s != strings.TrimSpace(s) {
			return "", fmt.Errorf("%s has white space before or after it (a pasted newline?)", name)
		}
		return s, nil
	}
	var v Values
	var err error
	if v.IMSecretKey, err = field(FieldKey); err != nil {
		return Values{}, err
	}
	if v.IMSecretKey == "" {
		return Values{}, fmt.Errorf("no %s in its JSON (want {%q:\"…\",%q:\"…\"})", FieldKey, FieldKey, FieldToken)
	}
	if v.HTTPToken, err = field(FieldToken); err != nil {
		return Values{}, err
	}
	return v, nil
}

// errNoString is a secret stored as binary.
var errNoString = errors.New("it holds no text (SecretString): store the JSON as text")
