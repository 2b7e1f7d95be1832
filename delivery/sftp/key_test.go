package sftp_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/eventexport/eventexport/delivery/sftp"
)

// testKey is a client key in one file format.
type testKey struct {
	name       string
	pem        []byte
	passphrase []byte
	public     ssh.PublicKey
}

var (
	keysOnce sync.Once
	keys     []testKey
)

// clientKeys returns keys of every supported type and format, generated
// once per test binary.
func clientKeys(t testing.TB) []testKey {
	t.Helper()
	keysOnce.Do(func() {
		_, edKey, _ := ed25519.GenerateKey(rand.Reader)
		ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
		pass := []byte("correct horse")
		openssh := func(k crypto.PrivateKey, passphrase []byte) []byte {
			var b *pem.Block
			var err error
			if passphrase != nil {
				b, err = ssh.MarshalPrivateKeyWithPassphrase(k, "test", passphrase)
			} else {
				b, err = ssh.MarshalPrivateKey(k, "test")
			}
			if err != nil {
				panic(err)
			}
			return pem.EncodeToMemory(b)
		}
		pub := func(k crypto.Signer) ssh.PublicKey {
			p, err := ssh.NewPublicKey(k.Public())
			if err != nil {
				panic(err)
			}
			return p
		}
		ecDER, _ := x509.MarshalECPrivateKey(ecKey)
		//lint:ignore SA1019 legacy PEM encryption is what old tools write, and must be read
		encRSA, _ := x509.EncryptPEMBlock(rand.Reader, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey), pass, x509.PEMCipherAES256)
		pkcs8, _ := x509.MarshalPKCS8PrivateKey(edKey)
		keys = []testKey{
			{name: "ed25519 openssh", pem: openssh(edKey, nil), public: pub(edKey)},
			{name: "ed25519 openssh passphrase", pem: openssh(edKey, pass), passphrase: pass, public: pub(edKey)},
			{name: "ed25519 pkcs8", pem: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), public: pub(edKey)},
			{name: "ecdsa openssh", pem: openssh(ecKey, nil), public: pub(ecKey)},
			{name: "ecdsa pem", pem: pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER}), public: pub(ecKey)},
			{name: "rsa openssh", pem: openssh(rsaKey, nil), public: pub(rsaKey)},
			{name: "rsa pem", pem: pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)}), public: pub(rsaKey)},
			{name: "rsa pem passphrase", pem: pem.EncodeToMemory(encRSA), passphrase: pass, public: pub(rsaKey)},
		}
	})
	return keys
}

func keyNamed(t testing.TB, name string) testKey {
	for _, k := range clientKeys(t) {
		if k.name == name {
			return k
		}
	}
	t.Fatalf("no test key %q", name)
	return testKey{}
}

func TestValidatePrivateKey(t *testing.T) {
	for _, k := range clientKeys(t) {
		if err := sftp.ValidatePrivateKey(k.pem, k.passphrase); err != nil {
			t.Errorf("ValidatePrivateKey(%s): %v", k.name, err)
		}
	}

	pkcs8, err := os.ReadFile("testdata/rsa_pkcs8_encrypted.pem")
	if err != nil {
		t.Fatal(err)
	}
	ed := keyNamed(t, "ed25519 openssh passphrase")
	rsaEnc := keyNamed(t, "rsa pem passphrase")
	plain := keyNamed(t, "ed25519 openssh")
	tests := []struct {
		name       string
		key        []byte
		passphrase string
		wantErr    string
	}{
		{"empty", nil, "", "empty"},
		{"garbage", []byte("not a key at all"), "", "not in a recognised format"},
		{"garbage pem", []byte("-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n"), "", "could not be parsed"},
		{"encrypted pkcs8", pkcs8, "secret", "ssh-keygen -p -m PEM -f KEY"},
		{"openssh missing passphrase", ed.pem, "", "passphrase is needed"},
		{"openssh wrong passphrase", ed.pem, "wrong", "passphrase is wrong"},
		{"pem missing passphrase", rsaEnc.pem, "", "passphrase is needed"},
		{"pem wrong passphrase", rsaEnc.pem, "wrong", "passphrase is wrong"},
		{"public key", ssh.MarshalAuthorizedKey(plain.public), "", "public key"},
		{"putty", []byte("PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\n"), "", "PuTTY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := sftp.ValidatePrivateKey(tt.key, []byte(tt.passphrase))
			if err == nil {
				t.Fatalf("ValidatePrivateKey = nil, want an error containing %q", tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ValidatePrivateKey error = %q, want it to contain %q", err, tt.wantErr)
			}
		})
	}
	// A passphrase for a key that has none is harmless.
	if err := sftp.ValidatePrivateKey(plain.pem, []byte("unneeded")); err != nil {
		t.Errorf("ValidatePrivateKey(unencrypted, passphrase): %v", err)
	}
}

func TestValidateHostKeyPin(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, _ := ssh.NewSignerFromKey(priv)
	k := signer.PublicKey()
	fp := sftp.Fingerprint(k)
	if !strings.HasPrefix(fp, "SHA256:") || len(fp) != len("SHA256:")+43 {
		t.Fatalf("Fingerprint = %q, want SHA256: and 43 characters", fp)
	}
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k)))
	good := []string{
		fp,
		fp + "\n",
		"256 " + fp + " root@host (ED25519)",
		knownhosts.Line([]string{"example.com"}, k),
		knownhosts.Line([]string{"[127.0.0.1]:2222"}, k),
		knownhosts.Line([]string{"example.com:2222", "10.0.0.1"}, k),
		knownhosts.HashHostname("example.com") + " " + line,
		"*.example.com " + line,
		line,
		line + " comment here",
		"# pinned keys\n" + fp + "\n\n" + knownhosts.Line([]string{"h"}, k) + "\n",
		"@revoked example.com " + line,
	}
	for _, pin := range good {
		if err := sftp.ValidateHostKeyPin(pin); err != nil {
			t.Errorf("ValidateHostKeyPin(%q): %v", pin, err)
		}
	}
	bad := []struct{ pin, wantErr string }{
		{"", "empty"},
		{"# only a comment", "empty"},
		{"SHA256:abc", "43 base64"},
		{"SHA256:" + strings.Repeat("A", 42) + "!", "43 base64"},
		{"MD5:16:27:ac:a5:76:28:2d:36:63:1b:56:4d:eb:df:a6:48", "MD5"},
		{"16:27:ac:a5:76:28:2d:36:63:1b:56:4d:eb:df:a6:48", "MD5"},
		{"example.com ssh-ed25519 AAAAnotbase64!!", "not a SHA256"},
		{"ssh-ed25519 " + base64.StdEncoding.EncodeToString([]byte("junk")), "invalid public key"},
		{"hello world", "not a SHA256"},
		{"@cert-authority *.example.com " + line, "cert-authority"},
		{fp + "\nbogus line here", "line 2"},
	}
	for _, tt := range bad {
		err := sftp.ValidateHostKeyPin(tt.pin)
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("ValidateHostKeyPin(%q) = %v, want an error containing %q", tt.pin, err, tt.wantErr)
		}
	}
}
