package sftp_test

import (
	"encoding/json"
	"testing"

	"github.com/eventexport/eventexport/delivery"
	"github.com/eventexport/eventexport/delivery/sftp"
)

func input(t *testing.T, kv map[string]any) delivery.Input {
	t.Helper()
	in := delivery.Input{}
	for k, v := range kv {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		in[k] = b
	}
	return in
}

// A change keeps what it does not name; a URL naming another server drops the former
// server's pin, since it cannot hold there; a change that would leave no way to log in is refused.
func TestConfigureChange(t *testing.T) {
	tr := sftp.Transport{}
	const pin = "SHA256:jFYHHPmTjzBfKoHrhlzHqvyYmQwJpdxNXF6cFrpa5xI"
	base, err := tr.Configure(nil, input(t, map[string]any{"url": "sftp://acme:pw@one.example:2222/in", "host_key": pin}))
	if err != nil {
		t.Fatal(err)
	}
	base.Has, base.Secrets = map[string]bool{"password": true}, nil // as stored

	settings := func(tg delivery.Target) sftp.Settings {
		s, err := sftp.ParseSettings(tg)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	moved, err := tr.Configure(&base, input(t, map[string]any{"url": "sftp://acme@one.example:2222/elsewhere"}))
	if err != nil {
		t.Fatal(err)
	}
	if s := settings(moved); s.HostKey != pin || s.BaseDir != "/elsewhere" || !moved.HasSecret("password") {
		t.Errorf("another directory on the same server: %+v, password kept %v; want the pin and the password kept", s, moved.HasSecret("password"))
	}
	other, err := tr.Configure(&base, input(t, map[string]any{"url": "sftp://acme@two.example/in"}))
	if err != nil {
		t.Fatal(err)
	}
	if s := settings(other); s.HostKey != "" || s.Host != "two.example" || s.Port != 22 {
		t.Errorf("another server: %+v; want its pin dropped, host two.example, port 22", s)
	}
	if !tr.Pinned(base) || tr.Pinned(other) {
		t.Error("Pinned does not follow the host key")
	}
	repinned, err := tr.Configure(&base, input(t, map[string]any{"url": "sftp://acme@two.example/in", "host_key": pin}))
	if err != nil || settings(repinned).HostKey != pin {
		t.Errorf("another server with its pin: %+v, %v", settings(repinned), err)
	}
	if _, err := tr.Configure(&base, input(t, map[string]any{"password": ""})); err == nil {
		t.Error("removing the only password was accepted: nothing could log in")
	}
	for name, in := range map[string]map[string]any{
		"port out of range": {"port": 70000},
		"empty host":        {"host": " "},
		"bad pin":           {"host_key": "SHA256:short"},
		"unknown field":     {"region": "eu"},
		"wrong type":        {"port": "22"},
		"passphrase alone":  {"private_key_passphrase": "x"},
	} {
		if _, err := tr.Configure(&base, input(t, in)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
