//go:build unix

package local

import "syscall"

// noSpaceErrnos are the errors of a full file system or quota.
var noSpaceErrnos = []struct {
	name  string
	errno syscall.Errno
}{
	{"ENOSPC", syscall.ENOSPC},
	{"EDQUOT", syscall.EDQUOT},
}
