package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"

	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/records"
)

// verifyAll is the --verify limit that reads every account back.
const verifyAll = -1

// verifyFlag is --verify: alone, read back every account; --verify=N, the first N.
type verifyFlag struct{ limit *int64 }

func (f verifyFlag) String() string {
	switch {
	case f.limit == nil || *f.limit == 0:
		return ""
	case *f.limit == verifyAll:
		return "all"
	}
	return strconv.FormatInt(*f.limit, 10)
}

func (f verifyFlag) Set(s string) error {
	if s == "true" || s == "all" {
		*f.limit = verifyAll
		return nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return fmt.Errorf("want a number of accounts above 0, or nothing for all of them")
	}
	*f.limit = n
	return nil
}

// IsBoolFlag lets --verify stand alone.
func (f verifyFlag) IsBoolFlag() bool { return true }

// Verification is what reading the accounts back found.
type Verification struct {
	// Checked counts the accounts read back (an account whose records are far
	// apart in the input is read back once per call it falls in).
	Checked int64
	// Skipped counts the accounts not read back: their records failed or are
	// pending, so their tags may well be there.
	Skipped int64 `json:",omitempty"`
	// Unreadable counts the accounts the service would not read back: the
	// answer's ErrorList named them (an account the Push service does not know
	// is 70107); they are not checked.
	Unreadable int64 `json:",omitempty"`
	// StillTagged counts the accounts that still carry a tag their records
	// removed (with --all-tags, any tag at all).
	StillTagged int64
	// Accounts lists them (the first 100), with the tags left.
	Accounts []records.Record `json:",omitempty"`
}

// maxListed caps Verification.Accounts.
const maxListed = 100

// tagReader reads accounts' tags: *imapi.Client.
type tagReader interface {
	GetTags(ctx context.Context, api imapi.API, accounts []string) ([]records.Record, []*imapi.APIError, error)
}

// verify reads back, with api's get operation at most rate calls per second, the
// accounts of src (the first limit of them, or all), leaving out those of
// records the report says failed or are pending, and reports the accounts that
// still carry a tag their records removed.
func verify(ctx context.Context, tags tagReader, api imapi.API, src records.Source, rep *imapi.Report, limit int64, rate float64) (*Verification, error) {
	unresolved := map[string]bool{}
	for _, f := range rep.Failures {
		for _, a := range f.Accounts {
			unresolved[a] = true
		}
	}
	for _, r := range rep.PendingRecords {
		unresolved[r.Account] = true
	}
	lim := imapi.NewTokenBucket(rate)
	v := &Verification{}
	batch := map[string][]string{} // account → the tags its records removed
	var order []string
	flush := func() error {
		if len(order) == 0 {
			return nil
		}
		if err := lim.Wait(ctx); err != nil {
			return err
		}
		got, unread, err := tags.GetTags(ctx, api, order)
		if err != nil {
			return fmt.Errorf("read back %d accounts: %w", len(order), err)
		}
		v.Checked += int64(len(order) - len(unread))
		v.Unreadable += int64(len(unread))
		for _, r := range got {
			var left []string
			for _, t := range r.Tags {
				// An account of records alone (--all-tags) was to lose every tag.
				if removed := batch[r.Account]; len(removed) == 0 || slices.Contains(removed, t) {
					left = append(left, t)
				}
			}
			if len(left) > 0 {
				v.StillTagged++
				if len(v.Accounts) < maxListed {
					v.Accounts = append(v.Accounts, records.Record{Account: r.Account, Tags: left})
				}
			}
		}
		clear(batch)
		order = order[:0]
		return nil
	}
	for seen := int64(0); limit == verifyAll || seen < limit; {
		rec, err := src.Next()
		if err == io.EOF {
			break
		}
		var p *records.Problem
		if errors.As(err, &p) {
			continue
		}
		if err != nil {
			return v, err
		}
		if unresolved[rec.Account] {
			v.Skipped++
			continue
		}
		if _, ok := batch[rec.Account]; !ok {
			if len(order) == imapi.MaxAccountsPerCall {
				if err := flush(); err != nil {
					return v, err
				}
			}
			order = append(order, rec.Account)
			seen++
		}
		batch[rec.Account] = append(batch[rec.Account], rec.Tags...)
	}
	return v, flush()
}

// Type names the flag's value for --help.
func (f verifyFlag) Type() string { return "N" }
