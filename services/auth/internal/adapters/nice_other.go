//go:build !linux

package adapters

// setThreadNice does nothing where threads have no nice value of their own.
func setThreadNice(int) error { return nil }
