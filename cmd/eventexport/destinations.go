package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/eventexport/eventexport/delivery/sftp"
	"github.com/eventexport/eventexport/events"
	"github.com/eventexport/eventexport/export"
	"github.com/eventexport/eventexport/export/store"
)

const destinationsUsage = `Usage:
  eventexport destinations add --company UUID (--url URL | --target ID [--path DIR]) --format json|csv
                               [--events courseComplete] [--password-file FILE]
                               [--private-key FILE] [--key-passphrase-file FILE] [--host-key PIN]
                               [--name TEXT] [--start-date YYYY-MM-DD] [--legacy-crypto]
  eventexport destinations list [--json]
  eventexport destinations show ID [--json]
  eventexport destinations disable ID
  eventexport destinations enable ID
`

func cmdDestinations(ctx context.Context, args []string, stdout, stderr io.Writer, getenv env) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, destinationsUsage)
		return &exitError{code: exitBadUsage}
	}
	sub, rest := args[0], args[1:]
	switch sub {
	case "add":
		return destinationsAdd(ctx, rest, stdout, stderr, getenv)
	case "list":
		return destinationsList(ctx, rest, stdout, stderr, getenv)
	case "show":
		return destinationsShow(ctx, rest, stdout, stderr, getenv)
	case "disable", "enable":
		return destinationsSetEnabled(ctx, sub, rest, stdout, stderr, getenv)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, destinationsUsage)
		return nil
	}
	fmt.Fprint(stderr, destinationsUsage)
	return badUsagef("unknown subcommand %q", sub)
}

func destinationsAdd(ctx context.Context, args []string, stdout, stderr io.Writer, getenv env) error {
	fs := newFlagSet("destinations add", stderr)
	var spec destinationSpec
	fs.StringVar(&spec.CompanyID, "company", "", "the company `UUID` whose events are delivered")
	fs.StringVar(&spec.URL, "url", "", "sftp://user:password@host:port/path (user and password percent-encoded)")
	fs.StringVar(&spec.TargetID, "target", "", "a shared target's `ID`, instead of --url")
	fs.StringVar(&spec.Path, "path", "", "with --target: the `DIR` under the target's base directory")
	fs.StringVar(&spec.Format, "format", "", "file format: json or csv")
	eventTypes := fs.String("events", events.CourseComplete.Name, "event types, comma-separated")
	keyFile := fs.String("private-key", "", "`FILE` holding the SSH private key (OpenSSH or PEM)")
	passFile := fs.String("key-passphrase-file", "", "`FILE` holding the private key's passphrase")
	passwordFile := fs.String("password-file", "", "`FILE` holding the password, instead of putting it in --url")
	fs.StringVar(&spec.HostKey, "host-key", "", "pinned host key `PIN`: a SHA256:… fingerprint or a known_hosts line")
	fs.StringVar(&spec.Name, "name", "", "a name for people")
	fs.StringVar(&spec.StartDate, "start-date", "", "first day to deliver, YYYY-MM-DD (default: today; its file comes tonight)")
	fs.BoolVar(&spec.LegacyCrypto, "legacy-crypto", false, "allow SHA-1-era SSH algorithms for an old server")
	fs.StringVar(&spec.AlertURL, "alert-url", "", "webhook `URL` alerted when this destination's delivery fails for good")
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	c, err := loadConfig(getenv)
	if err != nil {
		return badUsage(err)
	}
	spec.EventTypes = strings.Split(*eventTypes, ",")
	if spec.PrivateKey, spec.Passphrase, spec.Password, err = readSecretFiles(*keyFile, *passFile, *passwordFile); err != nil {
		return err
	}

	// Validate everything before anything is stored.
	nd, err := spec.build(c.Location, time.Now())
	if err != nil {
		return asFlagError(err)
	}
	if err := needSealer(c, nd.Target.HasSecrets()); err != nil {
		return err
	}
	st, closeDB, err := openStore(ctx, c)
	if err != nil {
		return err
	}
	defer closeDB()
	d, err := st.AddDestination(ctx, nd)
	if errors.Is(err, store.ErrNotFound) {
		return badUsagef("--target: no shared target with id %q", spec.TargetID)
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, d.ID)
	if d.Target.HostKey == "" {
		fmt.Fprintf(stderr, "note: no host key is pinned for %s; deliveries are refused until one is (eventexport test-send %s --accept-host-key)\n", redactedURL(d), d.ID)
	}
	return nil
}

// readSecretFiles reads a private key, its passphrase and a password from the files named on
// the command line; an empty name reads nothing.
func readSecretFiles(keyFile, passphraseFile, passwordFile string) (key, passphrase, password string, err error) {
	read := func(flag, name string, trim bool) (string, error) {
		if name == "" {
			return "", nil
		}
		b, err := os.ReadFile(name)
		if err != nil {
			return "", badUsage(fmt.Errorf("%s: %w", flag, err))
		}
		if trim {
			return strings.TrimRight(string(b), "\r\n"), nil
		}
		return string(b), nil
	}
	if key, err = read("--private-key", keyFile, false); err != nil {
		return
	}
	if passphrase, err = read("--key-passphrase-file", passphraseFile, true); err != nil {
		return
	}
	password, err = read("--password-file", passwordFile, true)
	return
}

// needSealer refuses, as bad configuration, to store secrets without a usable key.
func needSealer(c config, secrets bool) error {
	if secrets && c.Sealer == nil {
		return badUsage(c.SealerErr)
	}
	return nil
}

