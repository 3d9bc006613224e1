package objstore_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/removetag/removetag/pkg/job/storage"
)

// runContract checks the behaviour every Store must have. newStore returns a
// store on a new, empty bucket.
func runContract(t *testing.T, newStore func(t *testing.T) storage.Store) {
	t.Run("PutStatOpen", func(t *testing.T) {
		t.Parallel()
		testPutStatOpen(t, newStore(t))
	})
	t.Run("RangedOpen", func(t *testing.T) {
		t.Parallel()
		testRangedOpen(t, newStore(t))
	})
	t.Run("ETag", func(t *testing.T) {
		t.Parallel()
		testETag(t, newStore(t))
	})
	t.Run("NotFound", func(t *testing.T) {
		t.Parallel()
		testNotFound(t, newStore(t))
	})
	t.Run("List", func(t *testing.T) {
		t.Parallel()
		testList(t, newStore(t))
	})
	t.Run("Delete", func(t *testing.T) {
		t.Parallel()
		testDelete(t, newStore(t))
	})
	t.Run("Keys", func(t *testing.T) {
		t.Parallel()
		testKeys(t, newStore(t))
	})
	t.Run("LargeObject", func(t *testing.T) {
		t.Parallel()
		testLargeObject(t, newStore(t))
	})
}

func put(t *testing.T, s storage.Store, key, content string) {
	t.Helper()
	if err := s.Put(t.Context(), key, strings.NewReader(content), "text/plain"); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

// open opens and reads an object whole.
func open(ctx context.Context, s storage.Store, key string, off int64, etag string) (string, storage.Info, error) {
	rc, info, err := s.Open(ctx, key, off, etag)
	if err != nil {
		return "", info, err
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return "", info, fmt.Errorf("read %s: %w", key, err)
	}
	return string(data), info, nil
}

func testPutStatOpen(t *testing.T, s storage.Store) {
	ctx := t.Context()
	tests := []struct {
		name, key, content string
	}{
		{"text", "dir/accounts.csv", "user1\nuser2\n"},
		{"empty", "empty.jsonl", ""},
		{"binary", "bin", "\x00\xff\x1f\x8b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			put(t, s, tt.key, tt.content)
			info, err := s.Stat(ctx, tt.key)
			if err != nil {
				t.Fatalf("Stat: %v", err)
			}
			if info.Key != tt.key || info.Size != int64(len(tt.content)) || info.ETag == "" || strings.Contains(info.ETag, `"`) {
				t.Errorf("Stat = %+v, want key %q, size %d and an unquoted ETag", info, tt.key, len(tt.content))
			}
			// Last-Modified is to the second; the clocks are this machine's.
			if since := time.Since(info.Modified); info.Modified.IsZero() || since < -2*time.Second || since > time.Minute {
				t.Errorf("Stat's Modified = %v, want about now (%v)", info.Modified, time.Now().UTC())
			}
			got, oinfo, err := open(ctx, s, tt.key, 0, "")
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if got != tt.content {
				t.Errorf("Open read %q, want %q", got, tt.content)
			}
			if oinfo != info {
				t.Errorf("Open info = %+v, want Stat's %+v", oinfo, info)
			}
		})
	}

	t.Run("from current position", func(t *testing.T) {
		body := strings.NewReader("skipped:kept")
		if _, err := body.Seek(int64(len("skipped:")), io.SeekStart); err != nil {
			t.Fatal(err)
		}
		if err := s.Put(ctx, "pos", struct{ io.ReadSeeker }{body}, ""); err != nil {
			t.Fatalf("Put: %v", err)
		}
		if got, _, err := open(ctx, s, "pos", 0, ""); err != nil || got != "kept" {
			t.Errorf("Open = %q, %v; want %q", got, err, "kept")
		}
	})

	t.Run("overwrite", func(t *testing.T) {
		put(t, s, "over", "first")
		first, err := s.Stat(ctx, "over")
		if err != nil {
			t.Fatal(err)
		}
		put(t, s, "over", "second, longer")
		got, info, err := open(ctx, s, "over", 0, "")
		if err != nil || got != "second, longer" || info.Size != 14 {
			t.Errorf("Open = %q, %+v, %v; want the second content", got, info, err)
		}
		if info.Modified.Before(first.Modified) {
			t.Errorf("Modified went back from %v to %v", first.Modified, info.Modified)
		}
	})

	t.Run("same content written again", func(t *testing.T) {
		// A new upload of the same bytes has the same ETag: its Modified,
		// to the second, tells it apart (see storage.Info).
		put(t, s, "again", "same")
		first, err := s.Stat(ctx, "again")
		if err != nil {
			t.Fatal(err)
		}
		for time.Since(first.Modified) <= time.Second {
			time.Sleep(50 * time.Millisecond) // into a later second of Last-Modified
		}
		put(t, s, "again", "same")
		second, err := s.Stat(ctx, "again")
		if err != nil {
			t.Fatal(err)
		}
		if second.ETag != first.ETag || !second.Modified.After(first.Modified) {
			t.Errorf("written again a second later: %+v after %+v; want the same ETag and a later Modified", second, first)
		}
	})
}

