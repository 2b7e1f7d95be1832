//go:build !linux

package main

import "net"

// reservedPort is a free loopback port, found by listening and closing: another socket may
// take it before listen.
type reservedPort struct{ addr string }

func reservePort() (*reservedPort, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	defer ln.Close()
	return &reservedPort{addr: ln.Addr().String()}, nil
}

func (r *reservedPort) listen() (net.Listener, error) { return listenAgain(r.addr) }

func (r *reservedPort) release() {}