// redactedURL shows where a destination delivers, without its password.
func redactedURL(d store.Destination) string {
	c := sftp.Config{Host: d.Target.Host, Port: d.Target.Port, User: d.Target.User, Dir: d.Dir()}
	if d.Target.HasPassword {
		c.Password = "redacted" // Redacted masks it; the real one is never read here
	}
	return c.Redacted()
}

// destinationView is what list and show print: never a secret.
type destinationView struct {
	ID            string    `json:"id"`
	CompanyID     string    `json:"company_id"`
	Name          string    `json:"name"`
	URL           string    `json:"url"`
	Host          string    `json:"host"`
	Port          int       `json:"port"`
	User          string    `json:"user"`
	Path          string    `json:"path"`
	Format        string    `json:"format"`
	EventTypes    []string  `json:"event_types"`
	Enabled       bool      `json:"enabled"`
	StartDate     string    `json:"start_date"`
	HostKey       string    `json:"host_key"`
	HasPassword   bool      `json:"has_password"`
	HasPrivateKey bool      `json:"has_private_key"`
	LegacyCrypto  bool      `json:"legacy_crypto"`
	TargetID      string    `json:"target_id"`
	AlertURL      string    `json:"alert_url,omitempty"`
	CreatedAt     time.Time `json:"created_at"`
}

func viewDestination(d store.Destination) destinationView {
	v := destinationView{
		ID: d.ID, CompanyID: d.CompanyID, Name: d.Name, URL: redactedURL(d), Host: d.Target.Host,
		Port: d.Target.Port, User: d.Target.User, Path: d.Dir(), Format: string(d.Format),
		EventTypes: d.EventTypes, Enabled: d.Enabled, StartDate: d.StartDate.String(),
		HostKey: d.Target.HostKey, HasPassword: d.Target.HasPassword, HasPrivateKey: d.Target.HasKey,
		LegacyCrypto: d.Target.LegacyCrypto, TargetID: d.Target.ID, CreatedAt: d.CreatedAt,
	}
	if d.AlertURL != "" {
		v.AlertURL = export.RedactWebhook(d.AlertURL)
	}
	return v
}

func destinationsList(ctx context.Context, args []string, stdout, stderr io.Writer, getenv env) error {
	fs := newFlagSet("destinations list", stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	_, st, closeDB, err := openStoreFromEnv(ctx, getenv)
	if err != nil {
		return err
	}
	defer closeDB()
	ds, err := st.Destinations(ctx)
	if err != nil {
		return err
	}
	views := make([]destinationView, 0, len(ds))
	for _, d := range ds {
		views = append(views, viewDestination(d))
	}
	if *asJSON {
		return writeJSON(stdout, views)
	}
	rows := make([][]string, 0, len(views))
	for _, v := range views {
		rows = append(rows, []string{v.ID, v.CompanyID, v.Name, v.Format, strings.Join(v.EventTypes, ","),
			fmt.Sprint(v.Enabled), v.URL})
	}
	return writeTable(stdout, []string{"ID", "COMPANY", "NAME", "FORMAT", "EVENTS", "ENABLED", "URL"}, rows)
}

func destinationsShow(ctx context.Context, args []string, stdout, stderr io.Writer, getenv env) error {
	fs := newFlagSet("destinations show", stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseFlags(fs, args, 1); err != nil {
		return err
	}
	_, st, closeDB, err := openStoreFromEnv(ctx, getenv)
	if err != nil {
		return err
	}
	defer closeDB()
	d, err := loadDestination(ctx, st, fs.Arg(0))
	if err != nil {
		return err
	}
	v := viewDestination(d)
	if *asJSON {
		return writeJSON(stdout, v)
	}
	return writeFields(stdout, [][2]string{
		{"id", v.ID}, {"name", v.Name}, {"company", v.CompanyID}, {"url", v.URL},
		{"format", v.Format}, {"events", strings.Join(v.EventTypes, ", ")},
		{"enabled", fmt.Sprint(v.Enabled)}, {"start date", v.StartDate}, {"host key", cmp.Or(v.HostKey, "(none pinned)")},
		{"auth", authSummary(v.HasPassword, v.HasPrivateKey)}, {"legacy crypto", fmt.Sprint(v.LegacyCrypto)},
		{"created", v.CreatedAt.UTC().Format(time.RFC3339)},
	})
}

func destinationsSetEnabled(ctx context.Context, sub string, args []string, stdout, stderr io.Writer, getenv env) error {
	fs := newFlagSet("destinations "+sub, stderr)
	if err := parseFlags(fs, args, 1); err != nil {
		return err
	}
	_, st, closeDB, err := openStoreFromEnv(ctx, getenv)
	if err != nil {
		return err
	}
	defer closeDB()
	id := fs.Arg(0)
	if err := st.SetDestinationEnabled(ctx, id, sub == "enable"); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return badUsagef("no destination with id %q", id)
		}
		return err
	}
	fmt.Fprintf(stdout, "destination %s %sd\n", id, sub)
	return nil
}

// loadDestination reads a destination named on the command line; an unknown one is bad usage.
func loadDestination(ctx context.Context, st *store.Store, id string) (store.Destination, error) {
	d, err := st.Destination(ctx, strings.TrimSpace(id))
	if errors.Is(err, store.ErrNotFound) {
		return d, badUsagef("no destination with id %q", id)
	}
	return d, err
}
