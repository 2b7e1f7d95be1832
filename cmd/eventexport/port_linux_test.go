package main

import (
	"net"
	"os"
	"strconv"
	"syscall"
)

// reservedPort is a loopback port bound without listening: connections to it are refused, as
// to a server that is down, and no other socket (another test's server, a client's ephemeral
// port) can take the port meanwhile.
type reservedPort struct {
	addr string
	fd   int
}

func reservePort() (*reservedPort, error) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		syscall.Close(fd)
		return nil, os.NewSyscallError("bind", err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		syscall.Close(fd)
		return nil, os.NewSyscallError("getsockname", err)
	}
	port := sa.(*syscall.SockaddrInet4).Port
	return &reservedPort{addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), fd: fd}, nil
}

// listen starts listening on the port; the reservation is then the listener's.
func (r *reservedPort) listen() (net.Listener, error) {
	f := os.NewFile(uintptr(r.fd), r.addr)
	defer f.Close()
	if err := syscall.Listen(r.fd, syscall.SOMAXCONN); err != nil {
		return nil, os.NewSyscallError("listen", err)
	}
	return net.FileListener(f)
}

// release gives the port up without listening.
func (r *reservedPort) release() { syscall.Close(r.fd) }
