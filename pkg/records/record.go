package records

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// Limits of one record, the service's.
const (
	// MaxAccountBytes is the longest UserID the service accepts, in bytes.
	MaxAccountBytes = 32
	// MaxTagBytes is the longest tag the service accepts, in UTF-8 bytes.
	MaxTagBytes = 50
	// MaxTagsPerRecord caps the tags of one record (and of one account within a call):
	// a user holds at most 100 tags, so a longer list cannot be meaningful.
	MaxTagsPerRecord = 100
)

// Record is one account and the tags to remove from it: one element of the API's UserTags array.
type Record struct {
	// Account is the user's UserID (To_Account).
	Account string `json:"To_Account"`
	// Tags are the tags to remove from the account.
	Tags []string `json:"Tags"`
}

// Validate reports the first reason the record cannot be sent, or nil.
// The rules are the service's: an account of 1 to 32 bytes, 1 to 100 tags of
// 1 to 50 bytes each, all valid UTF-8 without control characters in the account.
func (r Record) Validate() error {
	if err := r.validAccount(); err != nil {
		return err
	}
	switch {
	case len(r.Tags) == 0:
		return fmt.Errorf("account %q has no tags", r.Account)
	case len(r.Tags) > MaxTagsPerRecord:
		return fmt.Errorf("account %q has %d tags, the limit is %d", r.Account, len(r.Tags), MaxTagsPerRecord)
	}
	for i, t := range r.Tags {
		switch {
		case t == "":
			return fmt.Errorf("tag %d of account %q is empty", i+1, r.Account)
		case len(t) > MaxTagBytes:
			return fmt.Errorf("tag %d of account %q is %d bytes, the limit is %d", i+1, r.Account, len(t), MaxTagBytes)
		case !utf8.ValidString(t):
			return fmt.Errorf("tag %d of account %q is not valid UTF-8", i+1, r.Account)
		}
	}
	return nil
}

// ValidateAccount reports the first reason the record is not an account alone,
// or nil: Validate's rules for the account, and no tags at all. It is the rule
// of the inputs of accounts alone (a job clearing every tag of its accounts),
// where a record naming tags is refused rather than read as "these tags only".
func (r Record) ValidateAccount() error {
	if err := r.validAccount(); err != nil {
		return err
	}
	if len(r.Tags) > 0 {
		return fmt.Errorf("account %q names %d tag(s): this input takes accounts alone (every tag of each is removed)", r.Account, len(r.Tags))
	}
	return nil
}

// validAccount applies the rules of To_Account.
func (r Record) validAccount() error {
	switch {
	case r.Account == "":
		return fmt.Errorf("To_Account is empty")
	case len(r.Account) > MaxAccountBytes:
		return fmt.Errorf("To_Account %q is %d bytes, the limit is %d", clip(r.Account), len(r.Account), MaxAccountBytes)
	case !utf8.ValidString(r.Account):
		return fmt.Errorf("To_Account %q is not valid UTF-8", clip(r.Account))
	case hasControl(r.Account):
		return fmt.Errorf("To_Account %q contains a control character", clip(r.Account))
	}
	return nil
}

func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}

// clip shortens s for an error message.
func clip(s string) string {
	const n = 40
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// validator returns the rule records are judged by: Record.Validate, or for an
// input of accounts alone Record.ValidateAccount.
func validator(accountsOnly bool) func(Record) error {
	if accountsOnly {
		return Record.ValidateAccount
	}
	return Record.Validate
}

// JSONLine returns r in the JSON Lines form the decoders read back, without
// the line break: {"To_Account":"u1","Tags":["a"]}, or {"To_Account":"u1"}
// for a record of accounts alone (no tags), which an input read with
// DecoderOptions.AccountsOnly takes.
func (r Record) JSONLine() ([]byte, error) {
	if len(r.Tags) == 0 {
		return json.Marshal(struct {
			Account string `json:"To_Account"`
		}{r.Account})
	}
	return json.Marshal(r)
}
