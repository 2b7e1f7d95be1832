package delivery_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/eventexport/eventexport/delivery"
	_ "github.com/eventexport/eventexport/delivery/sftp"
)

func TestForURL(t *testing.T) {
	tr, err := delivery.ForURL("SFTP://u:p@host/dir")
	if err != nil || tr.Kind() != "sftp" {
		t.Fatalf("ForURL(sftp://…) = %v, %v; want the sftp transport", tr, err)
	}
	for _, tc := range []struct{ url, want string }{
		{"ftp://user:hunter2@host/x", `unsupported scheme "ftp": want sftp://…`},
		{"user:hunter2@host/x", "missing scheme"},
		{"  ", "the url is empty"},
	} {
		_, err := delivery.ForURL(tc.url)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ForURL(%q) error = %v, want one with %q", tc.url, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("ForURL(%q) error shows the password: %v", tc.url, err)
		}
	}
	if _, err := delivery.Lookup("carrier-pigeon"); !errors.Is(err, delivery.ErrUnknownKind) || !strings.Contains(err.Error(), "sftp") {
		t.Errorf("Lookup of an unknown kind: %v; want ErrUnknownKind listing the kinds", err)
	}
}

func TestInputDecodeAndCheckKnown(t *testing.T) {
	in := delivery.Input{"port": json.RawMessage(`"22"`), "user": json.RawMessage(`"acme"`), "zzz": json.RawMessage(`1`)}
	var port int
	err := in.Decode("port", &port)
	var fe *delivery.FieldError
	if !errors.As(err, &fe) || fe.Field != "port" || !strings.Contains(err.Error(), "want a JSON number, got string") {
		t.Errorf("Decode of a string into a number: %v; want a field error on port saying so", err)
	}
	var user string
	if err := in.Decode("user", &user); err != nil || user != "acme" {
		t.Errorf("Decode(user) = %q, %v", user, err)
	}
	var absent string
	if err := in.Decode("absent", &absent); err != nil || absent != "" {
		t.Errorf("Decode of an absent field = %q, %v; want it left alone", absent, err)
	}
	err = in.CheckKnown([]string{"port"}, []string{"user"})
	if !errors.As(err, &fe) || fe.Field != "zzz" || !errors.Is(err, delivery.ErrUnknownField) {
		t.Errorf("CheckKnown: %v; want zzz named as an unknown field", err)
	}
	if err := in.Only([]string{"user"}).CheckKnown([]string{"user"}); err != nil {
		t.Errorf("Only(user).CheckKnown(user) = %v", err)
	}
}

// Every registered transport describes a target without its secrets, and round-trips what
// Configure made through Describe and URL.
func TestTransportsNeverShowSecrets(t *testing.T) {
	for _, kind := range delivery.Kinds() {
		tr, _ := delivery.Lookup(kind)
		target, err := tr.Configure(nil, delivery.Input{"url": json.RawMessage(`"` + kind + `://acme:s3cr3t-pw@host.example/in"`)})
		if err != nil {
			t.Fatalf("%s: Configure: %v", kind, err)
		}
		shown, _ := json.Marshal(tr.Describe(target))
		if strings.Contains(string(shown), "s3cr3t-pw") || strings.Contains(tr.URL(target, ""), "s3cr3t-pw") {
			t.Errorf("%s: a secret is shown: %s %s", kind, shown, tr.URL(target, ""))
		}
		if !target.HasSecret("password") {
			t.Errorf("%s: the URL's password is not kept as a secret", kind)
		}
	}
}
