package delivery_test

import (
	"crypto/tls"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/eventexport/eventexport/delivery"
)

func TestParseCertPin(t *testing.T) {
	const hex = "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89"
	want := delivery.CertPin("SHA256:" + strings.ReplaceAll(hex, ":", ""))
	for _, in := range []string{"SHA256:" + hex, "sha256 Fingerprint=" + hex, strings.ToLower(strings.ReplaceAll(hex, ":", ""))} {
		if got, err := delivery.ParseCertPin(in); err != nil || got != want {
			t.Errorf("ParseCertPin(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "SHA256:abc", "SHA256:" + strings.Repeat("zz", 32)} {
		if _, err := delivery.ParseCertPin(bad); err == nil {
			t.Errorf("ParseCertPin(%q) accepted", bad)
		}
	}
}

// A server is trusted by the authorities given, or by its pinned certificate; otherwise it is
// refused with what it presented, unless first use is accepted explicitly.
func TestTLSTrust(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	leaf := srv.Certificate()
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw})
	addr := strings.TrimPrefix(srv.URL, "https://")
	u, _ := url.Parse(srv.URL)
	host := u.Hostname()
	dial := func(trust delivery.TLSTrust, name string) (*delivery.Presented, error) {
		p := &delivery.Presented{}
		cfg, err := trust.Config(name, p)
		if err != nil {
			return p, err
		}
		c, err := tls.Dial("tcp", addr, cfg)
		if err == nil {
			c.Close()
		}
		return p, err
	}
	var ce *delivery.CertError
	if _, err := dial(delivery.TLSTrust{}, "example.com"); !errors.As(err, &ce) || ce.Leaf == nil {
		t.Errorf("an unknown authority: %v; want a CertError with the presented certificate", err)
	}
	if _, err := dial(delivery.TLSTrust{CAPEM: caPEM}, "example.com"); err != nil {
		t.Errorf("trusted by the CA file: %v", err)
	}
	if _, err := dial(delivery.TLSTrust{CAPEM: caPEM}, "wrong.example.org"); !errors.As(err, &ce) {
		t.Errorf("another name than the certificate's: %v; want refused", err)
	}
	if _, err := dial(delivery.TLSTrust{Pin: delivery.PinOf(leaf.Raw)}, host); err != nil {
		t.Errorf("pinned: %v", err)
	}
	if _, err := dial(delivery.TLSTrust{Pin: delivery.PinOf([]byte("another"))}, host); !errors.As(err, &ce) {
		t.Errorf("another pin: %v; want refused", err)
	}
	p, err := dial(delivery.TLSTrust{AcceptUnknown: true}, "example.com")
	if err != nil || p.Leaf() == nil || delivery.PinOf(p.Leaf().Raw) != delivery.PinOf(leaf.Raw) {
		t.Errorf("first use accepted: %v; want the presented certificate remembered", err)
	}
}
