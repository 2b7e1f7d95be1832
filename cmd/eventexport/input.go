package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/eventexport/eventexport/delivery"
)

// fieldKind says how a flag's text becomes its field's JSON value.
type fieldKind int

const (
	textField   fieldKind = iota // a JSON string
	numberField                  // a JSON number
	boolField                    // a JSON boolean
	listField                    // comma-separated: a JSON array of strings
	secretFile                   // a file holding a password or passphrase: its text, final newline dropped
	keyFile                      // a file holding a key: its text as it is
	linesField                   // repeatable: a JSON string of the values given, one per line
)

// flagField is a command-line flag that sets a field of a support request.
type flagField struct {
	Flag, Field string
	Kind        fieldKind
	Usage       string
}

// The flags of a target's server, credentials and pin. They are the command line's only
// knowledge of a transport's fields: each sets the field of the same meaning in the request.
var (
	urlFlag        = flagField{"url", "url", textField, "sftp://user:password@host:port/path (user and password percent-encoded), or https://host:port/path of a web service"}
	hostFlag       = flagField{"host", "host", textField, "server host name or address"}
	portFlag       = flagField{"port", "port", numberField, "server port (default 22)"}
	userFlag       = flagField{"user", "user", textField, "login user"}
	baseDirFlag    = flagField{"base-dir", "base_dir", textField, "remote base `DIR`; destinations add their --path under it"}
	passwordFlag   = flagField{"password-file", "password", secretFile, "`FILE` holding the password, instead of putting it in --url"}
	privateKeyFlag = flagField{"private-key", "private_key", keyFile, "`FILE` holding the SSH private key (OpenSSH or PEM)"}
	passphraseFlag = flagField{"key-passphrase-file", "private_key_passphrase", secretFile, "`FILE` holding the private key's passphrase"}
	hostKeyFlag    = flagField{"host-key", "host_key", linesField, "pinned host key `PIN`: a SHA256:… fingerprint or a known_hosts line; repeat it to pin several keys (\"\" unpins)"}
	addHostKeyFlag = flagField{"add-host-key", "add_host_key", linesField, "with update: pin another host key `PIN` besides those pinned (a customer rotating keys); repeatable"}
	dropHostKey    = flagField{"drop-host-key", "drop_host_key", textField, "with update: unpin the host key `PIN` (the line or its SHA256 fingerprint)"}
	legacyFlag     = flagField{"legacy-crypto", "legacy_crypto", boolField, "allow SHA-1-era SSH algorithms for an old server"}
	nameFlag       = flagField{"name", "name", textField, "a name for people"}
	headerFlag     = flagField{"header", "header", linesField, "https: a request header `'Name: value'` (a token; kept secret, never shown); repeatable; \"\" removes them all"}
	signingFlag    = flagField{"signing-secret-file", "signing_secret", secretFile, "https: `FILE` holding the secret that signs every request (Eventexport-Signature); \"\" for none"}
	tlsCAFlag      = flagField{"tls-ca", "tls_ca", keyFile, "`FILE` of PEM certificates: the authorities trusted for the server's TLS certificate, instead of the system's; \"\" for the system's"}
	implicitTLS    = flagField{"implicit-tls", "implicit_tls", boolField, "ftps: TLS from the first byte (port 990 by default) instead of AUTH TLS on port 21"}
	tlsPinFlag     = flagField{"tls-pin", "tls_pin", textField, "pinned TLS certificate `PIN`: SHA256: and its fingerprint (openssl x509 -noout -fingerprint -sha256); \"\" unpins"}
)

// destinationFlags are the flags of destinations add and update.
var destinationFlags = []flagField{
	{"company", "company_id", textField, "the company `UUID` whose events are delivered"},
	urlFlag,
	{"target", "target_id", textField, "a shared target's `ID`, instead of --url"},
	{"path", "path", textField, "with --target: the `DIR` under the target's base directory"},
	{"format", "format", textField, "file format: json, csv, jsonl (JSON Lines) or json-flat (flat objects keyed by the CSV columns)"},
	{"events", "event_types", listField, "event types, comma-separated (default courseComplete)"},
	passwordFlag, privateKeyFlag, passphraseFlag, hostKeyFlag, addHostKeyFlag, dropHostKey,
	headerFlag, signingFlag, tlsCAFlag, tlsPinFlag, implicitTLS,
	nameFlag,
	{"start-date", "start_date", textField, "first day to deliver, YYYY-MM-DD (default: today; its file comes tonight)"},
	legacyFlag,
	{"alert-url", "alert_url", textField, "webhook `URL` alerted when this destination's delivery fails for good"},
	{"compress", "compress", textField, "compression of the files: none or gzip (.gz appended)"},
	{"encrypt-to", "encrypt_to", keyFile, "`FILE` holding the customer's OpenPGP public key: files are encrypted to it (.pgp appended); \"\" for none"},
	{"max-file-size", "max_file_size", textField, "no file larger than `SIZE` as stored (15MB = 15,000,000 bytes; kB, MB, GB, KiB, MiB, GiB; at least 64KiB): a run delivers parts; 0 for no limit"},
	{"max-rows", "max_rows", numberField, "no file with more than `N` events: a run delivers parts; 0 for no limit"},
	{"manifest", "manifest", boolField, "after a run's files, upload <name>.manifest.json listing them with their sha256: the set is complete"},
	{"name-template", "name_template", textField, "file names from `TEMPLATE`: {prefix} {type} {day} {start_unix} {created} {rand} {destination} {company} {part} {ext}; \"\" for the default"},
	{"every", "every", textField, "window of each file: hour, 2h, 3h, 4h, 6h, 8h, 12h, day or week (default day); a change takes effect when the window in progress ends"},
	{"timezone", "timezone", textField, "IANA time `ZONE` of the windows, such as Australia/Sydney (default EVENTEXPORT_TIMEZONE)"},
	{"send-after", "send_after", textField, "a window's file is due this `DURATION` after it ends (default: day and week windows at 2am, shorter ones after 15m); \"default\" for the default"},
	{"late-events", "late_events", textField, "events arriving after their window was delivered: ignore, report (an alert; the default) or resend (the window again)"},
}

