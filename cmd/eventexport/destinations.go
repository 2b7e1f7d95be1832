package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/eventexport/eventexport/delivery"
	"github.com/eventexport/eventexport/export/support"
)

const destinationsUsage = `Usage:
  eventexport destinations add --company UUID (--url URL | --target ID [--path DIR]) --format json|csv
                               [--events courseComplete] [--password-file FILE]
                               [--private-key FILE] [--key-passphrase-file FILE] [--host-key PIN]
                               [--name TEXT] [--start-date YYYY-MM-DD] [--alert-url URL] [--legacy-crypto]
  eventexport destinations update ID [flags of add]
  eventexport destinations list [--json]
  eventexport destinations show ID [--json]
  eventexport destinations disable ID
  eventexport destinations enable ID
  eventexport destinations remove ID

update changes only the settings given: a new --url (or --password-file, --private-key,
--host-key) changes the destination's own server; --target moves it onto a shared target;
--host-key '' unpins the host key, --alert-url '' removes the webhook. remove deletes the
destination and its secrets; its run history stays readable with "eventexport runs".
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
	case "update":
		return destinationsUpdate(ctx, rest, stdout, stderr, getenv)
	case "list":
		return destinationsList(ctx, rest, stdout, stderr, getenv)
	case "show":
		return destinationsShow(ctx, rest, stdout, stderr, getenv)
	case "disable", "enable":
		return destinationsSetEnabled(ctx, sub, rest, stdout, stderr, getenv)
	case "remove":
		return destinationsRemove(ctx, rest, stdout, stderr, getenv)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, destinationsUsage)
		return nil
	}
	fmt.Fprint(stderr, destinationsUsage)
	return badUsagef("unknown subcommand %q", sub)
}

func destinationsAdd(ctx context.Context, args []string, stdout, stderr io.Writer, getenv env) error {
	_, in, svc, closeDB, err := fieldsCommand(ctx, "destinations add", destinationFlags, args, false, stderr, getenv)
	if err != nil {
		return err
	}
	defer closeDB()
	d, err := svc.AddDestination(ctx, in)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, d.ID)
	noteUnpinned(stderr, support.ViewDestination(d))
	return nil
}

func destinationsUpdate(ctx context.Context, args []string, stdout, stderr io.Writer, getenv env) error {
	id, in, svc, closeDB, err := fieldsCommand(ctx, "destinations update", destinationFlags, args, true, stderr, getenv)
	if err != nil {
		return err
	}
	defer closeDB()
	d, err := svc.UpdateDestination(ctx, id, in)
	if err != nil {
		return err
	}
	v := support.ViewDestination(d)
	fmt.Fprintf(stdout, "destination %s updated: %s\n", d.ID, v.URL)
	noteUnpinned(stderr, v)
	return nil
}

// noteUnpinned tells that deliveries to v are refused until its server's identity is pinned.
func noteUnpinned(stderr io.Writer, v support.DestinationView) {
	if !v.Pinned {
		fmt.Fprintf(stderr, "note: no host key is pinned for %s; deliveries are refused until one is (eventexport test-send %s --accept-host-key)\n", v.URL, v.ID)
	}
}

// fieldsCommand reads the field flags of an add (update false) or update command, with the
// update's id argument, into a request, and opens support's operations: what those commands
// start with. An update needs at least one flag.
func fieldsCommand(ctx context.Context, name string, flags []flagField, args []string, update bool, stderr io.Writer,
	getenv env) (id string, in delivery.Input, svc *support.Service, closeDB func(), err error) {
	fs := newFlagSet(name, stderr)
	input := bindFields(fs, flags)
	ids := 0
	if update {
		ids = 1
	}
	if err := parseFlags(fs, args, ids); err != nil {
		return "", nil, nil, nil, err
	}
	if in, err = input(); err != nil {
		return "", nil, nil, nil, err
	}
	if update && len(in) == 0 {
		return "", nil, nil, nil, badUsagef("nothing to update: give at least one flag")
	}
	if _, svc, closeDB, err = openServiceFromEnv(ctx, getenv, stderr); err != nil {
		return "", nil, nil, nil, err
	}
	return fs.Arg(0), in, svc, closeDB, nil
}

func destinationsList(ctx context.Context, args []string, stdout, stderr io.Writer, getenv env) error {
	fs := newFlagSet("destinations list", stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	_, svc, closeDB, err := openServiceFromEnv(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer closeDB()
	ds, err := svc.Destinations(ctx)
	if err != nil {
		return err
	}
	views := make([]support.DestinationView, 0, len(ds))
	for _, d := range ds {
		views = append(views, svc.View(d))
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
	_, svc, closeDB, err := openServiceFromEnv(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer closeDB()
	d, err := svc.Destination(ctx, fs.Arg(0))
	if err != nil {
		return err
	}
	v := svc.View(d)
	if *asJSON {
		return writeJSON(stdout, v)
	}
	fields := [][2]string{
		{"id", v.ID}, {"name", v.Name}, {"company", v.CompanyID}, {"url", v.URL},
		{"format", v.Format}, {"events", strings.Join(v.EventTypes, ", ")},
		{"enabled", fmt.Sprint(v.Enabled)}, {"start date", v.StartDate},
	}
	if v.TargetID != "" {
		fields = append(fields, [2]string{"shared target", v.TargetID})
	}
	fields = append(fields, settingsLines(v.Settings)...)
	fields = append(fields, settingsLines(v.Schedule)...)
	fields = append(fields, settingsLines(v.Files)...)
	if v.AlertURL != "" {
		fields = append(fields, [2]string{"alert url", v.AlertURL})
	}
	return writeFields(stdout, append(fields, [2]string{"created", v.CreatedAt.UTC().Format(time.RFC3339)}))
}

func destinationsSetEnabled(ctx context.Context, sub string, args []string, stdout, stderr io.Writer, getenv env) error {
	fs := newFlagSet("destinations "+sub, stderr)
	if err := parseFlags(fs, args, 1); err != nil {
		return err
	}
	_, svc, closeDB, err := openServiceFromEnv(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer closeDB()
	if _, err := svc.SetEnabled(ctx, fs.Arg(0), sub == "enable"); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "destination %s %sd\n", fs.Arg(0), sub)
	return nil
}

func destinationsRemove(ctx context.Context, args []string, stdout, stderr io.Writer, getenv env) error {
	fs := newFlagSet("destinations remove", stderr)
	if err := parseFlags(fs, args, 1); err != nil {
		return err
	}
	_, svc, closeDB, err := openServiceFromEnv(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer closeDB()
	if err := svc.RemoveDestination(ctx, fs.Arg(0)); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "destination %s removed; its runs stay readable (eventexport runs list --destination %s)\n", fs.Arg(0), fs.Arg(0))
	return nil
}

// settingsLines are a target's settings as show prints them: those with a label.
func settingsLines(settings []delivery.Field) [][2]string {
	var out [][2]string
	for _, f := range settings {
		if f.Label != "" {
			out = append(out, [2]string{f.Label, f.Text})
		}
	}
	return out
}
