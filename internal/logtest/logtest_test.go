package logtest

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

func TestBuffer(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() { fmt.Fprintf(&b, "line %d\n", i) })
	}
	wg.Wait()
	if got := strings.Count(b.String(), "\n"); got != 8 {
		t.Errorf("%d lines written, want 8:\n%s", got, b.String())
	}
	for _, tc := range []struct {
		n    int
		want int
	}{{1, 1}, {3, 3}, {20, 8}} {
		if got := len(strings.Split(b.Tail(tc.n), "\n")); got != tc.want {
			t.Errorf("Tail(%d) has %d lines, want %d", tc.n, got, tc.want)
		}
	}
}
