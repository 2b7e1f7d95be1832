//go:build unix

package ftps_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventexport/eventexport/delivery"
	"github.com/eventexport/eventexport/delivery/ftps"
	"github.com/eventexport/eventexport/delivery/sftpserver"
)

// fakeServer is an in-process FTPS server (explicit TLS) for quirks real servers do not
// show on demand: PASV announcing a private address, data connections that stall.
type fakeServer struct {
	ln       net.Listener
	cfg      *tls.Config
	caPEM    []byte
	pasvIP   string // announced in PASV replies (EPSV is refused)
	stall    bool   // data connections are accepted but never read
	mu       sync.Mutex
	files    map[string]string
	wg       sync.WaitGroup
	conns    []net.Conn
	closedCh chan struct{}
}

func newFakeServer(t *testing.T, pasvIP string, stall bool) *fakeServer {
	caPEM, _, certPEM, keyPEM, err := sftpserver.NewTLSCertificate("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeServer{ln: ln, cfg: &tls.Config{Certificates: []tls.Certificate{cert}}, caPEM: caPEM,
		pasvIP: pasvIP, stall: stall, files: map[string]string{}, closedCh: make(chan struct{})}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.track(c)
			s.wg.Add(1)
			go func() { defer s.wg.Done(); s.serve(c) }()
		}
	}()
	t.Cleanup(func() {
		close(s.closedCh)
		ln.Close()
		s.mu.Lock()
		for _, c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

func (s *fakeServer) track(c net.Conn) {
	s.mu.Lock()
	s.conns = append(s.conns, c)
	s.mu.Unlock()
}

func (s *fakeServer) serve(raw net.Conn) {
	var conn net.Conn = raw
	r := bufio.NewReader(conn)
	reply := func(f string, a ...any) { fmt.Fprintf(conn, f+"\r\n", a...) }
	reply("220 fake")
	var dataLn net.Listener
	defer func() {
		if dataLn != nil {
			dataLn.Close()
		}
	}()
	var from string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd, arg, _ := strings.Cut(strings.TrimRight(line, "\r\n"), " ")
		switch strings.ToUpper(cmd) {
		case "AUTH":
			reply("234 go ahead")
			conn = tls.Server(raw, s.cfg)
			r = bufio.NewReader(conn)
		case "USER":
			reply("331 password")
		case "PASS":
			reply("230 in")
		case "FEAT":
			reply("211 no features")
		case "TYPE", "PBSZ", "PROT", "OPTS":
			reply("200 ok")
		case "EPSV":
			reply("500 no EPSV here")
		case "PASV":
			if dataLn == nil {
				dataLn, _ = net.Listen("tcp", "127.0.0.1:0")
			}
			p := dataLn.Addr().(*net.TCPAddr).Port
			reply("227 Entering Passive Mode (%s,%d,%d)", strings.ReplaceAll(s.pasvIP, ".", ","), p/256, p%256)
		case "STOR":
			reply("150 send it")
			dc, err := dataLn.Accept()
			if err != nil {
				return
			}
			s.track(dc)
			if s.stall {
				<-s.closedCh
				dc.Close()
				return
			}
			b, _ := io.ReadAll(tls.Server(dc, s.cfg))
			dc.Close()
			s.mu.Lock()
			s.files[arg] = string(b)
			s.mu.Unlock()
			reply("226 stored")
		case "RNFR":
			from = arg
			reply("350 ready")
		case "RNTO":
			s.mu.Lock()
			s.files[arg] = s.files[from]
			delete(s.files, from)
			s.mu.Unlock()
			reply("250 renamed")
		case "DELE", "CWD", "MKD":
			reply("250 ok")
		case "QUIT":
			reply("221 bye")
			return
		default:
			reply("502 not implemented")
		}
	}
}

func (s *fakeServer) target(t *testing.T) delivery.Target {
	in := delivery.Input{}
	for k, v := range map[string]any{"url": "ftps://u:p@127.0.0.1:" + strconv.Itoa(s.ln.Addr().(*net.TCPAddr).Port) + "/in",
		"tls_ca": string(s.caPEM)} {
		b, _ := json.Marshal(v)
		in[k] = b
	}
	tg, err := ftps.Transport{}.Configure(nil, in)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

// PASV announcing a private address that is not the server's: data goes to the control
// connection's address.
func TestPASVPrivateAddressIgnored(t *testing.T) {
	s := newFakeServer(t, "10.255.1.2", false)
	sink, err := ftps.Transport{}.Open(s.target(t), "", delivery.Options{ConnectTimeout: 5 * time.Second, AttemptTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sink.Put(context.Background(), "f.csv", strings.NewReader("data")); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.files["f.csv"] != "data" {
		t.Fatalf("files %v", s.files)
	}
}

// A data connection that takes nothing and never answers ends at the attempt's limit.
func TestStalledDataConnection(t *testing.T) {
	s := newFakeServer(t, "127.0.0.1", true)
	const limit = 2 * time.Second
	sink, err := ftps.Transport{}.Open(s.target(t), "", delivery.Options{ConnectTimeout: time.Second, AttemptTimeout: limit})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = sink.Put(context.Background(), "f.csv", strings.NewReader(strings.Repeat("x", 8<<20)))
	took := time.Since(start)
	if delivery.ClassOf(err) != delivery.ClassTimeout || delivery.IsPermanent(err) {
		t.Fatalf("got %v, want a timeout", err)
	}
	if took > limit+time.Second {
		t.Errorf("took %s, limit %s", took, limit)
	}
	if !strings.Contains(err.Error(), "attempt timeout") {
		t.Errorf("error %q does not name the attempt timeout", err)
	}
}
