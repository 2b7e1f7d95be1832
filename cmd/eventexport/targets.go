package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/eventexport/eventexport/export/store"
)

const targetsUsage = `Usage:
  eventexport targets add --name TEXT (--url URL | --host HOST [--port N] --user USER [--base-dir DIR])
                          [--password-file FILE] [--private-key FILE] [--key-passphrase-file FILE]
                          [--host-key PIN] [--legacy-crypto]
  eventexport targets list [--json]
  eventexport targets show ID [--json]
  eventexport targets update ID [--name TEXT] [--host HOST] [--port N] [--user USER] [--base-dir DIR]
                          [--password-file FILE] [--private-key FILE] [--key-passphrase-file FILE]
                          [--host-key PIN] [--legacy-crypto=true|false]
  eventexport targets remove ID

A target is an SFTP server that several destinations share: changing its password or key
changes it for all of them.
`

func cmdTargets(ctx context.Context, args []string, stdout, stderr io.Writer, getenv env) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, targetsUsage)
		return &exitError{code: exitBadUsage}
	}
	sub, rest := args[0], args[1:]
	switch sub {
	case "add":
		return targetsAdd(ctx, rest, stdout, stderr, getenv)
	case "list":
		return targetsList(ctx, rest, stdout, stderr, getenv)
	case "show":
		return targetsShow(ctx, rest, stdout, stderr, getenv)
	case "update":
		return targetsUpdate(ctx, rest, stdout, stderr, getenv)
	case "remove":
		return targetsRemove(ctx, rest, stdout, stderr, getenv)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, targetsUsage)
		return nil
	}
	fmt.Fprint(stderr, targetsUsage)
	return badUsagef("unknown subcommand %q", sub)
}

// targetFlags are the flags of targets add and update.
type targetFlags struct {
	spec                                  targetSpec
	keyFile, passphraseFile, passwordFile string
}

func newTargetFlags(fs *flag.FlagSet) *targetFlags {
	f := &targetFlags{}
	fs.StringVar(&f.spec.Name, "name", "", "a name for people")
	fs.StringVar(&f.spec.URL, "url", "", "sftp://user:password@host:port/dir (user and password percent-encoded)")
	fs.StringVar(&f.spec.Host, "host", "", "server host name or address")
	fs.IntVar(&f.spec.Port, "port", 0, "server port (default 22)")
	fs.StringVar(&f.spec.User, "user", "", "login user")
	fs.StringVar(&f.spec.BaseDir, "base-dir", "", "remote base `DIR`; destinations add their --path under it")
	fs.StringVar(&f.passwordFile, "password-file", "", "`FILE` holding the password")
	fs.StringVar(&f.keyFile, "private-key", "", "`FILE` holding the SSH private key (OpenSSH or PEM)")
	fs.StringVar(&f.passphraseFile, "key-passphrase-file", "", "`FILE` holding the private key's passphrase")
	fs.StringVar(&f.spec.HostKey, "host-key", "", "pinned host key `PIN`: a SHA256:… fingerprint or a known_hosts line")
	fs.BoolVar(&f.spec.LegacyCrypto, "legacy-crypto", false, "allow SHA-1-era SSH algorithms for an old server")
	return f
}

func (f *targetFlags) readSecrets() (err error) {
	f.spec.PrivateKey, f.spec.Passphrase, f.spec.Password, err = readSecretFiles(f.keyFile, f.passphraseFile, f.passwordFile)
	return err
}

func targetsAdd(ctx context.Context, args []string, stdout, stderr io.Writer, getenv env) error {
	fs := newFlagSet("targets add", stderr)
	f := newTargetFlags(fs)
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	c, err := loadConfig(getenv)
	if err != nil {
		return badUsage(err)
	}
	if err := f.readSecrets(); err != nil {
		return err
	}
	t, err := f.spec.buildShared()
	if err != nil {
		return asFlagError(err)
	}
	if err := needSealer(c, t.HasSecrets()); err != nil {
		return err
	}
	st, closeDB, err := openStore(ctx, c)
	if err != nil {
		return err
	}
	defer closeDB()
	t, err = st.AddTarget(ctx, t)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, t.ID)
	return nil
}

// targetView is what list and show print: never a secret.
type targetView struct {
	ID            string `json:"id"`
	Name          string `json:"name"`
	URL           string `json:"url"`
	Host          string `json:"host"`
	Port          int    `json:"port"`
	User          string `json:"user"`
	BaseDir       string `json:"base_dir"`
	HostKey       string `json:"host_key"`
	HasPassword   bool   `json:"has_password"`
	HasPrivateKey bool   `json:"has_private_key"`
	LegacyCrypto  bool   `json:"legacy_crypto"`
}

func viewTarget(t store.Target) targetView {
	return targetView{ID: t.ID, Name: t.Name, URL: redactedURL(store.Destination{Target: t}), Host: t.Host,
		Port: t.Port, User: t.User, BaseDir: t.BaseDir, HostKey: t.HostKey, HasPassword: t.HasPassword,
		HasPrivateKey: t.HasKey, LegacyCrypto: t.LegacyCrypto}
}

