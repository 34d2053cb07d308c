package main

import "syscall"

// nginxProcAttr has the kernel stop nginx (SIGTERM to the master, which
// stops its workers) if the test binary dies without its cleanups, as on
// a test timeout.
func nginxProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
