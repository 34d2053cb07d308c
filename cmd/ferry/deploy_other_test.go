//go:build !linux

package main

import "syscall"

// nginxProcAttr: only Linux can tie nginx's life to the test binary's.
func nginxProcAttr() *syscall.SysProcAttr { return nil }
