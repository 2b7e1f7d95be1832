//go:build unix

package sftpserver

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// FTPSOptions configure a ProFTPD FTPS server started by StartProFTPDTLS.
type FTPSOptions struct {
	// User is the login name; "acme" when empty. Password is required.
	User     string
	Password string
	// Implicit makes the server speak TLS from the first byte (TLSOptions UseImplicitSSL),
	// as on port 990; otherwise clients ask for it with AUTH TLS.
	Implicit bool
	// Protocols is the TLSProtocol line's value; "TLSv1.2 TLSv1.3" when empty.
	Protocols string
	// NoOverwrite sets AllowOverwrite off: storing or renaming onto an existing file is refused.
	NoOverwrite bool
	// ExtraConfig lines are appended to the generated configuration.
	ExtraConfig []string
	// Log, when not nil, receives what proftpd writes to its standard output and error.
	Log io.Writer
}

// FTPS is ProFTPD with mod_tls (Debian: proftpd-core and proftpd-mod-crypto) in the foreground
// on a free loopback port, with its own configuration: FTP over TLS only (TLSRequired on), TLS
// session reuse required on data connections, session tickets on, passive data connections on
// loopback, one virtual user chrooted to Root. Its certificate is issued for 127.0.0.1 and
// localhost by a CA of its own. It must be started as root; sessions run as the user nobody.
type FTPS struct {
	Port int
	User string
	Root string // the user's chroot: remote "/x" is Root/x
	// CAPEM is the authority that issued the server's certificate; CertDER the certificate.
	CAPEM   []byte
	CertDER []byte

	proc proftpdProc
}

// FindProFTPDTLS returns the path of proftpd, after checking that mod_tls is installed.
func FindProFTPDTLS() (string, error) { return findProFTPDWith("mod_tls") }

// StartProFTPDTLS starts proftpd -n as an FTPS server and waits until it accepts connections.
// Close stops it.
func StartProFTPDTLS(opts FTPSOptions) (_ *FTPS, err error) {
	bin, err := FindProFTPDTLS()
	if err != nil {
		return nil, err
	}
	site, err := newProftpdSite(proftpdSiteOptions{
		module: "mod_tls.c", what: "an FTPS-only server on loopback", dirPrefix: "eventexport-proftpd-tls-",
		moduleLog: "tls.log", user: opts.User, password: opts.Password, noOverwrite: opts.NoOverwrite,
		noPassword: errors.New("ProFTPD FTPS: a password is required"),
	})
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			site.remove()
		}
	}()
	s := &FTPS{proc: site.newProc(), User: site.user, Root: site.root}
	base := site.base

	var keyPEM, certPEM []byte
	s.CAPEM, s.CertDER, certPEM, keyPEM, err = NewTLSCertificate("127.0.0.1", "localhost")
	if err != nil {
		return nil, err
	}
	certFile, keyFile := filepath.Join(base, "cert.pem"), filepath.Join(base, "key.pem")
	if err := os.WriteFile(certFile, certPEM, 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		return nil, err
	}

	if s.Port, err = site.choosePort(); err != nil {
		return nil, err
	}
	protocols := opts.Protocols
	if protocols == "" {
		protocols = "TLSv1.2 TLSv1.3"
	}
	var tlsOptions string
	if opts.Implicit {
		tlsOptions = "TLSOptions UseImplicitSSL"
	}
	config := site.config(fmt.Sprintf(`TLSEngine on
TLSLog %s
TLSRequired on
TLSProtocol %s
TLSSessionTickets on
TLSECCertificateFile %s
TLSECCertificateKeyFile %s
TLSVerifyClient off
%s
%s
`, filepath.Join(base, "tls.log"), protocols, certFile, keyFile,
		tlsOptions, strings.Join(opts.ExtraConfig, "\n")))
	if err := s.proc.run(bin, config, opts.Log, s.Port); err != nil {
		return nil, err
	}
	return s, nil
}

// Addr is the host:port proftpd listens on.
func (s *FTPS) Addr() string { return s.proc.addr() }

// PID is proftpd's process id, which is also its process group's.
func (s *FTPS) PID() int { return s.proc.cmd.Process.Pid }

// Logs returns what proftpd wrote to its standard output and error, and its logs.
func (s *FTPS) Logs() string { return s.proc.logText() }

// Close stops proftpd and its session processes and removes its directory.
func (s *FTPS) Close() { s.proc.stop() }

// NewTLSCertificate returns a new CA (PEM) and a server certificate it issued for hosts (IP
// addresses or DNS names), valid for a day: as DER and PEM, with its ECDSA P-256 key (PKCS #8
// PEM).
func NewTLSCertificate(hosts ...string) (caPEM, certDER, certPEM, keyPEM []byte, err error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "eventexport test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: hosts[0]},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	certDER, err = x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certDER})
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	return caPEM, certDER, certPEM, keyPEM, nil
}
