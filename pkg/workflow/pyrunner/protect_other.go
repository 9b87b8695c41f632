//go:build !linux

package pyrunner

// ProtectServer does nothing outside Linux: there is no PR_SET_DUMPABLE.
func ProtectServer() error { return nil }
