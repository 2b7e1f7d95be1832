//go:build unix

package sftptest

import "github.com/eventexport/eventexport/delivery/sftpserver"

// OpenSSH's sshd as the conformance peer of the in-process server; see
// sftpserver.StartSSHD.
type (
	SSHD        = sftpserver.SSHD
	SSHDOptions = sftpserver.SSHDOptions
)

// FindSSHD returns the path of sshd: on PATH, or /usr/sbin/sshd.
func FindSSHD() (string, error) { return sftpserver.FindSSHD() }

// StartSSHD starts sshd and waits until it accepts connections. Close stops it.
func StartSSHD(opts SSHDOptions) (*SSHD, error) { return sftpserver.StartSSHD(opts) }
