package delivery

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
)

// ClassCertificate is a TLS certificate the service does not trust: expired, for another
// name, from an unknown authority, or not the pinned one.
const ClassCertificate Class = "certificate refused"

// CertPin is a server certificate's SHA-256 fingerprint, "SHA256:" and 64 hex digits, as
// "openssl x509 -fingerprint -sha256" prints it (colons optional, any case).
type CertPin string

// ParseCertPin reads a certificate pin.
func ParseCertPin(s string) (CertPin, error) {
	t := strings.TrimSpace(s)
	t = strings.TrimPrefix(strings.TrimPrefix(t, "sha256 Fingerprint="), "SHA256 Fingerprint=")
	t = strings.TrimPrefix(strings.TrimPrefix(t, "SHA256:"), "sha256:")
	t = strings.ToLower(strings.ReplaceAll(t, ":", ""))
	if b, err := hex.DecodeString(t); err != nil || len(b) != sha256.Size {
		return "", fmt.Errorf("%q is not a certificate pin: want SHA256: and the certificate's 64 hex digits (openssl x509 -noout -fingerprint -sha256)", s)
	}
	return CertPin("SHA256:" + strings.ToUpper(t)), nil
}

// PinOf returns the pin of a DER certificate.
func PinOf(der []byte) CertPin {
	sum := sha256.Sum256(der)
	return CertPin("SHA256:" + strings.ToUpper(hex.EncodeToString(sum[:])))
}

// TLSTrust is how a transport trusts a server's certificate: by the system's roots, by a
// PEM bundle of authorities, or by the pinned fingerprint of the certificate itself.
type TLSTrust struct {
	CAPEM []byte  // authorities to trust instead of the system's; nil for the system's
	Pin   CertPin // the certificate's own fingerprint; then only that certificate is trusted
	// AcceptUnknown trusts whatever certificate is presented when nothing is pinned and it is
	// not trusted otherwise: trust on first use, for an explicit support action.
	AcceptUnknown bool
}

// Presented remembers the certificate a server presented, for messages and pinning.
type Presented struct {
	mu   sync.Mutex
	leaf *x509.Certificate
}

// Leaf returns the certificate last presented, or nil.
func (p *Presented) Leaf() *x509.Certificate {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.leaf
}

// Describe says who a certificate is for and until when, for messages.
func Describe(c *x509.Certificate) string {
	if c == nil {
		return "no certificate"
	}
	names := strings.Join(c.DNSNames, ", ")
	if names == "" {
		names = c.Subject.CommonName
	}
	return fmt.Sprintf("%s (for %s, issued by %s, valid %s to %s)", PinOf(c.Raw), names, c.Issuer.CommonName,
		c.NotBefore.UTC().Format("2006-01-02"), c.NotAfter.UTC().Format("2006-01-02"))
}

// Config returns a TLS client configuration for serverName: TLS 1.2 or newer, verifying the
// server by t, and remembering the presented certificate in p.
func (t TLSTrust) Config(serverName string, p *Presented) (*tls.Config, error) {
	cfg := &tls.Config{ServerName: serverName, MinVersion: tls.VersionTLS12,
		ClientSessionCache: tls.NewLRUClientSessionCache(16)}
	var roots *x509.CertPool
	if len(t.CAPEM) > 0 {
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(t.CAPEM) {
			return nil, errors.New("the CA file holds no PEM certificate")
		}
	}
	// Verification is done here, so that the presented certificate is known whatever happens,
	// and pins and first use are possible; it is never skipped.
	cfg.InsecureSkipVerify = true
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("the server presented no certificate")
		}
		leaf := cs.PeerCertificates[0]
		if p != nil {
			p.mu.Lock()
			p.leaf = leaf
			p.mu.Unlock()
		}
		if t.Pin != "" {
			if PinOf(leaf.Raw) != t.Pin {
				return &CertError{Leaf: leaf, Reason: "it is not the pinned certificate " + string(t.Pin)}
			}
			return nil
		}
		inter := x509.NewCertPool()
		for _, c := range cs.PeerCertificates[1:] {
			inter.AddCert(c)
		}
		_, err := leaf.Verify(x509.VerifyOptions{DNSName: serverName, Roots: roots, Intermediates: inter})
		if err != nil && !t.AcceptUnknown {
			return &CertError{Leaf: leaf, Reason: err.Error()}
		}
		return nil
	}
	return cfg, nil
}

// CertError is a certificate refused, with what was presented.
type CertError struct {
	Leaf   *x509.Certificate
	Reason string
}

func (e *CertError) Error() string {
	return fmt.Sprintf("the server's certificate %s is not trusted: %s", Describe(e.Leaf), e.Reason)
}
