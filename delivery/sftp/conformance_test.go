package sftp_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/eventexport/eventexport/delivery"
	"github.com/eventexport/eventexport/delivery/sftp"
	"github.com/eventexport/eventexport/delivery/sftptest"
)

// harness is an SFTP server the conformance suite runs against.
type harness struct {
	// config returns a configuration that logs in and pins the server's
	// primary host key, writing to the remote directory dir.
	config func(t *testing.T, dir string) sftp.Config
	// dir returns the remote path of a directory rel in the test area.
	dir func(rel string) string
	// local returns the local path of a remote path.
	local func(remote string) string
	// lockedDir is rel of an existing directory the account may not
	// write to.
	lockedDir string
	addr      string
	hostKeys  []ssh.PublicKey
	// password reports whether config logs in with a password (else a key).
	password bool
}

// exercise runs the delivery conformance suite against one server.
func exercise(t *testing.T, h harness) {
	ctx := context.Background()
	// area returns a fresh directory for a subtest.
	area := func(t *testing.T) string {
		return h.dir(strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()))
	}

	t.Run("Put", func(t *testing.T) {
		dir := area(t)
		p, err := sftp.New(h.config(t, dir)).Put(ctx, "a.json", strings.NewReader(`[{"id":1}]`))
		if err != nil {
			t.Fatalf("Put: %v", err)
		}
		if want := path.Join(dir, "a.json"); p != want {
			t.Errorf("Put returned %q, want %q", p, want)
		}
		assertFile(t, h.local(p), `[{"id":1}]`)
		assertOnlyFiles(t, h.local(dir), "a.json")
	})

	t.Run("Empty", func(t *testing.T) {
		dir := area(t)
		p, err := sftp.New(h.config(t, dir)).Put(ctx, "empty.csv", strings.NewReader(""))
		if err != nil {
			t.Fatalf("Put: %v", err)
		}
		assertFile(t, h.local(p), "")
	})

	t.Run("LargeFromPipe", func(t *testing.T) {
		dir := area(t)
		pr, pw := io.Pipe()
		sum := make(chan [32]byte, 1)
		go func() {
			hash := sha256.New()
			w := io.MultiWriter(pw, hash)
			chunk := bytes.Repeat([]byte("0123456789abcdef"), 1000/16+1)[:1000]
			for i := 0; i < 9000; i++ { // 9 MB in small writes, like an encoder
				chunk[0] = byte(i)
				if _, err := w.Write(chunk); err != nil {
					pw.CloseWithError(err)
					return
				}
			}
			var s [32]byte
			copy(s[:], hash.Sum(nil))
			sum <- s
			pw.Close()
		}()
		p, err := sftp.New(h.config(t, dir)).Put(ctx, "big.json", pr)
		if err != nil {
			t.Fatalf("Put: %v", err)
		}
		got, err := os.ReadFile(h.local(p))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 9000*1000 || sha256.Sum256(got) != <-sum {
			t.Errorf("uploaded %d bytes, want 9000000 with the same hash", len(got))
		}
		assertOnlyFiles(t, h.local(dir), "big.json")
	})

	t.Run("ReplacesExisting", func(t *testing.T) {
		dir := area(t)
		target := sftp.New(h.config(t, dir))
		if _, err := target.Put(ctx, "x.json", strings.NewReader("old content, longer than the new")); err != nil {
			t.Fatalf("first Put: %v", err)
		}
		p, err := target.Put(ctx, "x.json", strings.NewReader("new"))
		if err != nil {
			t.Fatalf("second Put: %v", err)
		}
		assertFile(t, h.local(p), "new")
		assertOnlyFiles(t, h.local(dir), "x.json")
	})

	t.Run("LeftoverTempFile", func(t *testing.T) {
		dir := area(t)
		target := sftp.New(h.config(t, dir))
		if _, err := target.Put(ctx, "first", strings.NewReader("1")); err != nil {
			t.Fatal(err)
		}
		// A temporary file left by a crashed attempt is overwritten.
		if err := os.WriteFile(filepath.Join(h.local(dir), ".x.json.part"), []byte("stale partial data"), 0o666); err != nil {
			t.Fatal(err)
		}
		p, err := target.Put(ctx, "x.json", strings.NewReader("fresh"))
		if err != nil {
			t.Fatalf("Put: %v", err)
		}
		assertFile(t, h.local(p), "fresh")
		assertOnlyFiles(t, h.local(dir), "first", "x.json")
	})

	t.Run("CreatesMissingDirectory", func(t *testing.T) {
		dir := path.Join(area(t), "a", "b", "c")
		p, err := sftp.New(h.config(t, dir)).Put(ctx, "f.csv", strings.NewReader("id\n"))
		if err != nil {
			t.Fatalf("Put: %v", err)
		}
		assertFile(t, h.local(p), "id\n")
	})

	t.Run("MissingDirectoryNotCreatable", func(t *testing.T) {
		dir := path.Join(h.dir(h.lockedDir), "missing")
		_, err := sftp.New(h.config(t, dir)).Put(ctx, "f.csv", strings.NewReader("id\n"))
		assertClass(t, err, delivery.ClassNoSuchDir, true)
		if !strings.Contains(err.Error(), dir) {
			t.Errorf("error %q does not name the directory %s", err, dir)
		}
	})

	t.Run("PermissionDenied", func(t *testing.T) {
		dir := h.dir(h.lockedDir)
		_, err := sftp.New(h.config(t, dir)).Put(ctx, "f.csv", strings.NewReader("id\n"))
		assertClass(t, err, delivery.ClassPermission, true)
		assertOnlyFiles(t, h.local(dir))
	})

	t.Run("ReaderFails", func(t *testing.T) {
		dir := area(t)
		target := sftp.New(h.config(t, dir))
		if _, err := target.Put(ctx, "keep", strings.NewReader("k")); err != nil {
			t.Fatal(err)
		}
		errBoom := errors.New("database went away")
		pr, pw := io.Pipe()
		go func() {
			chunk := make([]byte, 64*1024)
			for i := 0; i < 20; i++ {
				if _, err := pw.Write(chunk); err != nil {
					return
				}
			}
			pw.CloseWithError(errBoom)
		}()
		_, err := target.Put(ctx, "x.json", pr)
		if !errors.Is(err, errBoom) {
			t.Fatalf("Put error = %v, want it to wrap the reader's error", err)
		}
		assertClass(t, err, delivery.ClassSource, false)
		assertOnlyFiles(t, h.local(dir), "keep")
	})

	t.Run("KeyAuth", func(t *testing.T) {
		for _, k := range clientKeys(t) {
			t.Run(strings.ReplaceAll(k.name, " ", "_"), func(t *testing.T) {
				dir := area(t)
				cfg := h.config(t, dir)
				cfg.Password = ""
				cfg.PrivateKey, cfg.Passphrase = k.pem, k.passphrase
				p, err := sftp.New(cfg).Put(ctx, "k.txt", strings.NewReader(k.name))
				if err != nil {
					t.Fatalf("Put: %v", err)
				}
				assertFile(t, h.local(p), k.name)
			})
		}
	})

	t.Run("KeyNotAuthorized", func(t *testing.T) {
		cfg := h.config(t, area(t))
		cfg.Password = ""
		cfg.PrivateKey = unauthorizedKey(t)
		_, err := sftp.New(cfg).Put(ctx, "k.txt", strings.NewReader("x"))
		assertClass(t, err, delivery.ClassAuth, true)
	})

	t.Run("HostKeyUnknown", func(t *testing.T) {
		dir := area(t)
		cfg := h.config(t, dir)
		cfg.HostKey = ""
		target := sftp.New(cfg)
		_, err := target.Put(ctx, "f.json", strings.NewReader("x"))
		e := assertClass(t, err, delivery.ClassHostKeyUnknown, true)
		fp, line := target.PresentedHostKey()
		if e != nil && e.Presented != fp {
			t.Errorf("Error.Presented = %q, PresentedHostKey = %q", e.Presented, fp)
		}
		if !isHostKey(h.hostKeys, fp) || !strings.Contains(err.Error(), fp) {
			t.Errorf("presented %q is not one of the server's keys, or not in the error %q", fp, err)
		}
		assertNotExist(t, h.local(dir))

		// Pinning the presented key makes it work.
		cfg.HostKey = line
		if _, err := sftp.New(cfg).Put(ctx, "f.json", strings.NewReader("x")); err != nil {
			t.Fatalf("Put with the presented key pinned: %v", err)
		}
	})

	t.Run("HostKeyMismatch", func(t *testing.T) {
		other := randomHostKey(t)
		for name, pin := range map[string]string{
			"fingerprint": sftp.Fingerprint(other),
			"known_hosts": knownhosts.Line([]string{h.addr}, other),
			"key":         string(ssh.MarshalAuthorizedKey(other)),
		} {
			t.Run(name, func(t *testing.T) {
				dir := area(t)
				cfg := h.config(t, dir)
				cfg.HostKey = pin
				target := sftp.New(cfg)
				_, err := target.Put(ctx, "f.json", strings.NewReader("x"))
				e := assertClass(t, err, delivery.ClassHostKeyMismatch, true)
				if fp, _ := target.PresentedHostKey(); e != nil && (e.Presented != fp || !isHostKey(h.hostKeys, fp)) {
					t.Errorf("Error.Presented = %q, PresentedHostKey = %q, want one of the server's keys", e.Presented, fp)
				}
				assertNotExist(t, h.local(dir))
			})
		}
	})

	t.Run("AcceptUnknownHostKey", func(t *testing.T) {
		dir := area(t)
		cfg := h.config(t, dir)
		cfg.HostKey = ""
		cfg.AcceptUnknownHostKey = true
		target := sftp.New(cfg)
		if _, err := target.Put(ctx, "f.json", strings.NewReader("x")); err != nil {
			t.Fatalf("Put: %v", err)
		}
		fp, line := target.PresentedHostKey()
		if !isHostKey(h.hostKeys, fp) || !strings.HasPrefix(line, "ssh-") && !strings.HasPrefix(line, "ecdsa-") {
			t.Errorf("PresentedHostKey = %q, %q, want one of the server's keys", fp, line)
		}
	})

	t.Run("PinEachHostKey", func(t *testing.T) {
		for _, k := range h.hostKeys {
			pins := map[string]string{
				"fingerprint":        sftp.Fingerprint(k),
				"known_hosts":        knownhosts.Line([]string{h.addr}, k),
				"known_hosts_hashed": knownhosts.HashHostname(knownhosts.Normalize(h.addr)) + " " + string(ssh.MarshalAuthorizedKey(k)),
				"authorized_key":     string(ssh.MarshalAuthorizedKey(k)),
				"among_others": sftp.Fingerprint(randomHostKey(t)) + "\n" +
					knownhosts.Line([]string{h.addr}, randomHostKey(t)) + "\n" + knownhosts.Line([]string{h.addr}, k),
			}
			for name, pin := range pins {
				t.Run(k.Type()+"_"+name, func(t *testing.T) {
					cfg := h.config(t, area(t))
					cfg.HostKey = pin
					target := sftp.New(cfg)
					if _, err := target.Put(ctx, "f.json", strings.NewReader("x")); err != nil {
						t.Fatalf("Put: %v", err)
					}
					if fp, _ := target.PresentedHostKey(); fp != sftp.Fingerprint(k) {
						t.Errorf("server presented %s, want the pinned %s", fp, sftp.Fingerprint(k))
					}
				})
			}
		}
	})

	t.Run("KnownHostsLineForOtherHost", func(t *testing.T) {
		dir := area(t)
		cfg := h.config(t, dir)
		cfg.HostKey = knownhosts.Line([]string{"elsewhere.example.com"}, h.hostKeys[0])
		_, err := sftp.New(cfg).Put(ctx, "f.json", strings.NewReader("x"))
		assertClass(t, err, delivery.ClassHostKeyMismatch, true)
		if err != nil && !strings.Contains(err.Error(), "another host name") {
			t.Errorf("error %q does not explain that the line names another host", err)
		}
		assertNotExist(t, h.local(dir))
	})

	t.Run("SourceAddr", func(t *testing.T) {
		cfg := h.config(t, area(t))
		cfg.SourceAddr = "127.0.0.1"
		if _, err := sftp.New(cfg).Put(ctx, "f.json", strings.NewReader("x")); err != nil {
			t.Fatalf("Put: %v", err)
		}
	})
}

