package file

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// Recipient is the encryption stage files are written through.
var _ Stager = Recipient{}

// pgpGPG is a GnuPG home of one test's own, so that the tests decrypt with what customers run.
type pgpGPG struct{ home string }

func newPGPGPG(t testing.TB) *pgpGPG {
	t.Helper()
	if _, err := exec.LookPath("gpg"); err != nil {
		t.Fatalf("the OpenPGP tests decrypt with GnuPG, and gpg is not installed: install it (apt-get install gnupg): %v", err)
	}
	// Not t.TempDir: gpg-agent's socket lives in the home, and its path must stay short.
	home, err := os.MkdirTemp("", "pgp")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Stop the gpg-agent gpg started for this home.
		if out, err := exec.Command("gpgconf", "--homedir", home, "--kill", "all").CombinedOutput(); err != nil {
			t.Logf("gpgconf --kill all: %v: %s", err, out)
		}
		os.RemoveAll(home)
	})
	return &pgpGPG{home: home}
}

func (g *pgpGPG) cmd(args ...string) *exec.Cmd {
	return exec.Command("gpg", append([]string{"--homedir", g.home, "--batch", "--no-tty",
		"--pinentry-mode", "loopback", "--passphrase", ""}, args...)...)
}

// run runs gpg with args, stdin as its input, and returns its output.
func (g *pgpGPG) run(t testing.TB, stdin []byte, args ...string) []byte {
	t.Helper()
	c := g.cmd(args...)
	c.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	c.Stderr = &stderr
	out, err := c.Output()
	if err != nil {
		t.Fatalf("gpg %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return out
}

// gen makes a key without a passphrase from gpg's key parameters (the name is added) and
// returns its fingerprint.
func (g *pgpGPG) gen(t testing.TB, name, params string) string {
	t.Helper()
	spec := "%no-protection\n" + params + "\nName-Real: " + name + "\nName-Email: t@example.com\n%commit\n"
	out := g.run(t, []byte(spec), "--status-fd", "1", "--gen-key")
	for line := range strings.Lines(string(out)) {
		if f := strings.Fields(line); len(f) == 4 && f[1] == "KEY_CREATED" {
			return f[3]
		}
	}
	t.Fatalf("gpg --gen-key said no KEY_CREATED:\n%s", out)
	return ""
}

func (g *pgpGPG) export(t testing.TB, armored bool, args ...string) []byte {
	t.Helper()
	if armored {
		args = append([]string{"--armor"}, args...)
	}
	return g.run(t, nil, args...)
}

// decrypt decrypts the message in r with gpg into w and returns gpg's status lines.
func (g *pgpGPG) decrypt(t testing.TB, r io.Reader, w io.Writer) string {
	t.Helper()
	status, err := os.CreateTemp(g.home, "status")
	if err != nil {
		t.Fatal(err)
	}
	status.Close()
	c := g.cmd("--status-file", status.Name(), "--decrypt")
	c.Stdin, c.Stdout = r, w
	var stderr bytes.Buffer
	c.Stderr = &stderr
	if err := c.Run(); err != nil {
		t.Fatalf("gpg --decrypt: %v\n%s", err, stderr.Bytes())
	}
	b, err := os.ReadFile(status.Name())
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// pgpKeySpec is a key gpg makes, and what ParseRecipient should say of it.
type pgpKeySpec struct {
	name, params string
	subkey       string // added with --quick-add-key when not empty
	algorithm    string
}

var pgpGnuPGKeys = []pgpKeySpec{
	// gpg --quick-gen-key NAME rsa3072 encr 1d: one key, which certifies and encrypts.
	{name: "RSA 3072", params: "Key-Type: RSA\nKey-Length: 3072\nKey-Usage: encrypt\nExpire-Date: 1d", algorithm: "RSA 3072"},
	{name: "RSA 2048 with subkey", params: "Key-Type: RSA\nKey-Length: 2048\nKey-Usage: sign\nSubkey-Type: RSA\nSubkey-Length: 2048\nSubkey-Usage: encrypt\nExpire-Date: 1d", algorithm: "RSA 2048"},
	// gpg --quick-gen-key NAME ed25519 sign 1d, then --quick-add-key FPR cv25519 encr 1d.
	{name: "Ed25519 Cv25519", params: "Key-Type: EDDSA\nKey-Curve: ed25519\nKey-Usage: sign\nExpire-Date: 1d", subkey: "cv25519", algorithm: "Ed25519/Cv25519"},
	{name: "NIST P-256", params: "Key-Type: ECDSA\nKey-Curve: nistp256\nKey-Usage: sign\nSubkey-Type: ECDH\nSubkey-Curve: nistp256\nSubkey-Usage: encrypt\nExpire-Date: 1d", algorithm: "ECDSA P-256/ECDH P-256"},
}

func (g *pgpGPG) genSpec(t testing.TB, s pgpKeySpec) string {
	t.Helper()
	fpr := g.gen(t, s.name, s.params)
	if s.subkey != "" {
		g.run(t, nil, "--quick-add-key", fpr, s.subkey, "encr", "1d")
	}
	return fpr
}

// pgpRandom returns n bytes that differ with seed.
func pgpRandom(seed uint64, n int) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16)}).Read(b)
	return b
}

