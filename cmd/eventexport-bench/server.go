package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/crypto/ssh"

	"github.com/eventexport/eventexport/delivery/sftpserver"
)

// benchServer is the SFTP server a benchmark delivers to, and how to log in to it.
type benchServer struct {
	name, addr     string
	url, pin       string
	args           []string // extra flags of destinations add
	user, password string
	keyFile        string // private key for the baseline, when the server wants one
	dir            string // remote directory
	local          string // the same directory on this machine
	close          func()
}

func startServer(kind string) (*benchServer, error) {
	switch kind {
	case "inprocess":
		root, err := os.MkdirTemp("", "eventexport-bench-sftp-")
		if err != nil {
			return nil, err
		}
		srv, err := sftpserver.Start(sftpserver.Options{User: "bench", Password: "bench", Root: root})
		if err != nil {
			os.RemoveAll(root)
			return nil, err
		}
		return &benchServer{name: "in-process SFTP server", addr: srv.Addr(), url: srv.URL("/bench"),
			pin: srv.HostKeyPin(), user: "bench", password: "bench", dir: "/bench",
			local: filepath.Join(root, "bench"), close: func() { srv.Close(); os.RemoveAll(root) }}, nil
	case "sshd":
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		sshPub, err := ssh.NewPublicKey(pub)
		if err != nil {
			return nil, err
		}
		block, err := ssh.MarshalPrivateKey(priv, "")
		if err != nil {
			return nil, err
		}
		keyFile, err := os.CreateTemp("", "eventexport-bench-key-")
		if err != nil {
			return nil, err
		}
		keyFile.Write(pem.EncodeToMemory(block))
		keyFile.Close()
		srv, err := sftpserver.StartSSHD(sftpserver.SSHDOptions{AuthorizedKeys: []ssh.PublicKey{sshPub}})
		if err != nil {
			os.Remove(keyFile.Name())
			return nil, err
		}
		dir := filepath.Join(srv.Area, "bench")
		u := url.URL{Scheme: "sftp", User: url.User(srv.User), Host: "127.0.0.1:" + strconv.Itoa(srv.Port), Path: dir}
		return &benchServer{name: "OpenSSH sshd", addr: srv.Addr(), url: u.String(),
			pin: ssh.FingerprintSHA256(srv.HostKeys[0]), args: []string{"--private-key", keyFile.Name()},
			user: srv.User, keyFile: keyFile.Name(), dir: dir, local: dir,
			close: func() { srv.Close(); os.Remove(keyFile.Name()) }}, nil
	}
	return nil, fmt.Errorf("unknown -server %q: want sshd or inprocess", kind)
}
