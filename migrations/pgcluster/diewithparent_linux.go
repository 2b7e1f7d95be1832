package pgcluster

import "syscall"

// setDieWithParent has the kernel send the server a fast-shutdown signal when the thread
// that started it ends.
func setDieWithParent(attr *syscall.SysProcAttr) { attr.Pdeathsig = syscall.SIGINT }
