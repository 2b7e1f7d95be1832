//go:build unix

package sftp_test

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"path"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/eventexport/eventexport/delivery/deliverytest"
	"github.com/eventexport/eventexport/delivery/sftp"
	"github.com/eventexport/eventexport/delivery/sftptest"
)

// otherHostKeyPin is a well-formed SHA-256 host key pin of no server.
func otherHostKeyPin(t *testing.T) string {
	b := make([]byte, 32)
	rand.Read(b)
	return "SHA256:" + base64.RawStdEncoding.EncodeToString(b)
}

// The suite every kind of target passes, over the in-process server.
func TestTransportSuiteInProcess(t *testing.T) {
	const password = "pw" + specialChars
	srv := sftptest.NewServer(t, sftptest.Options{User: "acme", Password: password})
	received, files := deliverytest.LocalDir(srv.Root())
	deliverytest.Run(t, deliverytest.Peer{
		Transport: sftp.Transport{},
		Input: func(t *testing.T, dir, addr string) map[string]any {
			if addr == "" {
				addr = srv.Addr()
			}
			return map[string]any{"url": fmt.Sprintf("sftp://acme@%s/%s", addr, dir), "password": password,
				"host_key": srv.HostKeyPin()}
		},
		Untrusted: []string{"host_key"},
		BadLogin:  map[string]any{"password": "not the password"},
		OtherPin:  otherHostKeyPin(t),
		Secrets:   []string{password},
		Received:  received,
		Files:     files,
		Dirs:      deliverytest.CaseDir,
	})
}

// The suite every kind of target passes, over OpenSSH's sshd.
func TestTransportSuiteOpenSSH(t *testing.T) {
	s := startSSHD(t)
	t.Cleanup(sftp.CloseIdle) // before sshd stops: its sessions end with the kept connections
	k := keyNamed(t, "ed25519 openssh")
	received, files := deliverytest.LocalDir(s.area)
	deliverytest.Run(t, deliverytest.Peer{
		Transport: sftp.Transport{},
		Input: func(t *testing.T, dir, addr string) map[string]any {
			if addr == "" {
				addr = s.addr()
			}
			return map[string]any{"url": fmt.Sprintf("sftp://%s@%s%s", s.user, addr, path.Join(s.area, dir)),
				"private_key": string(k.pem), "host_key": ssh.FingerprintSHA256(s.hostKeys[0])}
		},
		Untrusted: []string{"host_key"},
		BadLogin:  map[string]any{"private_key": string(unauthorizedKey(t))},
		OtherPin:  otherHostKeyPin(t),
		Secrets:   []string{string(k.pem)},
		Received:  received,
		Files:     files,
		Dirs:      deliverytest.CaseDir,
	})
	if t.Failed() {
		t.Logf("sshd log:\n%s", s.log.String())
	}
}
