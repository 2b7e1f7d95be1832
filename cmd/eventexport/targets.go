package main

import (
	"context"
	"fmt"
	"io"

	"github.com/eventexport/eventexport/export/support"
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

func targetsAdd(ctx context.Context, args []string, stdout, stderr io.Writer, getenv env) error {
	_, in, svc, closeDB, err := fieldsCommand(ctx, "targets add", targetFlags, args, false, stderr, getenv)
	if err != nil {
		return err
	}
	defer closeDB()
	t, err := svc.AddTarget(ctx, in)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, t.ID)
	return nil
}

func targetsList(ctx context.Context, args []string, stdout, stderr io.Writer, getenv env) error {
	fs := newFlagSet("targets list", stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	_, svc, closeDB, err := openServiceFromEnv(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer closeDB()
	ts, err := svc.Targets(ctx)
	if err != nil {
		return err
	}
	views := make([]support.TargetView, 0, len(ts))
	for _, t := range ts {
		views = append(views, support.ViewTarget(t))
	}
	if *asJSON {
		return writeJSON(stdout, views)
	}
	rows := make([][]string, 0, len(views))
	for _, v := range views {
		pin, _ := support.Setting(v.Settings, "host_key")
		rows = append(rows, []string{v.ID, v.Name, v.URL, pin})
	}
	return writeTable(stdout, []string{"ID", "NAME", "URL", "HOST KEY"}, rows)
}

func targetsShow(ctx context.Context, args []string, stdout, stderr io.Writer, getenv env) error {
	fs := newFlagSet("targets show", stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseFlags(fs, args, 1); err != nil {
		return err
	}
	_, svc, closeDB, err := openServiceFromEnv(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer closeDB()
	t, err := svc.Target(ctx, fs.Arg(0))
	if err != nil {
		return err
	}
	v := support.ViewTarget(t)
	if *asJSON {
		return writeJSON(stdout, v)
	}
	return writeFields(stdout, append([][2]string{{"id", v.ID}, {"name", v.Name}, {"url", v.URL}}, settingsLines(v.Settings)...))
}

func targetsUpdate(ctx context.Context, args []string, stdout, stderr io.Writer, getenv env) error {
	id, in, svc, closeDB, err := fieldsCommand(ctx, "targets update", targetFlags, args, true, stderr, getenv)
	if err != nil {
		return err
	}
	defer closeDB()
	t, err := svc.UpdateTarget(ctx, id, in)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "target %s updated: %s\n", t.ID, support.ViewTarget(t).URL)
	return nil
}

func targetsRemove(ctx context.Context, args []string, stdout, stderr io.Writer, getenv env) error {
	fs := newFlagSet("targets remove", stderr)
	if err := parseFlags(fs, args, 1); err != nil {
		return err
	}
	_, svc, closeDB, err := openServiceFromEnv(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer closeDB()
	if err := svc.RemoveTarget(ctx, fs.Arg(0)); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "target %s removed\n", fs.Arg(0))
	return nil
}
