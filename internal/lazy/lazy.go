// Package lazy makes a value on first use: the adapters' SDK clients, which
// cost time to make (the AWS SDK's default chain reads files and the
// environment) and are not needed by every invocation.
package lazy

import (
	"context"
	"sync"
)

// Value is made by its function on the first Get and kept once made; a
// failure is returned and tried again at the next Get. It is safe for
// concurrent use: callers wait for a Get under way rather than make the value
// twice.
type Value[T any] struct {
	make func(context.Context) (T, error)

	mu   sync.Mutex
	val  T
	done bool
}

// New returns the Value that make makes.
func New[T any](make func(context.Context) (T, error)) *Value[T] {
	return &Value[T]{make: make}
}

// Get returns the value, made now with ctx if it is not made yet.
func (v *Value[T]) Get(ctx context.Context) (T, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.done {
		return v.val, nil
	}
	val, err := v.make(ctx)
	if err != nil {
		var zero T
		return zero, err
	}
	v.val, v.done = val, true
	return val, nil
}