// targetFlags are the flags of targets add and update.
var targetFlags = []flagField{nameFlag, urlFlag, hostFlag, portFlag, userFlag, baseDirFlag, passwordFlag,
	privateKeyFlag, passphraseFlag, hostKeyFlag, addHostKeyFlag, dropHostKey, legacyFlag,
	headerFlag, signingFlag, tlsCAFlag, tlsPinFlag, implicitTLS}

// otherFlagNames are the flags of fields outside those lists.
var otherFlagNames = map[string]string{"from": "--from", "to": "--to", "destination": "--destination",
	"status": "--status", "accept_host_key": "--accept-host-key", "kind": "--url"}

// flagOf names the command-line flag of a request field.
func flagOf(field string) string {
	for _, list := range [][]flagField{destinationFlags, targetFlags} {
		for _, f := range list {
			if f.Field == field {
				return "--" + f.Flag
			}
		}
	}
	if name, ok := otherFlagNames[field]; ok {
		return name
	}
	return "--" + strings.ReplaceAll(field, "_", "-")
}

// fieldValue is a flag.Value keeping the text given.
type fieldValue struct {
	kind fieldKind
	text string
	set  bool
}

func (v *fieldValue) String() string { return v.text }
func (v *fieldValue) Set(s string) error {
	if v.kind == numberField {
		if _, err := strconv.Atoi(s); err != nil {
			return fmt.Errorf("%q is not a whole number", s)
		}
	}
	if v.kind == boolField {
		if _, err := strconv.ParseBool(s); err != nil {
			return fmt.Errorf("%q is not true or false", s)
		}
	}
	if v.kind == linesField && v.set && s != "" {
		if v.text != "" {
			s = v.text + "\n" + s
		}
	}
	v.text, v.set = s, true
	return nil
}
func (v *fieldValue) IsBoolFlag() bool { return v.kind == boolField }

// bindFields defines the flags of fields on fs. The function returned, called after parsing,
// makes the request of the flags given: a flag not given is a field absent.
func bindFields(fs *flag.FlagSet, fields []flagField) func() (delivery.Input, error) {
	values := make(map[string]*fieldValue, len(fields))
	for _, f := range fields {
		v := &fieldValue{kind: f.Kind}
		values[f.Flag] = v
		fs.Var(v, f.Flag, f.Usage)
	}
	return func() (delivery.Input, error) {
		in := delivery.Input{}
		var err error
		fs.Visit(func(fl *flag.Flag) {
			v, ok := values[fl.Name]
			if !ok || err != nil {
				return
			}
			for _, f := range fields {
				if f.Flag == fl.Name {
					in[f.Field], err = v.json("--" + f.Flag)
				}
			}
		})
		return in, err
	}
}

// json is the field's JSON value; a file flag reads its file now.
func (v *fieldValue) json(flagName string) (json.RawMessage, error) {
	var val any
	switch v.kind {
	case textField, linesField:
		val = v.text
	case numberField:
		n, _ := strconv.Atoi(v.text)
		val = n
	case boolField:
		b, _ := strconv.ParseBool(v.text)
		val = b
	case listField:
		list := []string{}
		for _, s := range strings.Split(v.text, ",") {
			if s = strings.TrimSpace(s); s != "" {
				list = append(list, s)
			}
		}
		val = list
	case secretFile, keyFile:
		if v.text == "" {
			val = "" // an empty name removes the secret
			break
		}
		b, err := os.ReadFile(v.text)
		if err != nil {
			return nil, badUsage(fmt.Errorf("%s: %w", flagName, err))
		}
		s := string(b)
		if v.kind == secretFile {
			s = strings.TrimRight(s, "\r\n")
		}
		val = s
	}
	return json.Marshal(val)
}
