//go:build unix

package ftps_test

import (
	"net"
	"os"
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
	local := func(dir string) string { return filepath.Join(srv.root, filepath.FromSlash(path.Join(srv.dir, dir))) }
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
		Received: func(t *testing.T, dir, name string) ([]byte, bool) {
			b, err := os.ReadFile(filepath.Join(local(dir), name))
			return b, err == nil
		},
		Files: func(t *testing.T, dir string) []string {
			entries, err := os.ReadDir(local(dir))
			if err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			return names
		},
		Dirs: func(t *testing.T) string { return strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()) },
	})
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

func TestTransportSuiteProFTPD(t *testing.T) { runSuite(t, startProFTPD(t, false, offerDefault)) }

func TestTransportSuiteVsftpd(t *testing.T) { runSuite(t, startVsftpd(t, false, offerDefault)) }
