// Command eventexport delivers a platform's events to its customers every night as files on
// the customers' own SFTP servers.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	_ "time/tzdata" // zone names work on hosts without a zoneinfo database

	"github.com/eventexport/eventexport/delivery"
	_ "github.com/eventexport/eventexport/delivery/ftps" // the transports the service delivers with
	_ "github.com/eventexport/eventexport/delivery/https"
	_ "github.com/eventexport/eventexport/delivery/sftp"
	"github.com/eventexport/eventexport/export/support"
)

// Exit codes: delivered (0), delivery failed (1), bad usage or configuration (2).
const (
	exitOK       = 0
	exitFailed   = 1
	exitBadUsage = 2
)

const usage = `eventexport delivers a platform's events to customers' servers (SFTP, FTPS, HTTPS) as files,
each night or on each destination's schedule.

Usage:
  eventexport migrate                         apply database migrations
  eventexport targets add|list|show|update|remove     servers shared by destinations
  eventexport destinations add|update|list|show|disable|enable|remove
  eventexport run --destination ID --date YYYY-MM-DD
  eventexport test-send DESTINATION_ID [--accept-host-key] [--json]
  eventexport serve                           run the scheduled exports and retries until SIGTERM
  eventexport resend --destination ID --from YYYY-MM-DD [--to YYYY-MM-DD]
  eventexport plan --destination ID [--next N] [--from YYYY-MM-DD] [--json]   its next windows
  eventexport runs list|show                  the history of runs and their attempts
  eventexport rotate-key                      re-seal stored secrets under EVENTEXPORT_SECRET_KEY
  eventexport demo                            deliver sample files to a local SFTP server

Run "eventexport COMMAND -h" for a command's flags. Configuration comes from the environment;
see README.md.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// env reads one environment variable; tests pass their own.
type env func(string) string

// run executes one command line and returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv env) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitBadUsage
	}
	cmds := map[string]func(context.Context, []string, io.Writer, io.Writer, env) error{
		"migrate":      cmdMigrate,
		"destinations": cmdDestinations,
		"targets":      cmdTargets,
		"run":          cmdRun,
		"test-send":    cmdTestSend,
		"serve":        cmdServe,
		"resend":       cmdResend,
		"plan":         cmdPlan,
		"runs":         cmdRuns,
		"rotate-key":   cmdRotateKey,
		"demo":         cmdDemo,
	}
	name, rest := args[0], args[1:]
	if name == "help" || name == "-h" || name == "--help" {
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	cmd, ok := cmds[name]
	if !ok {
		fmt.Fprintf(stderr, "eventexport: unknown command %q\n\n%s", name, usage)
		return exitBadUsage
	}
	err := cmd(ctx, rest, stdout, stderr, getenv)
	if err == nil {
		return exitOK
	}
	code, msg := exitOf(err)
	if msg != "" {
		fmt.Fprintf(stderr, "eventexport %s: %s\n", name, msg)
	}
	return code
}

// exitOf maps a command's error to its exit code and message, once for every command: bad
// input, an unknown id, a refused change or a configuration the request cannot be served
// with is bad usage (2), and nothing was changed; anything else failed (1).
func exitOf(err error) (int, string) {
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err == nil {
			return ee.code, ""
		}
		return ee.code, ee.err.Error()
	}
	kind, _, field := support.KindOf(err)
	msg := err.Error()
	var fe *delivery.FieldError
	if errors.As(err, &fe) {
		field, msg = fe.Field, fe.Err.Error()
		if errors.Is(fe.Err, delivery.ErrUnknownField) {
			msg = "is not a setting of this target"
		}
	}
	if field != "" && fe != nil {
		msg = flagOf(field) + ": " + msg
	}
	switch kind {
	case support.KindInvalid, support.KindNotFound, support.KindUnknownReference, support.KindConflict, support.KindConfig:
		return exitBadUsage, msg
	}
	return exitFailed, msg
}

// exitError carries the exit code of a failed command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// badUsage marks err as bad usage or configuration: exit code 2.
func badUsage(err error) error { return &exitError{code: exitBadUsage, err: err} }

func badUsagef(format string, args ...any) error { return badUsage(fmt.Errorf(format, args...)) }
