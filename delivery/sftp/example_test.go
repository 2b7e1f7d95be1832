package sftp_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/eventexport/eventexport/delivery"
	"github.com/eventexport/eventexport/delivery/sftp"
	"github.com/eventexport/eventexport/delivery/sftptest"
)

func ExampleParseURL() {
	cfg, err := sftp.ParseURL("sftp://acme%40corp:p%40ss%3Aw%2Frd@sftp.example.com:2222/inbox")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cfg.User, cfg.Password, cfg.Host, cfg.Port, cfg.Dir)
	fmt.Println(cfg.Redacted())
	// Output:
	// acme@corp p@ss:w/rd sftp.example.com 2222 /inbox
	// sftp://acme%40corp:xxxxx@sftp.example.com:2222/inbox
}

func ExampleTarget_Put() {
	srv, err := sftptest.Start(sftptest.Options{User: "acme", Password: "s3cret"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()

	cfg, _ := sftp.ParseURL(srv.URL("/inbox"))
	cfg.HostKey = srv.HostKeyPin() // verify the server's host key
	target := sftp.New(cfg)
	remote, err := target.Put(context.Background(), "events.json", strings.NewReader(`[]`))
	if err != nil {
		fmt.Println(err)
		return
	}
	content, _ := os.ReadFile(filepath.Join(srv.Root(), remote))
	fmt.Println(remote, string(content))
	// Output:
	// /inbox/events.json []
}

func ExampleTarget_PresentedHostKey() {
	srv, err := sftptest.Start(sftptest.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()

	cfg := srv.Config("/inbox")
	cfg.HostKey = "" // not pinned yet: the key is refused, and reported
	target := sftp.New(cfg)
	_, err = target.Put(context.Background(), "test.json", strings.NewReader(`[]`))
	fmt.Println(delivery.ClassOf(err), delivery.IsPermanent(err))

	fingerprint, line := target.PresentedHostKey()
	fmt.Println(fingerprint == srv.HostKeyPin())
	cfg.HostKey = line // once confirmed with the customer, pin it
	_, err = sftp.New(cfg).Put(context.Background(), "test.json", strings.NewReader(`[]`))
	fmt.Println(err)
	// Output:
	// host key unknown true
	// true
	// <nil>
}
