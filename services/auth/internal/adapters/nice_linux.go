package adapters

import "syscall"

// setThreadNice sets the nice value of the calling OS thread (on Linux the nice value is a
// property of each thread; raising it needs no privilege).
func setThreadNice(nice int) error {
	return syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), nice)
}
