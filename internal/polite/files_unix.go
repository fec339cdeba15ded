//go:build unix

package polite

import "syscall"

// GetFileLimit reads the process's open-file limit.
func GetFileLimit() (FileLimit, error) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return FileLimit{}, err
	}
	return FileLimit{Soft: uint64(l.Cur), Hard: uint64(l.Max)}, nil
}

// SetFileLimit sets the process's soft open-file limit, the hard one
// unchanged.
func SetFileLimit(soft uint64) error {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return err
	}
	l.Cur = soft
	return syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
}
