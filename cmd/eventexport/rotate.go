package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/eventexport/eventexport/export/store"
)

// cmdRotateKey seals every stored secret anew under EVENTEXPORT_SECRET_KEY, opening those
// sealed before with a key of EVENTEXPORT_SECRET_KEY_OLD. See docs/operations.md for the
// whole procedure.
func cmdRotateKey(ctx context.Context, args []string, stdout, stderr io.Writer, getenv env) error {
	fs := newFlagSet("rotate-key", stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: eventexport rotate-key\n\n"+
			"Seals every stored password and private key anew under EVENTEXPORT_SECRET_KEY, opening those sealed\n"+
			"before with the keys in EVENTEXPORT_SECRET_KEY_OLD (comma-separated). Safe to run again, and while\n"+
			"the service runs. See docs/operations.md.")
	}
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	c, err := loadConfig(getenv)
	if err != nil {
		return badUsage(err)
	}
	if c.Sealer == nil {
		return badUsage(c.SealerErr)
	}
	if strings.TrimSpace(getenv("EVENTEXPORT_SECRET_KEY_OLD")) == "" {
		fmt.Fprintln(stderr, "note: EVENTEXPORT_SECRET_KEY_OLD is not set: only secrets sealed under EVENTEXPORT_SECRET_KEY can be read")
	}
	st, closeDB, err := openStore(ctx, c)
	if err != nil {
		return err
	}
	defer closeDB()
	rot, err := st.RotateSecrets(ctx)
	fmt.Fprintf(stdout, "re-sealed %d secret(s) of %d target(s) under the current key; %d were current already\n",
		rot.Resealed, rot.Targets, rot.Current)
	var ue *store.UnreadableSecretsError
	if errors.As(err, &ue) {
		return &exitError{code: exitFailed, err: err}
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, "every stored secret opens with EVENTEXPORT_SECRET_KEY alone: once every replica runs with it, remove EVENTEXPORT_SECRET_KEY_OLD")
	return nil
}
