package pyrunner

import "syscall"

// ProtectServer makes the calling process (the server) non-dumpable: a
// same-user process, a flow in a run that is not isolated say, can then
// neither read its /proc/<pid>/environ, mem or fds nor ptrace it. Core dumps
// and attaching a debugger are off too. Its command line stays readable.
func ProtectServer() error {
	const prSetDumpable = 4
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetDumpable, 0, 0); errno != 0 {
		return errno
	}
	return nil
}
