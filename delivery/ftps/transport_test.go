package ftps_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/eventexport/eventexport/delivery"
	"github.com/eventexport/eventexport/delivery/ftps"
)

func input(kv ...any) delivery.Input {
	in := delivery.Input{}
	for i := 0; i < len(kv); i += 2 {
		b, _ := json.Marshal(kv[i+1])
		in[kv[i].(string)] = b
	}
	return in
}

func TestConfigure(t *testing.T) {
	tr := ftps.Transport{}
	tg, err := tr.Configure(nil, input("url", "ftps://acme:p%40ss@ftp.example.com/up/in"))
	if err != nil {
		t.Fatal(err)
	}
	s, _ := ftps.ParseSettings(tg)
	if s.Host != "ftp.example.com" || s.Port != 21 || s.User != "acme" || s.BaseDir != "/up/in" || string(tg.Secrets["password"]) != "p@ss" {
		t.Errorf("settings %+v secrets %q", s, tg.Secrets)
	}
	if u := tr.URL(tg, "x"); u != "ftps://acme:xxxxx@ftp.example.com/up/in/x" {
		t.Errorf("URL %q", u)
	}
	tg, err = tr.Configure(nil, input("url", "ftps://acme:p@h/", "implicit_tls", true))
	if s, _ = ftps.ParseSettings(tg); err != nil || s.Port != 990 {
		t.Errorf("implicit: port %d, %v", s.Port, err)
	}
	tg.Has = map[string]bool{"password": true} // as the store gives it
	tg, err = tr.Configure(&tg, input("tls_pin", "sha256 Fingerprint="+strings.Repeat("ab:", 31)+"ab"))
	if s, _ = ftps.ParseSettings(tg); err != nil || s.TLSPin != "SHA256:"+strings.Repeat("AB", 32) || !tr.Pinned(tg) {
		t.Errorf("pin %q, %v", s.TLSPin, err)
	}
	tg.Has = map[string]bool{"password": true}
	tg, err = tr.Configure(&tg, input("host", "other"))
	if err != nil || tr.Pinned(tg) {
		t.Errorf("another host keeps the pin: %v", err)
	}

	for _, c := range []struct {
		in    delivery.Input
		field string
		want  string
	}{
		{input("url", "ftp://a:b@h/"), "url", "in the clear"},
		{input("url", "ftps://h/"), "url", "missing user"},
		{input("url", "ftps://a@h/"), "password", "required"},
		{input("url", "ftps://a:b@h:99999/"), "url", "invalid port"},
		{input("url", "ftps://a:b@h/", "tls_pin", "nope"), "tls_pin", "not a certificate pin"},
		{input("url", "ftps://a:b@h/", "tls_ca", "not pem"), "tls_ca", "no PEM"},
		{input("url", "ftps://a:b@h/", "legacy_crypto", true), "legacy_crypto", "unknown field"},
	} {
		_, err := tr.Configure(nil, c.in)
		var fe *delivery.FieldError
		if !errors.As(err, &fe) || fe.Field != c.field || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %s: …%s…", c.in, err, c.field, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "b@") {
			t.Errorf("error shows the password: %v", err)
		}
	}
}
