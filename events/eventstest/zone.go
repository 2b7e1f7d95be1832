package eventstest

import (
	"bytes"
	"os"
	"os/exec"
	"regexp"
	"testing"
	"time"
)

// childZoneEnv marks a child process started by InTimeZones.
const childZoneEnv = "EVENTEXPORT_TEST_ZONE_CHILD"

// InTimeZones runs the calling top-level test again in a child process for each zone, with TZ
// set to it, so that the process's local time zone is that zone from the start. (Setting
// time.Local in a running test races with every goroutine that reads the clock.) It returns
// false in the parent, which should then return, and true in a child, which runs the test.
func InTimeZones(t *testing.T, zones ...string) bool {
	t.Helper()
	if os.Getenv(childZoneEnv) != "" {
		checkLocal(t, os.Getenv("TZ"))
		return true
	}
	cmds := make([]*exec.Cmd, len(zones))
	outs := make([]bytes.Buffer, len(zones))
	for i, zone := range zones {
		cmd := exec.Command(os.Args[0], "-test.run=^"+regexp.QuoteMeta(t.Name())+"$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), "TZ="+zone, childZoneEnv+"=1")
		cmd.Stdout, cmd.Stderr = &outs[i], &outs[i]
		if err := cmd.Start(); err != nil {
			t.Fatalf("with TZ=%s: %v", zone, err)
		}
		cmds[i] = cmd
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("with TZ=%s: %v\n%s", zones[i], err, outs[i].String())
		}
	}
	return false
}

// checkLocal fails t unless time.Local is zone.
func checkLocal(t *testing.T, zone string) {
	t.Helper()
	loc, err := time.LoadLocation(zone)
	if err != nil {
		t.Fatalf("load time zone %s: %v", zone, err)
	}
	for _, at := range []time.Time{time.Date(2026, 1, 15, 0, 0, 0, 0, time.UTC), time.Date(2026, 7, 15, 0, 0, 0, 0, time.UTC)} {
		_, want := at.In(loc).Zone()
		if _, got := at.Local().Zone(); got != want {
			t.Fatalf("TZ=%s: time.Local is %d s from UTC on %s, want %d s", zone, got, at.Format(time.DateOnly), want)
		}
	}
}
