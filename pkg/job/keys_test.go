package job

import (
	"fmt"
	"strings"
	"testing"
)

// Kinds to come, named here to show that their objects never meet removal's
// or each other's; this version runs removal only.
var testKinds = []Kind{KindRemoval, "undo", "clear-all-tags", "plan"}

// trickyKeys are source keys that look like the layout's own names.
var trickyKeys = []string{
	"a.csv", "a", "a.json", "a.csv.json", "a.report.json", "a.jsonl",
	"state/a.csv", "state/a.csv.json", "reports/a.csv", "failed/a.csv", "parts/a.csv",
	"undo/a.csv", "undo/state/a.csv", "plan/state/a.csv.json", "clear-all-tags/reports/a.csv",
	"removal/state/a.csv", "undo", "plan.json", "state", ".json", "/a.csv", "a//b.csv",
	"dir/sub/a b.csv", "δοκιμή.csv", "journal/a.csv", "cancel/a.csv",
	"pending/a.csv", "a.csv.jsonl", "cancel/state/a.csv.json",
}

const testPrefix = "removetag/"

// TestRemovalKeysKeepTheirNames: the removal kind's objects are named as
// they were before jobs had kinds (an in-flight job of an older version goes on).
func TestRemovalKeysKeepTheirNames(t *testing.T) {
	fk := keysOf(testPrefix, KindRemoval, "in/a.csv")
	for _, tt := range []struct{ got, want string }{
		{fk.checkpoint(), "removetag/state/in/a.csv.json"},
		{fk.report(), "removetag/reports/in/a.csv.report.json"},
		{fk.failed(), "removetag/failed/in/a.csv.jsonl"},
		{fk.cancel(), "removetag/cancel/in/a.csv"},
		{fk.pending(), "removetag/pending/in/a.csv.jsonl"},
		{fk.pendingDoc(), "removetag/pending/in/a.csv.json"},
		{fk.partsDir(), "removetag/parts/4f7b28df7242a191a1b64a7d36b8a5f6/"},
		{fk.part(7, "0123abcd"), "removetag/parts/4f7b28df7242a191a1b64a7d36b8a5f6/000007-0123abcd.jsonl"},
		{stateDir(testPrefix, KindRemoval), "removetag/state/"},
	} {
		if tt.got != tt.want {
			t.Errorf("%q, want %q", tt.got, tt.want)
		}
	}
	if got := keysOf(testPrefix, "undo", "in/a.csv").checkpoint(); got != "removetag/undo/state/in/a.csv.json" {
		t.Errorf("undo checkpoint %q", got)
	}
}

// TestKeysNeverCollide: for every kind and tricky source key, no two
// (kind, key) pairs name one object, no object lies in another pair's parts
// folder, and a kind's state folder holds its own checkpoints only. A kind
// named as a segment of the layout would collide, which is why none may be.
func TestKeysNeverCollide(t *testing.T) {
	for _, c := range collisions(testKinds, trickyKeys) {
		t.Error(c)
	}
	// (A kind named "parts" would put its objects among removal's parts
	// folders, though not in one; it is reserved all the same.)
	for _, seg := range []Kind{"state", "reports", "failed", "cancel", "pending"} {
		if len(collisions([]Kind{KindRemoval, seg}, trickyKeys)) == 0 {
			t.Errorf("a kind named %q would collide with removal, but no collision was found", seg)
		}
	}
}

// collisions says where the objects of the kinds' jobs on the keys meet.
func collisions(kinds []Kind, keys []string) []string {
	type owner struct {
		kind   Kind
		key    string
		object string
	}
	var found []string
	seen := map[string]owner{}
	note := func(name string, o owner) {
		if prev, ok := seen[name]; ok {
			found = append(found, fmt.Sprintf("%q is the %s of (%s, %q) and the %s of (%s, %q)", name, prev.object, prev.kind, prev.key, o.object, o.kind, o.key))
		}
		seen[name] = o
	}
	var parts []owner // partsDir names, kept in owner.object
	for _, k := range kinds {
		for _, key := range keys {
			fk := keysOf(testPrefix, k, key)
			note(fk.checkpoint(), owner{k, key, "checkpoint"})
			note(fk.report(), owner{k, key, "report"})
			note(fk.failed(), owner{k, key, "failed records"})
			note(fk.cancel(), owner{k, key, "cancel marker"})
			note(fk.pending(), owner{k, key, "pending records"})
			note(fk.pendingDoc(), owner{k, key, "pending document"})
			note(fk.part(0, "0123abcd"), owner{k, key, "part"})
			parts = append(parts, owner{k, key, fk.partsDir()})
		}
	}
	for name, o := range seen {
		for _, p := range parts {
			if strings.HasPrefix(name, p.object) && (p.kind != o.kind || p.key != o.key) {
				found = append(found, fmt.Sprintf("the %s of (%s, %q), %q, is in the parts of (%s, %q)", o.object, o.kind, o.key, name, p.kind, p.key))
			}
		}
		for _, k := range kinds {
			in := strings.HasPrefix(name, stateDir(testPrefix, k))
			if want := o.object == "checkpoint" && k == o.kind; in != want {
				found = append(found, fmt.Sprintf("the %s of (%s, %q), %q: in the state folder of %s: %v", o.object, o.kind, o.key, name, k, in))
			}
		}
	}
	return found
}