func targetsList(ctx context.Context, args []string, stdout, stderr io.Writer, getenv env) error {
	fs := newFlagSet("targets list", stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	_, st, closeDB, err := openStoreFromEnv(ctx, getenv)
	if err != nil {
		return err
	}
	defer closeDB()
	ts, err := st.Targets(ctx)
	if err != nil {
		return err
	}
	views := make([]targetView, 0, len(ts))
	for _, t := range ts {
		views = append(views, viewTarget(t))
	}
	if *asJSON {
		return writeJSON(stdout, views)
	}
	rows := make([][]string, 0, len(views))
	for _, v := range views {
		rows = append(rows, []string{v.ID, v.Name, v.URL, cmp.Or(v.HostKey, "(none pinned)")})
	}
	return writeTable(stdout, []string{"ID", "NAME", "URL", "HOST KEY"}, rows)
}

func targetsShow(ctx context.Context, args []string, stdout, stderr io.Writer, getenv env) error {
	fs := newFlagSet("targets show", stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseFlags(fs, args, 1); err != nil {
		return err
	}
	_, st, closeDB, err := openStoreFromEnv(ctx, getenv)
	if err != nil {
		return err
	}
	defer closeDB()
	t, err := st.Target(ctx, fs.Arg(0))
	if errors.Is(err, store.ErrNotFound) {
		return badUsagef("no target with id %q", fs.Arg(0))
	}
	if err != nil {
		return err
	}
	v := viewTarget(t)
	if *asJSON {
		return writeJSON(stdout, v)
	}
	return writeFields(stdout, [][2]string{
		{"id", v.ID}, {"name", v.Name}, {"url", v.URL}, {"host key", cmp.Or(v.HostKey, "(none pinned)")},
		{"auth", authSummary(v.HasPassword, v.HasPrivateKey)}, {"legacy crypto", fmt.Sprint(v.LegacyCrypto)},
	})
}

func targetsUpdate(ctx context.Context, args []string, stdout, stderr io.Writer, getenv env) error {
	fs := newFlagSet("targets update", stderr)
	f := newTargetFlags(fs)
	if err := parseFlags(fs, args, 1); err != nil {
		return err
	}
	if err := f.readSecrets(); err != nil {
		return err
	}
	// Only the flags given change the target.
	var p targetPatch
	fs.Visit(func(fl *flag.Flag) {
		s := &f.spec
		switch fl.Name {
		case "name":
			p.Name = &s.Name
		case "url":
			p.URL = &s.URL
		case "host":
			p.Host = &s.Host
		case "port":
			p.Port = &s.Port
		case "user":
			p.User = &s.User
		case "base-dir":
			p.BaseDir = &s.BaseDir
		case "password-file":
			p.Password = &s.Password
		case "private-key":
			p.PrivateKey = &s.PrivateKey
		case "key-passphrase-file":
			p.Passphrase = &s.Passphrase
		case "host-key":
			p.HostKey = &s.HostKey
		case "legacy-crypto":
			p.LegacyCrypto = &s.LegacyCrypto
		}
	})
	if p == (targetPatch{}) {
		return badUsagef("nothing to update: give at least one flag")
	}
	c, st, closeDB, err := openStoreFromEnv(ctx, getenv)
	if err != nil {
		return err
	}
	defer closeDB()
	t, err := st.Target(ctx, fs.Arg(0))
	if errors.Is(err, store.ErrNotFound) {
		return badUsagef("no target with id %q", fs.Arg(0))
	}
	if err != nil {
		return err
	}
	u, err := p.update(t)
	if err != nil {
		return asFlagError(err)
	}
	if err := needSealer(c, u.HasSecrets()); err != nil {
		return err
	}
	t, err = st.UpdateTarget(ctx, t.ID, u)
	if errors.Is(err, store.ErrNotFound) {
		return badUsagef("no target with id %q", fs.Arg(0))
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "target %s updated: %s\n", t.ID, viewTarget(t).URL)
	return nil
}

func targetsRemove(ctx context.Context, args []string, stdout, stderr io.Writer, getenv env) error {
	fs := newFlagSet("targets remove", stderr)
	if err := parseFlags(fs, args, 1); err != nil {
		return err
	}
	_, st, closeDB, err := openStoreFromEnv(ctx, getenv)
	if err != nil {
		return err
	}
	defer closeDB()
	err = st.RemoveTarget(ctx, fs.Arg(0))
	var inUse *store.TargetInUseError
	switch {
	case errors.Is(err, store.ErrNotFound):
		return badUsagef("no target with id %q", fs.Arg(0))
	case errors.As(err, &inUse):
		return badUsage(err)
	case err != nil:
		return err
	}
	fmt.Fprintf(stdout, "target %s removed\n", fs.Arg(0))
	return nil
}

func authSummary(password, key bool) string {
	var parts []string
	if password {
		parts = append(parts, "password")
	}
	if key {
		parts = append(parts, "private key")
	}
	return strings.Join(parts, " + ")
}
