package job

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"

	"github.com/removetag/removetag/pkg/records"
)

// failedWriter keeps the failed records of one invocation in a temporary file,
// one {"To_Account":…,"Tags":[…]} per line: the store needs a seekable body,
// and failed records may be many.
type failedWriter struct {
	f   *os.File
	w   *bufio.Writer
	n   int64
	err error
}

// add writes one record; the first error sticks.
func (fw *failedWriter) add(rec records.Record) {
	if fw.err != nil {
		return
	}
	if fw.f == nil {
		if fw.f, fw.err = os.CreateTemp("", "removetag-failed-*.jsonl"); fw.err != nil {
			fw.err = fmt.Errorf("keep failed records: %w", fw.err)
			return
		}
		fw.w = bufio.NewWriterSize(fw.f, 64<<10)
	}
	line, err := rec.JSONLine()
	if err != nil {
		fw.err = fmt.Errorf("encode a failed record: %w", err)
		return
	}
	if _, err := fw.w.Write(append(line, '\n')); err != nil {
		fw.err = fmt.Errorf("keep failed records: %w", err)
		return
	}
	fw.n++
}

// body flushes the file and returns it from its start; nil if no record failed.
func (fw *failedWriter) body() (io.ReadSeeker, error) {
	if fw.err != nil || fw.f == nil {
		return nil, fw.err
	}
	if err := fw.w.Flush(); err != nil {
		return nil, fmt.Errorf("keep failed records: %w", err)
	}
	if _, err := fw.f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("keep failed records: %w", err)
	}
	return fw.f, nil
}

// close removes the temporary file.
func (fw *failedWriter) close() {
	if fw.f != nil {
		fw.f.Close()
		os.Remove(fw.f.Name())
		fw.f = nil
	}
}

// putPart stores this invocation's failed records as the checkpoint's next part.
func (j *fileJob) putPart(ctx context.Context, cp *Checkpoint, fw *failedWriter) error {
	body, err := fw.body()
	if err != nil || body == nil {
		return err
	}
	key := j.st.keys.part(cp.PartSeq, j.st.owner)
	if err := j.store.Put(ctx, key, body, "application/x-ndjson"); err != nil {
		return fmt.Errorf("write failed records: %w", err)
	}
	cp.Parts = append(cp.Parts, key)
	cp.PartSeq++
	fw.close()
	return nil
}

// putFailed writes the failed-records file of a finished job: its parts, in
// order, streamed through a temporary file.
func (j *fileJob) putFailed(ctx context.Context, cp *Checkpoint) error {
	out, err := os.CreateTemp("", "removetag-failed-all-*.jsonl")
	if err != nil {
		return fmt.Errorf("gather failed records: %w", err)
	}
	defer func() {
		out.Close()
		os.Remove(out.Name())
	}()
	for _, key := range cp.Parts {
		if err := j.appendObject(ctx, out, key); err != nil {
			return err
		}
	}
	if _, err := out.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("gather failed records: %w", err)
	}
	if err := j.store.Put(ctx, j.st.keys.failed(), out, "application/x-ndjson"); err != nil {
		return fmt.Errorf("write failed records: %w", err)
	}
	return nil
}

// appendObject copies an object to w.
func (j *fileJob) appendObject(ctx context.Context, w io.Writer, key string) error {
	rc, _, err := j.store.Open(ctx, key, 0, "")
	if err != nil {
		return fmt.Errorf("gather failed records: %w", err)
	}
	defer rc.Close()
	if _, err := io.Copy(w, rc); err != nil {
		return fmt.Errorf("gather failed records from %s: %w", key, err)
	}
	return nil
}
