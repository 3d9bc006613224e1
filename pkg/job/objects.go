package job

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/removetag/removetag/pkg/job/storage"
)

// The small JSON objects of a file job's state (its checkpoint and report),
// read and written whole.

// maxStateBytes bounds the checkpoint and report objects read back.
const maxStateBytes = 16 << 20

// badObjectError is a state object that was read but cannot be decoded.
type badObjectError struct{ err error }

func (e *badObjectError) Error() string { return e.err.Error() }
func (e *badObjectError) Unwrap() error { return e.err }

// readJSON reads a small JSON object into v and returns its ETag; found is
// false if it does not exist. An object that cannot be decoded is a
// *badObjectError, with its ETag.
func readJSON(ctx context.Context, store storage.Store, key string, v any) (etag string, found bool, err error) {
	rc, info, err := store.Open(ctx, key, 0, "")
	if errors.Is(err, storage.ErrNotFound) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxStateBytes))
	if err != nil {
		return "", false, fmt.Errorf("read %s: %w", key, err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return info.ETag, true, &badObjectError{fmt.Errorf("decode %s: %w", key, err)}
	}
	return info.ETag, true, nil
}

// putJSON writes v as a JSON object.
func putJSON(ctx context.Context, store storage.Store, key string, v any) error {
	data, err := encodeJSON(key, v)
	if err != nil {
		return err
	}
	return store.Put(ctx, key, bytes.NewReader(data), "application/json")
}

// putJSONIf writes v as a JSON object under condition c and returns the new ETag.
func putJSONIf(ctx context.Context, store storage.Store, key string, v any, c storage.Condition) (string, error) {
	data, err := encodeJSON(key, v)
	if err != nil {
		return "", err
	}
	return store.PutIf(ctx, key, bytes.NewReader(data), "application/json", c)
}

// encodeJSON is the stored form of a state object: indented JSON and a newline.
func encodeJSON(key string, v any) ([]byte, error) {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", key, err)
	}
	return append(data, '\n'), nil
}

// mustJSON encodes a value that always encodes.
func mustJSON(v any) []byte {
	data, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("job: encode %T: %v", v, err))
	}
	return data
}
