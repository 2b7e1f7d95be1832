//go:build unix

package ftps_test

import (
	"net"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/eventexport/eventexport/delivery/deliverytest"
	"github.com/eventexport/eventexport/delivery/ftps"
)

// runSuite runs the suite every kind of target passes over one FTPS server.
func runSuite(t *testing.T, srv *peer) {
	received, files := deliverytest.LocalDir(filepath.Join(srv.root, filepath.FromSlash(srv.dir)))
	deliverytest.Run(t, deliverytest.Peer{
		Transport: ftps.Transport{},
		Input: func(t *testing.T, dir, addr string) map[string]any {
			host, port := "127.0.0.1", srv.port
			if addr != "" {
				h, p, _ := net.SplitHostPort(addr)
				host, port = h, atoi(p)
			}
			return map[string]any{"host": host, "port": port, "user": srv.user, "password": password,
				"tls_ca": string(srv.caPEM), "base_dir": path.Join(srv.dir, dir)}
		},
		Untrusted: []string{"tls_ca"},
		BadLogin:  map[string]any{"password": "not the password"},
		OtherPin:  "SHA256:" + strings.Repeat("AB", 32),
		Secrets:   []string{password},
		Received:  received,
		Files:     files,
		Dirs:      deliverytest.CaseDir,
	})
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

func TestTransportSuiteProFTPD(t *testing.T) { runSuite(t, startProFTPD(t, false, offerDefault)) }

func TestTransportSuiteVsftpd(t *testing.T) { runSuite(t, startVsftpd(t, false, offerDefault)) }
