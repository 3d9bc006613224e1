//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package main

import (
	"errors"
	"os"
)

// tryLock is not implemented here: a journal log left in --out cannot be
// told from one of a run still going, and is left alone.
func tryLock(*os.File) (bool, error) { return false, errors.ErrUnsupported }
