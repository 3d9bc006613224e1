package job

import (
	"context"
	"testing"
	"time"
)

func TestEnoughFor(t *testing.T) {
	tests := []struct {
		name   string
		left   time.Duration // until the deadline; 0: no deadline
		budget time.Duration
		first  bool
		want   bool
	}{
		{"no deadline", 0, 0, false, true},
		{"first file, a second left", time.Second, 3 * time.Second, true, true},
		{"first file, almost nothing left", 100 * time.Millisecond, 3 * time.Second, true, false},
		{"second file, half the budget left", 1500 * time.Millisecond, 3 * time.Second, false, true},
		{"second file, a fifth of the budget left", 600 * time.Millisecond, 3 * time.Second, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			if tt.left > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.left)
				defer cancel()
			}
			if got := enoughFor(ctx, tt.budget, tt.first); got != tt.want {
				t.Errorf("enoughFor = %v, want %v", got, tt.want)
			}
		})
	}
}