func testRangedOpen(t *testing.T, s storage.Store) {
	const content = "0123456789abcdefghij"
	put(t, s, "r", content)
	tests := []struct {
		name    string
		off     int64
		want    string
		wantErr bool
	}{
		{"whole", 0, content, false},
		{"second byte", 1, content[1:], false},
		{"middle", 10, content[10:], false},
		{"last byte", 19, "j", false},
		{"at the end", 20, "", false},
		{"past the end", 21, "", true},
		{"negative", -1, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, info, err := open(t.Context(), s, "r", tt.off, "")
			if tt.wantErr {
				if err == nil || errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrChanged) {
					t.Fatalf("Open(off %d) error = %v, want an offset error", tt.off, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open(off %d): %v", tt.off, err)
			}
			if got != tt.want || info.Size != int64(len(content)) || info.Key != "r" || info.ETag == "" {
				t.Errorf("Open(off %d) = %q, %+v; want %q and the whole object's info", tt.off, got, info, tt.want)
			}
		})
	}
}

func testETag(t *testing.T, s storage.Store) {
	ctx := t.Context()
	put(t, s, "e", "version one")
	old, err := s.Stat(ctx, "e")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		off  int64
		etag string
		want string
	}{
		{"whole", 0, old.ETag, "version one"},
		{"quoted", 0, `"` + old.ETag + `"`, "version one"},
		{"ranged", 8, old.ETag, "one"},
		{"at the end", 11, old.ETag, ""},
	} {
		t.Run("match "+tt.name, func(t *testing.T) {
			got, info, err := open(ctx, s, "e", tt.off, tt.etag)
			if err != nil || got != tt.want || info.ETag != old.ETag {
				t.Errorf("Open = %q, %+v, %v; want %q", got, info, err, tt.want)
			}
		})
	}

	put(t, s, "e", "version two!")
	now, err := s.Stat(ctx, "e")
	if err != nil {
		t.Fatal(err)
	}
	if now.ETag == old.ETag {
		t.Fatalf("ETag unchanged after overwrite: %s", now.ETag)
	}
	for _, tt := range []struct {
		name string
		off  int64
	}{{"whole", 0}, {"ranged", 3}, {"at the old end", 11}, {"at the new end", 12}} {
		t.Run("mismatch "+tt.name, func(t *testing.T) {
			if _, _, err := open(ctx, s, "e", tt.off, old.ETag); !errors.Is(err, storage.ErrChanged) {
				t.Errorf("Open(off %d, stale etag) error = %v, want ErrChanged", tt.off, err)
			}
		})
	}
}

func testNotFound(t *testing.T, s storage.Store) {
	ctx := t.Context()
	put(t, s, "present", "x")
	if _, err := s.Stat(ctx, "missing"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Stat(missing) error = %v, want ErrNotFound", err)
	}
	for _, tt := range []struct {
		name string
		off  int64
		etag string
	}{{"whole", 0, ""}, {"ranged", 5, ""}, {"with etag", 0, "0123456789abcdef0123456789abcdef"}} {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := s.Open(ctx, "missing", tt.off, tt.etag); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("Open(missing) error = %v, want ErrNotFound", err)
			}
		})
	}
}

func testList(t *testing.T, s storage.Store) {
	ctx := t.Context()
	const many = 1005 // more than a page of 1000
	want := make([]string, many)
	for i := range want {
		want[i] = fmt.Sprintf("many/%05d.csv", i)
	}
	putAll(t, s, append(slices.Clone(want), "other/x", "manx", "many"))

	tests := []struct {
		prefix string
		want   []string
	}{
		{"many/", want},
		{"many/0010", want[100:110]},
		{"other/", []string{"other/x"}},
		{"nothing/", nil},
	}
	for _, tt := range tests {
		t.Run(tt.prefix, func(t *testing.T) {
			infos, err := s.List(ctx, tt.prefix)
			if err != nil {
				t.Fatalf("List(%q): %v", tt.prefix, err)
			}
			var got []string
			for _, in := range infos {
				got = append(got, in.Key)
				if in.Size != int64(len(in.Key)) || in.ETag == "" || strings.Contains(in.ETag, `"`) {
					t.Fatalf("List entry %+v: want size %d and an unquoted ETag", in, len(in.Key))
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("List(%q) = %d keys %v, want %d keys", tt.prefix, len(got), abbreviate(got), len(tt.want))
			}
		})
	}
	all, err := s.List(ctx, "")
	if err != nil || len(all) != many+3 {
		t.Errorf("List(\"\") = %d objects, %v; want %d", len(all), err, many+3)
	}
}

// putAll stores each key with itself as its content, a few at a time.
func putAll(t *testing.T, s storage.Store, keys []string) {
	t.Helper()
	ch := make(chan string)
	errs := make(chan error, len(keys))
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for k := range ch {
				if err := s.Put(t.Context(), k, strings.NewReader(k), ""); err != nil {
					errs <- err
				}
			}
		})
	}
	for _, k := range keys {
		ch <- k
	}
	close(ch)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Put: %v", err)
	}
}

