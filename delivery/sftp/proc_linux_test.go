package sftp_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

var (
	subreaperOnce sync.Once
	sshdMu        sync.Mutex
	sshdPIDs      = map[int]bool{} // sshd processes running, waited for by os/exec
)

// becomeSubreaper makes processes orphaned by sshd children of the test,
// rather than of init, so that reapOrphans can stop and reap them.
func becomeSubreaper() {
	subreaperOnce.Do(func() {
		const prSetChildSubreaper = 36
		syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0)
	})
}

func startedSSHD(pid int) {
	sshdMu.Lock()
	sshdPIDs[pid] = true
	sshdMu.Unlock()
}

func stoppedSSHD(pid int) {
	sshdMu.Lock()
	delete(sshdPIDs, pid)
	sshdMu.Unlock()
}

// reapOrphans kills and reaps the test's children other than running sshd
// processes: the connection processes of stopped sshd servers.
func reapOrphans() {
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		sshdMu.Lock()
		var orphans []int
		for _, pid := range childrenOf(os.Getpid()) {
			if !sshdPIDs[pid] {
				orphans = append(orphans, pid)
			}
		}
		sshdMu.Unlock()
		if len(orphans) == 0 {
			return
		}
		for _, pid := range orphans {
			syscall.Kill(pid, syscall.SIGKILL)
			var ws syscall.WaitStatus
			syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// childrenOf lists the processes whose parent is pid, zombies included.
func childrenOf(pid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var children []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			children = append(children, child)
		}
	}
	return children
}
