package imapi

import "syscall"

// nothingToRead reports whether the socket fd, which does not block, has
// nothing to read and is open: a peek that would have to wait.
func nothingToRead(fd uintptr) bool {
	var buf [1]byte
	_, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK)
	return err == syscall.EAGAIN || err == syscall.EWOULDBLOCK
}
