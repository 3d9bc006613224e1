package quota

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"
)

func TestShare(t *testing.T) {
	tests := []struct {
		name   string
		quota  float64
		others []float64
		want   float64
	}{
		{"alone: the whole quota", 100, nil, 100},
		{"two at their shares", 100, []float64{50}, 50},
		{"joining beside one using everything: nothing until it makes room", 100, []float64{100}, 0},
		{"joining beside two at half: nothing left", 100, []float64{50, 50}, 0},
		{"one made room", 100, []float64{33.34, 50}, 16.66},
		{"three at their shares", 90, []float64{30, 30}, 30},
		{"the others use little: still only an equal share", 100, []float64{1, 1, 1}, 25},
		{"the others overshoot: zero, never negative", 100, []float64{80, 80}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := share(tt.quota, tt.others); math.Abs(got-tt.want) > 1e-9 {
				t.Errorf("share(%v, %v) = %v, want %v", tt.quota, tt.others, got, tt.want)
			}
		})
	}
}

// nopStore is a Store that holds nothing, for the configuration checks.
type nopStore struct{}

func (nopStore) Put(context.Context, string, []byte) error           { return nil }
func (nopStore) List(context.Context, string) ([]Object, error)      { return nil, nil }
func (nopStore) Get(context.Context, string) ([]byte, string, error) { return nil, "", ErrNotFound }
func (nopStore) Delete(context.Context, string) error                { return nil }

func TestNewChecksConfig(t *testing.T) {
	ok := Config{Store: nopStore{}, Prefix: "removetag/quota/", Rate: 100}
	tests := []struct {
		name    string
		change  func(*Config)
		wantErr string
	}{
		{"valid", func(*Config) {}, ""},
		{"no store", func(c *Config) { c.Store = nil }, "Store"},
		{"no prefix", func(c *Config) { c.Prefix = "" }, "Prefix"},
		{"prefix without a slash", func(c *Config) { c.Prefix = "removetag/quota" }, "Prefix"},
		{"absolute prefix", func(c *Config) { c.Prefix = "/quota/" }, "Prefix"},
		{"no rate", func(c *Config) { c.Rate = 0 }, "Rate"},
		{"NaN rate", func(c *Config) { c.Rate = math.NaN() }, "Rate"},
		{"expiry within the renewal", func(c *Config) { c.Renew, c.Expiry = 2*time.Second, time.Second }, "Expiry"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.change(&c)
			s, err := New(c)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("New: %v", err)
			case tt.wantErr == "" && (s.cfg.Renew != DefaultRenew || s.cfg.Expiry != DefaultExpiry || s.cfg.Skew != DefaultSkew):
				t.Errorf("defaults: %+v", s.cfg)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("New error = %v, want one naming %s", err, tt.wantErr)
			}
		})
	}
}
