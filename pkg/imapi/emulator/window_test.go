package emulator

import (
	"testing"
	"time"
)

func TestWindowSpan(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		now, span time.Duration
		want      int
	}{
		{950 * ms, time.Second, 10},
		{1000 * ms, time.Second, 9},        // the call at 0 leaves the window at 1 s
		{1000 * ms, time.Second - 5*ms, 9}, // with 5 ms of slack too
		{1097 * ms, time.Second - 5*ms, 8}, // the call at 100 ms is 997 ms old: beyond 995 ms
		{1097 * ms, time.Second, 9},        // without slack it still counts
		{2000 * ms, time.Second - 5*ms, 0},
	}
	for _, tt := range tests {
		var w window
		for i := range 10 {
			w.add(time.Duration(i) * 100 * ms) // 0, 100, …, 900 ms
		}
		if got := w.len(tt.now, tt.span); got != tt.want {
			t.Errorf("len(%v, %v) = %d, want %d", tt.now, tt.span, got, tt.want)
		}
	}
}