func assertFile(t *testing.T, name, want string) {
	t.Helper()
	got, err := os.ReadFile(name)
	if err != nil {
		t.Errorf("read uploaded file: %v", err)
		return
	}
	if string(got) != want {
		t.Errorf("%s holds %q, want %q", name, truncated(got), truncated([]byte(want)))
	}
}

func truncated(b []byte) string {
	if len(b) > 64 {
		return string(b[:64]) + "…"
	}
	return string(b)
}

// assertOnlyFiles checks that dir holds exactly the named files: no
// temporary or partial files.
func assertOnlyFiles(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !(errors.Is(err, os.ErrNotExist) && len(names) == 0) {
		t.Errorf("read %s: %v", dir, err)
		return
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if strings.Join(got, ",") != strings.Join(names, ",") {
		t.Errorf("%s holds %q, want %q", dir, got, names)
	}
}

func assertNotExist(t *testing.T, name string) {
	t.Helper()
	if _, err := os.Stat(name); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s exists (err %v); nothing should have been uploaded", name, err)
	}
}

// assertClass checks err's class and permanence, and returns it.
func assertClass(t *testing.T, err error, want delivery.Class, permanent bool) *delivery.Error {
	t.Helper()
	var e *delivery.Error
	if !errors.As(err, &e) {
		t.Fatalf("error = %v (%T), want a *delivery.Error of class %q", err, err, want)
	}
	if e.Class != want {
		t.Fatalf("error class = %q, want %q; error: %v", e.Class, want, err)
	}
	if got := delivery.IsPermanent(err); got != permanent {
		t.Errorf("IsPermanent = %v, want %v; error: %v", got, permanent, err)
	}
	t.Logf("error, as support reads it: %v", err)
	return e
}