// TestParseCheckpointKey: a checkpoint's key gives back its kind and source
// key; no other object of the layout parses as a checkpoint.
func TestParseCheckpointKey(t *testing.T) {
	for _, k := range testKinds {
		for _, key := range trickyKeys {
			fk := keysOf(testPrefix, k, key)
			gotKind, gotKey, ok := parseCheckpointKey(testPrefix, fk.checkpoint())
			if !ok || gotKind != k || gotKey != key {
				t.Errorf("parse %q = %q, %q, %v; want %q, %q", fk.checkpoint(), gotKind, gotKey, ok, k, key)
			}
			for _, other := range []string{fk.report(), fk.failed(), fk.part(3, "0123abcd"), fk.cancel(), fk.pending(), fk.pendingDoc()} {
				if kind, key, ok := parseCheckpointKey(testPrefix, other); ok {
					t.Errorf("parse %q = %q, %q: not a checkpoint", other, kind, key)
				}
			}
		}
	}
	for _, name := range []string{
		"other/state/a.csv.json",           // another prefix
		"removetag/state/a.csv",            // no .json
		"removetag/removal/state/a.json",   // removal has no segment of its own
		"removetag/Undo/state/a.json",      // not a kind's name
		"removetag/reports/state/a.json",   // a layout segment is no kind
		"removetag/undo/reports/a.json",    // not under state/
		"removetag/undo",                   // no object
		"removetag/quota/state/lease.json", // the quota's leases
	} {
		if kind, key, ok := parseCheckpointKey(testPrefix, name); ok {
			t.Errorf("parse %q = %q, %q: not a checkpoint", name, kind, key)
		}
	}
}

// TestKindCheck: a kind's name never is a layout segment, nor holds a slash.
func TestKindCheck(t *testing.T) {
	for _, k := range testKinds {
		if err := k.check(); err != nil {
			t.Errorf("%s: %v", k, err)
		}
	}
	for _, k := range []Kind{"", "state", "reports", "failed", "parts", "quota", "journal", "journal-parts", "inline-journal", "cancel", "pending",
		"a/b", "Undo", "1plan", "-x", "un do", "undo.", Kind(strings.Repeat("a", 33))} {
		if err := k.check(); err == nil {
			t.Errorf("%q accepted as a kind's name", k)
		}
	}
	if !KindRemoval.runs() || !KindUndo.runs() || Kind("clear-all-tags").runs() {
		t.Error("this version runs removal and undo, and no other kind")
	}
}

// TestContinueEventKind: removal's continuation event is the one of the
// versions before kinds, with no Kind; another kind's names it, and its own
// checkpoint; a continuation reads either back.
func TestContinueEventKind(t *testing.T) {
	cp := &Checkpoint{Source: "s3://data/in/a.csv", ETag: `"e1"`}
	for _, tt := range []struct {
		kind Kind
		want string
	}{
		{KindRemoval, `{"removetag":"continue","Source":"s3://data/in/a.csv","Checkpoint":"removetag/state/in/a.csv.json","ETag":"\"e1\"","Chain":3}`},
		{"undo", `{"removetag":"continue","Kind":"undo","Source":"s3://data/in/a.csv","Checkpoint":"removetag/undo/state/in/a.csv.json","ETag":"\"e1\"","Chain":3}`},
	} {
		j := &fileJob{kind: tt.kind, st: state{keys: keysOf(testPrefix, tt.kind, "in/a.csv")}}
		payload := j.continueEvent(cp, 3).Payload()
		if string(payload) != tt.want {
			t.Errorf("%s: %s\nwant %s", tt.kind, payload, tt.want)
		}
		p := classify(payload)
		if p.kind != kindContinue || eventKind(p.cont) != tt.kind {
			t.Errorf("%s: read back as %v, kind %q", tt.kind, p.kind, eventKind(p.cont))
		}
	}
}
