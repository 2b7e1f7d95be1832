package delivery_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eventexport/eventexport/delivery"
	"github.com/eventexport/eventexport/delivery/sftptest"
)

func TestSmoke(t *testing.T) {
	srv := sftptest.NewServer(t, sftptest.Options{})
	cfg, err := delivery.ParseURL(srv.URL("/upload"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.HostKey = srv.HostKeyPin()
	p, err := delivery.New(cfg).Put(context.Background(), "a.json", strings.NewReader("[]"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(srv.Root(), "upload", "a.json"))
	t.Log(p, string(b), err)
}
