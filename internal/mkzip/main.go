// Command mkzip writes a reproducible zip archive of files, each stored at the
// archive's root under its base name, with a fixed time stamp and mode 0755
// (deployment packages for SCF and Lambda: the same binary gives the same zip).
//
//	go run ./internal/mkzip OUT.zip FILE…
package main

import (
	"archive/zip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: mkzip OUT.zip FILE…")
		os.Exit(2)
	}
	if err := write(os.Args[1], os.Args[2:]); err != nil {
		fmt.Fprintln(os.Stderr, "mkzip:", err)
		os.Exit(1)
	}
}

// epoch is the time stamp of every entry: zip cannot store times before 1980.
var epoch = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)

func write(out string, files []string) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	zw := zip.NewWriter(f)
	for _, name := range files {
		if err := add(zw, name); err != nil {
			f.Close()
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	if err := zw.Close(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func add(zw *zip.Writer, name string) error {
	src, err := os.Open(name)
	if err != nil {
		return err
	}
	defer src.Close()
	h := &zip.FileHeader{Name: filepath.Base(name), Method: zip.Deflate, Modified: epoch}
	h.SetMode(0o755)
	w, err := zw.CreateHeader(h)
	if err != nil {
		return err
	}
	_, err = io.Copy(w, src)
	return err
}
