//go:build !linux

package pgcluster

import "syscall"

// setDieWithParent does nothing: only Linux has a parent-death signal.
func setDieWithParent(*syscall.SysProcAttr) {}
