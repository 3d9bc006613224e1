//go:build !linux

package imapi

import "net"

// rawIO returns c: raw system calls are for Linux, where the function runs (see rawio_linux.go).
func rawIO(c net.Conn) net.Conn { return c }
