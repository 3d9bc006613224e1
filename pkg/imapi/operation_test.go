package imapi_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/imapi/emulator"
	"github.com/removetag/removetag/pkg/records"
)

// TestEngineRunsAnotherOperation runs one engine on im_add_tag, then on the
// default im_remove_tag, the operation chosen per run, against the emulator, which serves it strictly (URL, UserSig, body and limits checked as
// for im_remove_tag): the same records, merged and sent the same way, add the
// tags that the default operation then removes.
func TestEngineRunsAnotherOperation(t *testing.T) {
	srv, client := newEmulator(t, emulator.Config{})
	const accounts = 250
	recs := make([]records.Record, 2*accounts) // each account twice in a row: merged into one element of a call
	for i := range recs {
		recs[i] = records.Record{Account: fmt.Sprintf("a%d", i/2), Tags: []string{fmt.Sprintf("t%d", i%2)}}
	}

	// One engine, its operation chosen per run.
	engine := imapi.NewEngine(client, imapi.EngineConfig{})
	add, err := engine.Run(context.Background(), records.NewSliceSource(recs), imapi.WithOperation(imapi.AllMemberPush.AddTag(false)))
	if err != nil {
		t.Fatal(err)
	}
	if !add.Done() || add.Succeeded != 2*accounts || add.Calls != 3 {
		t.Fatalf("im_add_tag run: %s", add.Summary())
	}
	if got := srv.TagCount(); got != 2*accounts {
		t.Fatalf("tags after im_add_tag = %d, want %d", got, 2*accounts)
	}
	if got := srv.Tags("a7"); !slices.Equal(got, []string{"t0", "t1"}) {
		t.Errorf("a7 holds %v after im_add_tag, want [t0 t1]", got)
	}

	remove, err := engine.Run(context.Background(), records.NewSliceSource(recs))
	if err != nil {
		t.Fatal(err)
	}
	if !remove.Done() || remove.Succeeded != 2*accounts || srv.TagCount() != 0 {
		t.Fatalf("default (im_remove_tag) run: %s; %d tags left", remove.Summary(), srv.TagCount())
	}
}

func TestOperationName(t *testing.T) {
	for op, want := range map[imapi.Operation]string{
		imapi.AllMemberPush.RemoveTag():   "im_remove_tag",
		imapi.AllMemberPush.AddTag(false): "im_add_tag",
		imapi.AllMemberPush.GetTag():      "im_get_tag",
	} {
		if got := op.Name(); got != want {
			t.Errorf("%s: Name() = %q, want %q", op, got, want)
		}
	}
}
