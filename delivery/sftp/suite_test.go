//go:build unix

package sftp_test

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
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

// localFiles lists the files of a local directory.
func localFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func localFile(dir, name string) ([]byte, bool) {
	b, err := os.ReadFile(filepath.Join(dir, name))
	return b, err == nil
}

func caseDir(t *testing.T) string {
	return strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
}

// The suite every kind of target passes, over the in-process server.
func TestTransportSuiteInProcess(t *testing.T) {
	const password = "pw" + specialChars
	srv := sftptest.NewServer(t, sftptest.Options{User: "acme", Password: password})
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
		Received: func(t *testing.T, dir, name string) ([]byte, bool) {
			return localFile(filepath.Join(srv.Root(), dir), name)
		},
		Files: func(t *testing.T, dir string) []string { return localFiles(t, filepath.Join(srv.Root(), dir)) },
		Dirs:  caseDir,
	})
}

// The suite every kind of target passes, over OpenSSH's sshd.
func TestTransportSuiteOpenSSH(t *testing.T) {
	s := startSSHD(t)
	t.Cleanup(sftp.CloseIdle) // before sshd stops: its sessions end with the kept connections
	k := keyNamed(t, "ed25519 openssh")
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
		Received: func(t *testing.T, dir, name string) ([]byte, bool) {
			return localFile(filepath.Join(s.area, dir), name)
		},
		Files: func(t *testing.T, dir string) []string { return localFiles(t, filepath.Join(s.area, dir)) },
		Dirs:  caseDir,
	})
	if t.Failed() {
		t.Logf("sshd log:\n%s", s.log.String())
	}
}
