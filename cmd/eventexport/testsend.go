package main

import (
	"context"
	"fmt"
	"io"
)

// cmdTestSend delivers a small file of sample events, marked as test data, to a destination
// now, and says at once whether it worked and, if not, why.
func cmdTestSend(ctx context.Context, args []string, stdout, stderr io.Writer, getenv env) error {
	fs := newFlagSet("test-send", stderr)
	accept := fs.Bool("accept-host-key", false, "pin the host key (or TLS certificate) the server presents, when none is pinned yet")
	asJSON := fs.Bool("json", false, "print the outcome of each file as JSON")
	if err := parseFlags(fs, args, 1); err != nil {
		return err
	}
	_, svc, closeDB, err := openServiceFromEnv(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer closeDB()
	res, err := svc.TestSend(ctx, fs.Arg(0), *accept, newLogger(stderr))
	if err != nil {
		return err
	}
	if *asJSON {
		if err := writeJSON(stdout, res); err != nil {
			return err
		}
		if !res.Delivered {
			return &exitError{code: exitFailed}
		}
		return nil
	}
	for _, f := range res.Files {
		if f.PinnedHostKey != "" {
			fmt.Fprintf(stdout, "pinned host key %s\n", f.PinnedHostKey)
		}
		if !f.Delivered {
			fmt.Fprintf(stdout, "test file NOT delivered: %s\n", f.Error)
			if f.PresentedHostKey != "" {
				fmt.Fprintf(stdout, "if %s is the key of %s, run again with --accept-host-key to pin it\n", f.PresentedHostKey, res.URL)
			}
			continue
		}
		fmt.Fprintf(stdout, "test file delivered: %s\t%d events\t%d bytes\n", f.RemotePath, f.Events, f.Bytes)
	}
	if !res.Delivered {
		return &exitError{code: exitFailed}
	}
	return nil
}