// pgpEncrypt encrypts data to r in writes of at most step bytes (all at once for step 0).
func pgpEncrypt(t testing.TB, r Recipient, data []byte, step int) []byte {
	t.Helper()
	var out bytes.Buffer
	w, err := r.Encrypt(&out)
	if err != nil {
		t.Fatal(err)
	}
	if step <= 0 {
		step = max(len(data), 1)
	}
	for p := data; len(p) > 0; {
		k := min(step, len(p))
		if n, err := w.Write(p[:k]); err != nil || n != k {
			t.Fatalf("Write = %d, %v; want %d", n, err, k)
		}
		p = p[k:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// pgpInspect checks the message's packets with the secret keys: one session key packet to
// encKeyID, then SEIPD of version seipd, holding a literal data packet (so no compression and
// no signature), binary, with no file name, holding want.
func pgpInspect(t *testing.T, msg []byte, secret openpgp.EntityList, encKeyID uint64, seipd int, want []byte) {
	t.Helper()
	pr := packet.NewReader(bytes.NewReader(msg))
	p, err := pr.Next()
	if err != nil {
		t.Fatal(err)
	}
	ek, ok := p.(*packet.EncryptedKey)
	if !ok {
		t.Fatalf("first packet is %T, want a public-key encrypted session key", p)
	}
	if wantV := map[int]int{1: 3, 2: 6}[seipd]; ek.Version != wantV {
		t.Errorf("session key packet version %d, want %d", ek.Version, wantV)
	}
	keys := secret.KeysById(encKeyID)
	if len(keys) != 1 || keys[0].PrivateKey == nil {
		t.Fatalf("no secret key %X", encKeyID)
	}
	if ek.Version == 3 && ek.KeyId != encKeyID {
		t.Errorf("session key encrypted to %X, want %X", ek.KeyId, encKeyID)
	}
	if err := ek.Decrypt(keys[0].PrivateKey, nil); err != nil {
		t.Fatal(err)
	}
	if p, err = pr.Next(); err != nil {
		t.Fatal(err)
	}
	se, ok := p.(*packet.SymmetricallyEncrypted)
	if !ok || !se.IntegrityProtected || se.Version != seipd {
		t.Fatalf("second packet is %T %+v, want SEIPD v%d", p, p, seipd)
	}
	if seipd == 1 && ek.CipherFunc != packet.CipherAES256 {
		t.Errorf("cipher %v, want AES-256 (%v), the first the key prefers", ek.CipherFunc, packet.CipherAES256)
	}
	plain, err := se.Decrypt(ek.CipherFunc, ek.Key)
	if err != nil {
		t.Fatal(err)
	}
	inner := packet.NewReader(plain)
	if p, err = inner.Next(); err != nil {
		t.Fatal(err)
	}
	lit, ok := p.(*packet.LiteralData)
	if !ok {
		t.Fatalf("encrypted packet holds %T, want literal data only (no compression, no signature)", p)
	}
	if !lit.IsBinary || lit.FileName != "" || lit.Time != 0 {
		t.Errorf("literal data binary=%v name=%q time=%d, want binary, no name, time 0", lit.IsBinary, lit.FileName, lit.Time)
	}
	got, err := io.ReadAll(lit.Body)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("literal data holds %d bytes, not the %d written", len(got), len(want))
	}
	if p, err := inner.Next(); err != io.EOF {
		t.Errorf("after the literal data: %T, %v; want nothing", p, err)
	}
	if err := plain.Close(); err != nil { // checks the MDC or final tag
		t.Errorf("integrity check: %v", err)
	}
}

func TestPGPRecipientRoundTripGnuPG(t *testing.T) {
	t.Parallel()
	g := newPGPGPG(t)
	for i, s := range pgpGnuPGKeys {
		t.Run(s.name, func(t *testing.T) {
			fpr := g.genSpec(t, s)
			now := time.Now()
			armored, binary := g.export(t, true, "--export", fpr), g.export(t, false, "--export", fpr)
			if !bytes.HasPrefix(armored, []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----")) || binary[0]&0x80 == 0 {
				t.Fatalf("exports are not armored and binary")
			}
			r, err := ParseRecipient(armored, now)
			if err != nil {
				t.Fatal(err)
			}
			if r.Fingerprint != fpr || r.Algorithm != s.algorithm || r.UserID != s.name+" <t@example.com>" || r.aead {
				t.Errorf("ParseRecipient = %q %q %q aead=%v; want %q %q %q SEIPD v1", r.Fingerprint, r.Algorithm, r.UserID, r.aead, fpr, s.algorithm, s.name+" <t@example.com>")
			}
			if r.Expires == nil || r.Expires.Before(now.Add(23*time.Hour)) || r.Expires.After(now.Add(25*time.Hour)) {
				t.Errorf("Expires = %v, want in a day", r.Expires)
			}
			for name, key := range map[string][]byte{
				"binary":          binary,
				"armored in text": append(append([]byte("Öffentlicher Schlüssel:\r\n\r\n"), bytes.ReplaceAll(armored, []byte("\n"), []byte("\r\n"))...), "\r\nGrüße\r\n"...),
				"armored, BOM":    append([]byte("\uFEFF"), armored...),
			} {
				rb, err := ParseRecipient(key, now)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if rb.Fingerprint != r.Fingerprint || rb.Algorithm != r.Algorithm || rb.UserID != r.UserID || !rb.Expires.Equal(*r.Expires) || rb.key.PublicKey.KeyId != r.key.PublicKey.KeyId {
					t.Errorf("%s: ParseRecipient = %+v, armored %+v", name, rb, r)
				}
			}

			secret, err := openpgp.ReadKeyRing(bytes.NewReader(g.export(t, false, "--export-secret-keys", fpr)))
			if err != nil {
				t.Fatal(err)
			}
			for j, n := range []int{0, 1, 1 << 10, 1 << 20, 3<<20 + 17} {
				data := pgpRandom(uint64(100*i+j), n)
				msg := pgpEncrypt(t, r, data, 0)
				var got bytes.Buffer
				status := g.decrypt(t, bytes.NewReader(msg), &got)
				if !bytes.Equal(got.Bytes(), data) {
					t.Fatalf("%d bytes: gpg decrypted %d bytes that differ", n, got.Len())
				}
				// MDC (2), AES-256 (9), no AEAD; binary (62), no date, no name; nothing signed.
				for _, want := range []string{"DECRYPTION_INFO 2 9 0\n", "PLAINTEXT 62 0 \n", "DECRYPTION_OKAY", "GOODMDC"} {
					if !strings.Contains(status, want) {
						t.Errorf("%d bytes: gpg status lacks %q:\n%s", n, want, status)
					}
				}
				if strings.Contains(status, "SIG") {
					t.Errorf("%d bytes: gpg found a signature:\n%s", n, status)
				}
				if overhead := int64(len(msg) - n); overhead > r.MaxOverhead(int64(n)) {
					t.Errorf("%d bytes: overhead %d > MaxOverhead %d", n, overhead, r.MaxOverhead(int64(n)))
				}
				pgpInspect(t, msg, secret, r.key.PublicKey.KeyId, 1, data)
			}
		})
	}
}

// pgpSeededReader is a stream of pseudo-random bytes.
type pgpSeededReader struct{ c *rand.ChaCha8 }

func (r pgpSeededReader) Read(p []byte) (int, error) { return r.c.Read(p) }

// TestEncryptStreamsToGnuPG pipes a message of many MiB, written in writes of varied sizes,
// into gpg as it is made.
func TestEncryptStreamsToGnuPG(t *testing.T) {
	t.Parallel()
	g := newPGPGPG(t)
	fpr := g.genSpec(t, pgpGnuPGKeys[2])
	r, err := ParseRecipient(g.export(t, true, "--export", fpr), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	const size = 40<<20 + 12345
	pr, pw := io.Pipe()
	sentHash, gotHash := sha256.New(), sha256.New()
	done := make(chan error, 1)
	go func() {
		err := func() error {
			w, err := r.Encrypt(pw)
			if err != nil {
				return err
			}
			src := io.TeeReader(io.LimitReader(pgpSeededReader{rand.NewChaCha8([32]byte{7})}, size), sentHash)
			sizes := rand.New(rand.NewPCG(1, 2))
			buf := make([]byte, 1<<20)
			for {
				n, err := io.ReadFull(src, buf[:1+sizes.IntN(len(buf))])
				if n > 0 {
					if _, err := w.Write(buf[:n]); err != nil {
						return err
					}
				}
				if err == io.EOF || err == io.ErrUnexpectedEOF {
					break
				} else if err != nil {
					return err
				}
			}
			return w.Close()
		}()
		pw.CloseWithError(err)
		done <- err
	}()
	var got pgpCounter
	status := g.decrypt(t, pr, io.MultiWriter(gotHash, &got))
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got.n != size || !bytes.Equal(gotHash.Sum(nil), sentHash.Sum(nil)) {
		t.Fatalf("gpg decrypted %d bytes, want the %d sent", got.n, size)
	}
	if !strings.Contains(status, "GOODMDC") {
		t.Errorf("gpg status lacks GOODMDC:\n%s", status)
	}
}

// TestEncryptStreams checks the message leaves as the data comes, whatever the writes' sizes:
// what Encrypt holds back stays under a few hundred KiB.
func TestEncryptStreams(t *testing.T) {
	t.Parallel()
	for _, r := range []Recipient{pgpGoRecipient(t, false), pgpGoRecipient(t, true)} {
		for _, step := range []int{1000, 256<<10 + 1, 3 << 20} {
			var out pgpCounter
			w, err := r.Encrypt(&out)
			if err != nil {
				t.Fatal(err)
			}
			data := pgpRandom(uint64(step), step)
			var in int64
			for in < 3<<20 {
				if _, err := w.Write(data); err != nil {
					t.Fatal(err)
				}
				in += int64(step)
				// Buffers: 64 KiB of Encrypt's, up to twice that in each of the two packets
				// written with partial lengths, and a 256 KiB chunk for AEAD.
				if held, limit := in-out.n, int64(map[bool]int{false: 384 << 10, true: 640 << 10}[r.aead]); held > limit {
					t.Fatalf("aead=%v, writes of %d: after %d bytes in, %d out: %d held back, more than %d", r.aead, step, in, out.n, held, limit)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// pgpGoRecipient makes a key with the library (not GnuPG): v4 Ed25519/Cv25519 without AEAD,
// or v6 Ed25519/X25519, which asks for SEIPD v2.
func pgpGoRecipient(t testing.TB, v6 bool) Recipient {
	t.Helper()
	_, r := pgpGoKey(t, &packet.Config{V6Keys: v6, Algorithm: map[bool]packet.PublicKeyAlgorithm{false: packet.PubKeyAlgoEdDSA, true: packet.PubKeyAlgoEd25519}[v6]})
	return r
}

func pgpGoKey(t testing.TB, cfg *packet.Config) (*openpgp.Entity, Recipient) {
	t.Helper()
	e, err := openpgp.NewEntity("Go", "", "go@example.com", cfg)
	if err != nil {
		t.Fatal(err)
	}
	var pub bytes.Buffer
	if err := e.Serialize(&pub); err != nil {
		t.Fatal(err)
	}
	r, err := ParseRecipient(pub.Bytes(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return e, r
}

// TestEncryptAEADWhenTheKeyAsks checks keys that advertise SEIPD v2, which GnuPG 2.2 does not
// make, get it: a v6 key, and a v4 key with the feature; the library decrypts them.
func TestEncryptAEADWhenTheKeyAsks(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name      string
		cfg       *packet.Config
		algorithm string
		mode      packet.AEADMode
	}{
		{"v6 Ed25519/X25519", &packet.Config{V6Keys: true, Algorithm: packet.PubKeyAlgoEd25519}, "Ed25519/X25519", packet.AEADModeOCB},
		{"v4 RSA with SEIPDv2 feature", &packet.Config{Algorithm: packet.PubKeyAlgoRSA, RSABits: 2048, DefaultCipher: packet.CipherAES256,
			AEADConfig: &packet.AEADConfig{DefaultMode: packet.AEADModeGCM}}, "RSA 2048", packet.AEADModeGCM},
	} {
		t.Run(c.name, func(t *testing.T) {
			e, r := pgpGoKey(t, c.cfg)
			if !r.aead || r.Algorithm != c.algorithm || r.suite.Mode != c.mode || r.Expires != nil {
				t.Fatalf("ParseRecipient = %+v, want SEIPD v2 in mode %v, %s, no expiry", r, c.mode, c.algorithm)
			}
			if want := 40 + 24*map[bool]int{false: 0, true: 1}[c.cfg.V6Keys]; len(r.Fingerprint) != want {
				t.Errorf("fingerprint %q, want %d digits", r.Fingerprint, want)
			}
			for _, n := range []int{0, 1, 300 << 10, 1<<20 + 5} {
				data := pgpRandom(uint64(n), n)
				msg := pgpEncrypt(t, r, data, 0)
				if overhead := int64(len(msg) - n); overhead > r.MaxOverhead(int64(n)) {
					t.Errorf("%d bytes: overhead %d > MaxOverhead %d", n, overhead, r.MaxOverhead(int64(n)))
				}
				md, err := openpgp.ReadMessage(bytes.NewReader(msg), openpgp.EntityList{e}, nil, nil)
				if err != nil {
					t.Fatal(err)
				}
				got, err := io.ReadAll(md.UnverifiedBody)
				if err != nil || !bytes.Equal(got, data) || md.IsSigned {
					t.Fatalf("%d bytes: decrypted %d bytes, %v, signed %v", n, len(got), err, md.IsSigned)
				}
				pgpInspect(t, msg, openpgp.EntityList{e}, r.key.PublicKey.KeyId, 2, data)
			}
		})
	}
}

// TestPGPMaxOverhead checks MaxOverhead bounds what messages add, for all write patterns, and
// not by much.
func TestPGPMaxOverhead(t *testing.T) {
	t.Parallel()
	g := newPGPGPG(t)
	type recipient struct {
		name string
		r    Recipient
		gpg  bool
	}
	var rs []recipient
	for _, s := range []pgpKeySpec{pgpGnuPGKeys[0], pgpGnuPGKeys[2]} {
		fpr := g.genSpec(t, s)
		r, err := ParseRecipient(g.export(t, false, "--export", fpr), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, recipient{s.name, r, true})
	}
	_, rsaAEAD := pgpGoKey(t, &packet.Config{Algorithm: packet.PubKeyAlgoRSA, RSABits: 2048, AEADConfig: &packet.AEADConfig{}})
	rs = append(rs, recipient{"v6 X25519 (AEAD)", pgpGoRecipient(t, true), false}, recipient{"v4 RSA 2048 (AEAD)", rsaAEAD, false})

	sizes := []int{0, 1, 1 << 10, 1 << 20, 10 << 20}
	data := pgpRandom(1, sizes[len(sizes)-1])
	for _, rc := range rs {
		for _, n := range sizes {
			bound := rc.r.MaxOverhead(int64(n))
			worst := int64(0)
			// Encrypt writes the literal data in pieces of its own, whatever the writes are:
			// they change where the pieces end, and with that the length octets.
			for _, step := range []int{0, 1, 4096, 65537} {
				if step == 1 && n > 1<<10 || step == 4096 && n > 1<<20 {
					continue // many more writes, no new case, and slow with -race
				}
				msg := pgpEncrypt(t, rc.r, data[:n], step)
				overhead := int64(len(msg) - n)
				if overhead > bound {
					t.Errorf("%s, %d bytes in writes of %d: overhead %d > MaxOverhead %d", rc.name, n, step, overhead, bound)
				}
				worst = max(worst, overhead)
				if rc.gpg && step == 65537 {
					var got bytes.Buffer
					g.decrypt(t, bytes.NewReader(msg), &got)
					if !bytes.Equal(got.Bytes(), data[:n]) {
						t.Errorf("%s, %d bytes: gpg decrypted something else", rc.name, n)
					}
				}
			}
			// Not much more than needed: the pessimism is a few bytes per 64 KiB.
			if slack := bound - worst; slack > 64+int64(n)/20000 {
				t.Errorf("%s, %d bytes: MaxOverhead %d, at most %d used", rc.name, n, bound, worst)
			}
			t.Logf("%-20s %9d bytes: overhead at most %5d, MaxOverhead %5d", rc.name, n, worst, bound)
		}
		for n := int64(0); n < 3<<20; n += 4099 {
			if rc.r.MaxOverhead(n+1) < rc.r.MaxOverhead(n) {
				t.Fatalf("%s: MaxOverhead(%d) < MaxOverhead(%d)", rc.name, n+1, n)
			}
		}
	}
}

func TestParseRecipientRefusals(t *testing.T) {
	t.Parallel()
	g := newPGPGPG(t)
	ed := "Key-Type: EDDSA\nKey-Curve: ed25519\nKey-Usage: sign\nSubkey-Type: ECDH\nSubkey-Curve: cv25519\nSubkey-Usage: encrypt\n"
	a := g.gen(t, "A", ed+"Expire-Date: 1d")
	b := g.gen(t, "B", ed+"Expire-Date: 0")
	signOnly := g.gen(t, "Signer", "Key-Type: EDDSA\nKey-Curve: ed25519\nKey-Usage: sign\nExpire-Date: 1d")
	rsa1024 := g.gen(t, "Short", "Key-Type: RSA\nKey-Length: 1024\nKey-Usage: encrypt\nExpire-Date: 1d")
	elg := g.gen(t, "ElGamal", "Key-Type: DSA\nKey-Length: 2048\nKey-Usage: sign\nSubkey-Type: ELG-E\nSubkey-Length: 2048\nSubkey-Usage: encrypt\nExpire-Date: 1d")
	expired := g.gen(t, "Expired", ed+"Creation-Date: 20200101T000000\nExpire-Date: 1d")
	// A primary key valid forever whose only encryption subkey expired in 2020.
	oldSub := g.gen(t, "OldSubkey", "Key-Type: EDDSA\nKey-Curve: ed25519\nKey-Usage: sign\nCreation-Date: 20190101T000000\nExpire-Date: 0")
	// The faked clock is frozen ("!"): a slow machine must not date the subkey a second later.
	g.run(t, nil, "--faked-system-time", "20200101T000000!", "--quick-add-key", oldSub, "cv25519", "encr", "1d")
	// Revoked with the certificate gpg made with the key.
	revoked := g.gen(t, "Revoked", ed+"Expire-Date: 1d")
	cert, err := os.ReadFile(filepath.Join(g.home, "openpgp-revocs.d", revoked+".rev"))
	if err != nil {
		t.Fatal(err)
	}
	g.run(t, bytes.Replace(cert, []byte(":-----BEGIN"), []byte("-----BEGIN"), 1), "--import")

	pub := func(fprs ...string) []byte { return g.export(t, false, append([]string{"--export"}, fprs...)...) }
	pubArmored := func(fprs ...string) []byte { return g.export(t, true, append([]string{"--export"}, fprs...)...) }
	message := g.run(t, []byte("hello"), "--armor", "--trust-model", "always", "--encrypt", "--recipient", a)
	garbage := pgpRandom(9, 1000)
	garbage[0] |= 0x80
	truncated := pub(a)
	truncated = truncated[:len(truncated)/2]
	now := time.Now()

	for _, c := range []struct {
		name string
		key  []byte
		now  time.Time
		want []string
	}{
		{"two keys, binary", pub(a, b), now, []string{"2 keys", a, b}},
		{"two keys, armored", pubArmored(a, b), now, []string{"2 keys", a, b}},
		{"two armored blocks", append(pubArmored(a), pubArmored(b)...), now, []string{"2 keys", a, b}},
		{"secret key, armored", g.export(t, true, "--export-secret-keys", a), now, []string{"secret", "public key"}},
		{"secret key, binary", g.export(t, false, "--export-secret-keys", a), now, []string{"secret", "public key"}},
		{"signing only", pubArmored(signOnly), now, []string{signOnly, "no encryption-capable key", "sign", "Ed25519"}},
		{"RSA 1024", pubArmored(rsa1024), now, []string{rsa1024, "1024 bits", "2048"}},
		{"ElGamal", pubArmored(elg), now, []string{elg, "ElGamal 2048", "not supported"}},
		{"expired", pubArmored(expired), now, []string{expired, "expired at 2020-01-02T00:00:00Z"}},
		{"expired at now", pubArmored(a), now.Add(49 * time.Hour), []string{a, "expired at " + now.Add(24*time.Hour).UTC().Format("2006-01-02T")}},
		{"created after now", pubArmored(a), now.Add(-time.Hour), []string{a, "created at", "later than now"}},
		{"subkey expired", pubArmored(oldSub), now, []string{oldSub, "no usable encryption subkey", "expired at 2020-01-02T00:00:00Z"}},
		{"revoked", pubArmored(revoked), now, []string{revoked, "revoked"}},
		{"message", message, now, []string{"not a public key", "MESSAGE"}},
		{"binary message", g.run(t, []byte("hello"), "--trust-model", "always", "--encrypt", "--recipient", a), now, []string{"not a public key", "message"}},
		{"garbage", garbage, now, []string{"not an OpenPGP key"}},
		{"text", []byte("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIO0 user@host\n"), now, []string{"no key found", "BEGIN PGP PUBLIC KEY BLOCK"}},
		{"empty", nil, now, []string{"empty"}},
		{"blank", []byte(" \n\t\n"), now, []string{"empty"}},
		{"truncated", truncated, now, []string{"truncated"}},
		{"bad armor", bytes.Replace(pubArmored(a), []byte("\n\n"), []byte("\n\n!!"), 1), now, []string{"armor"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseRecipient(c.key, c.now)
			if !errors.Is(err, ErrRecipientKey) {
				t.Fatalf("ParseRecipient = %v, want an ErrRecipientKey", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%v\ndoes not say %q", err, w)
				}
			}
			t.Log(err)
		})
	}

	// The key that is refused when expired or too early is fine now, and so is its subkey.
	if r, err := ParseRecipient(pubArmored(a), now); err != nil || r.Fingerprint != a {
		t.Errorf("ParseRecipient(A) = %+v, %v", r, err)
	}
	if r, err := ParseRecipient(pub(b), now); err != nil || r.Expires != nil {
		t.Errorf("ParseRecipient(B, no expiry) = %+v, %v", r, err)
	}
}

type pgpCloseRecorder struct {
	bytes.Buffer
	closed bool
}

func (w *pgpCloseRecorder) Close() error { w.closed = true; return nil }

type pgpFailingWriter struct{ left int }

func (w *pgpFailingWriter) Write(p []byte) (int, error) {
	if len(p) > w.left {
		n := w.left
		w.left = 0
		return n, errors.New("disk full")
	}
	w.left -= len(p)
	return len(p), nil
}

func TestEncryptWriter(t *testing.T) {
	t.Parallel()
	r := pgpGoRecipient(t, false)

	var out pgpCloseRecorder
	w, err := r.Encrypt(&out)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("data")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if out.closed {
		t.Error("Close closed the writer under the message")
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if _, err := w.Write([]byte("more")); err == nil {
		t.Error("Write after Close succeeded")
	}

	for _, limit := range []int{0, 10, 300, 100 << 10} {
		w, err := r.Encrypt(&pgpFailingWriter{left: limit})
		if err != nil {
			continue // the session key packet did not fit
		}
		_, err = w.Write(make([]byte, 1<<20))
		if err == nil {
			err = w.Close()
		}
		if err == nil || !strings.Contains(err.Error(), "disk full") {
			t.Errorf("writing past %d bytes: %v, want disk full", limit, err)
		}
	}

	if _, err := (Recipient{}).Encrypt(io.Discard); !errors.Is(err, ErrRecipientKey) {
		t.Errorf("zero Recipient: Encrypt = %v, want ErrRecipientKey", err)
	}
}

// TestEncryptConcurrently encrypts with one Recipient from many goroutines, as parts of runs do.
func TestEncryptConcurrently(t *testing.T) {
	t.Parallel()
	e, r := pgpGoKey(t, &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			data := pgpRandom(uint64(i), 200<<10+i)
			var out bytes.Buffer
			w, err := r.Encrypt(&out)
			if err != nil {
				t.Error(err)
				return
			}
			bw := bufio.NewWriterSize(w, 1000)
			bw.Write(data)
			if err := bw.Flush(); err != nil {
				t.Error(err)
			}
			if err := w.Close(); err != nil {
				t.Error(err)
			}
			md, err := openpgp.ReadMessage(&out, openpgp.EntityList{e}, nil, nil)
			if err != nil {
				t.Error(err)
				return
			}
			if got, err := io.ReadAll(md.UnverifiedBody); err != nil || !bytes.Equal(got, data) {
				t.Errorf("goroutine %d: decrypted %d bytes, %v", i, len(got), err)
			}
		})
	}
	wg.Wait()
}

// BenchmarkEncrypt encrypts 64 MiB, in 32 KiB writes as gzip makes them: SEIPD v1 with
// AES-256 to a GnuPG key, as most customers get, and SEIPD v2 (AES-128 OCB) to a v6 key.
func BenchmarkEncrypt(b *testing.B) {
	g := newPGPGPG(b)
	fpr := g.genSpec(b, pgpGnuPGKeys[2])
	v1, err := ParseRecipient(g.export(b, false, "--export", fpr), time.Now())
	if err != nil {
		b.Fatal(err)
	}
	chunk := pgpRandom(3, 32<<10)
	for _, c := range []struct {
		name string
		r    Recipient
	}{{"SEIPDv1-AES256", v1}, {"SEIPDv2-AES128-OCB", pgpGoRecipient(b, true)}} {
		b.Run(c.name, func(b *testing.B) {
			const size = 64 << 20
			b.SetBytes(size)
			for b.Loop() {
				w, err := c.r.Encrypt(io.Discard)
				if err != nil {
					b.Fatal(err)
				}
				for n := 0; n < size; n += len(chunk) {
					if _, err := w.Write(chunk); err != nil {
						b.Fatal(err)
					}
				}
				if err := w.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