func isHostKey(keys []ssh.PublicKey, fp string) bool {
	for _, k := range keys {
		if sftp.Fingerprint(k) == fp {
			return true
		}
	}
	return false
}

func randomHostKey(t testing.TB) ssh.PublicKey {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func unauthorizedKey(t testing.TB) []byte {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	return pemEncode(b)
}

// TestConformanceSFTPTest runs the conformance suite against the in-process
// server.
func TestConformanceSFTPTest(t *testing.T) {
	var authorized []ssh.PublicKey
	for _, k := range clientKeys(t) {
		authorized = append(authorized, k.public)
	}
	srv := sftptest.NewServer(t, sftptest.Options{
		User: "acme", Password: "pw" + specialChars,
		AuthorizedKeys: authorized,
		HostKeyTypes:   []string{sftptest.KeyED25519, sftptest.KeyECDSA, sftptest.KeyRSA},
		ReadOnlyDirs:   []string{"/locked"},
	})
	if err := os.Mkdir(filepath.Join(srv.Root(), "locked"), 0o755); err != nil {
		t.Fatal(err)
	}
	exercise(t, harness{
		config: func(t *testing.T, dir string) sftp.Config {
			cfg, err := sftp.ParseURL(srv.URL(dir))
			if err != nil {
				t.Fatal(err)
			}
			cfg.HostKey = srv.HostKeyPin()
			return cfg
		},
		dir:       func(rel string) string { return "/" + rel },
		local:     func(remote string) string { return filepath.Join(srv.Root(), filepath.FromSlash(remote)) },
		lockedDir: "locked",
		addr:      srv.Addr(),
		hostKeys:  srv.HostKeys(),
		password:  true,
	})
}
