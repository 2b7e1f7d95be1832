//go:build !linux

package sftp_test

import (
	"net"
	"testing"
)

func fullListener(t *testing.T) *net.TCPAddr {
	t.Skip("needs Linux's accept queue behaviour")
	return nil
}

func becomeSubreaper() {}
func startedSSHD(int)  {}
func stoppedSSHD(int)  {}
func reapOrphans()     {}
