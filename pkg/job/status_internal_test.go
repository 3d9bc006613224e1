package job

import (
	"testing"
	"time"
)

func TestETANeverBeforeTheUpdate(t *testing.T) {
	at := time.Date(2026, 12, 2, 7, 36, 54, 343605294, time.UTC)
	for _, tt := range []struct {
		name      string
		pending   int64
		perSecond float64
		want      time.Time
	}{
		{"a moment left rounds up, not down", 200, 4053, time.Date(2026, 12, 2, 7, 36, 55, 0, time.UTC)},
		{"nothing left is the next whole second", 0, 100, time.Date(2026, 12, 2, 7, 36, 55, 0, time.UTC)},
		{"ten seconds left", 1000, 100, time.Date(2026, 12, 2, 7, 37, 5, 0, time.UTC)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := eta(at, tt.pending, tt.perSecond); !got.Equal(tt.want) {
				t.Errorf("eta(%v, %d, %v) = %v, want %v", at, tt.pending, tt.perSecond, got, tt.want)
			}
		})
	}
	whole := at.Truncate(time.Second)
	if got := eta(whole, 0, 100); !got.Equal(whole) {
		t.Errorf("a whole second stays: %v, want %v", got, whole)
	}
}
