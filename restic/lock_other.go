//go:build !unix

package restic

import "os"

// processExists reports whether a process with the PID runs on this host.
func processExists(pid int) bool {
	if pid <= 0 {
		return false
	}
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	p.Release()
	return true
}
