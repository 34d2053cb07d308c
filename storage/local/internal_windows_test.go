//go:build windows

package local

import (
	"syscall"

	"golang.org/x/sys/windows"
)

// noSpaceErrnos are the errors of a full volume or quota.
var noSpaceErrnos = []struct {
	name  string
	errno syscall.Errno
}{
	{"ERROR_DISK_FULL", windows.ERROR_DISK_FULL},
	{"ERROR_HANDLE_DISK_FULL", windows.ERROR_HANDLE_DISK_FULL},
	{"ERROR_DISK_QUOTA_EXCEEDED", windows.ERROR_DISK_QUOTA_EXCEEDED},
}