func abbreviate(keys []string) []string {
	if len(keys) > 6 {
		return append(slices.Clip(keys[:3]), "…", keys[len(keys)-1])
	}
	return keys
}

func testDelete(t *testing.T, s storage.Store) {
	ctx := t.Context()
	put(t, s, "d/1", "one")
	put(t, s, "d/2", "two")
	if err := s.Delete(ctx, "d/1"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := s.Stat(ctx, "d/1"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Stat after Delete error = %v, want ErrNotFound", err)
	}
	if infos, err := s.List(ctx, "d/"); err != nil || len(infos) != 1 || infos[0].Key != "d/2" {
		t.Errorf("List after Delete = %+v, %v; want only d/2", infos, err)
	}
	if err := s.Delete(ctx, "d/1"); err != nil {
		t.Errorf("Delete(missing) = %v, want nil", err)
	}
	if err := s.Delete(ctx, "never/was"); err != nil {
		t.Errorf("Delete(never was) = %v, want nil", err)
	}
}

func testKeys(t *testing.T, s storage.Store) {
	ctx := t.Context()
	keys := []string{
		"with space.csv",
		"plus+sign.csv",
		"both + and space",
		"unicode/账号 ü é.jsonl",
		"deep/a/b/c/d.txt",
		"percent%20literal.txt",
		"query?and#hash&amp=eq",
		"tilde~star*paren(1)",
		"semi;colon:comma,at@dollar$",
		"emoji😀.txt",
	}
	for _, key := range keys {
		t.Run(key, func(t *testing.T) {
			put(t, s, key, "content of "+key)
			info, err := s.Stat(ctx, key)
			if err != nil || info.Key != key || info.Size != int64(len("content of "+key)) {
				t.Fatalf("Stat = %+v, %v", info, err)
			}
			if got, _, err := open(ctx, s, key, 11, info.ETag); err != nil || got != key {
				t.Errorf("Open(off 11) = %q, %v; want %q", got, err, key)
			}
			infos, err := s.List(ctx, key)
			if err != nil || len(infos) != 1 || infos[0].Key != key {
				t.Errorf("List(key) = %+v, %v; want the key", infos, err)
			}
			if err := s.Delete(ctx, key); err != nil {
				t.Fatalf("Delete: %v", err)
			}
			if _, err := s.Stat(ctx, key); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("Stat after Delete error = %v, want ErrNotFound", err)
			}
		})
	}
}

func testLargeObject(t *testing.T, s storage.Store) {
	ctx := t.Context()
	const size = 20 << 20
	if err := s.Put(ctx, "large.csv", newPattern(size), "text/csv"); err != nil {
		t.Fatalf("Put: %v", err)
	}
	for _, off := range []int64{0, size/2 + 7, size - 1} {
		t.Run(fmt.Sprint("off ", off), func(t *testing.T) {
			rc, info, err := s.Open(ctx, "large.csv", off, "")
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer rc.Close()
			if info.Size != size {
				t.Errorf("Info.Size = %d, want %d", info.Size, size)
			}
			// Stream through a small buffer: nothing holds the object whole.
			got := sha256.New()
			n, err := io.CopyBuffer(got, rc, make([]byte, 32<<10))
			if err != nil {
				t.Fatalf("read after %d bytes: %v", n, err)
			}
			want := sha256.New()
			tail := newPattern(size)
			tail.Seek(off, io.SeekStart)
			io.Copy(want, tail)
			if n != size-off || !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
				t.Errorf("read %d bytes (want %d) with a different digest", n, size-off)
			}
		})
	}
}

// pattern is a seekable reader of size generated bytes, so that tests
// need not allocate large objects on the client side.
type pattern struct {
	size, off int64
}

func newPattern(size int64) *pattern { return &pattern{size: size} }

func (p *pattern) Read(b []byte) (int, error) {
	if p.off >= p.size {
		return 0, io.EOF
	}
	n := int64(len(b))
	if n > p.size-p.off {
		n = p.size - p.off
	}
	for i := range n {
		x := p.off + i
		b[i] = "0123456789abcdef,\n"[x%18] ^ byte(x>>12)&1
	}
	p.off += n
	return int(n), nil
}

func (p *pattern) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += p.off
	case io.SeekEnd:
		offset += p.size
	}
	if offset < 0 {
		return 0, errors.New("pattern: negative position")
	}
	p.off = offset
	return offset, nil
}
