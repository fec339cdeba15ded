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
	setLimit(&l.Cur, soft)
	return syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
}

// setLimit stores v in a field of syscall.Rlimit, which is a uint64 on
// Linux and macOS and an int64 on FreeBSD. v comes from the same field
// (GetFileLimit), so it fits.
func setLimit[T int64 | uint64](field *T, v uint64) { *field = T(v) }
