package lazy_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/removetag/removetag/internal/lazy"
)

// TestValue: made once, on the first Get; a failure is returned (with no
// value) and tried again; once made, the value is kept.
func TestValue(t *testing.T) {
	var makes int
	fail := true
	v := lazy.New(func(context.Context) (*int, error) {
		makes++
		if fail {
			n := -1
			return &n, errors.New("not yet")
		}
		n := makes
		return &n, nil
	})
	if makes != 0 {
		t.Fatal("made before the first Get")
	}
	ctx := context.Background()
	if got, err := v.Get(ctx); err == nil || got != nil {
		t.Fatalf("Get = %v, %v; want the failure and no value", got, err)
	}
	fail = false
	for range 3 {
		got, err := v.Get(ctx)
		if err != nil || got == nil || *got != 2 {
			t.Fatalf("Get = %v, %v; want the value made by the second try", got, err)
		}
	}
	if makes != 2 {
		t.Errorf("made %d times, want 2 (one failure, one success)", makes)
	}
}

// TestValueConcurrent: callers at once make the value once and all get it.
func TestValueConcurrent(t *testing.T) {
	var makes atomic.Int32
	v := lazy.New(func(context.Context) (int32, error) { return makes.Add(1), nil })
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if got, err := v.Get(context.Background()); err != nil || got != 1 {
				t.Errorf("Get = %d, %v; want 1", got, err)
			}
		}()
	}
	wg.Wait()
	if n := makes.Load(); n != 1 {
		t.Errorf("made %d times, want 1", n)
	}
}

// TestValueUsesTheCallersContext: the first Get's context is the one the
// value is made with.
func TestValueUsesTheCallersContext(t *testing.T) {
	type key struct{}
	v := lazy.New(func(ctx context.Context) (string, error) {
		s, _ := ctx.Value(key{}).(string)
		return s, ctx.Err()
	})
	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), key{}, "first"))
	cancel()
	if _, err := v.Get(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Get with a canceled context = %v, want context.Canceled", err)
	}
	if got, err := v.Get(context.WithValue(context.Background(), key{}, "second")); err != nil || got != "second" {
		t.Errorf("Get = %q, %v; want the value made with the second caller's context", got, err)
	}
}
