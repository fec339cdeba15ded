//go:build !unix

package polite

import "errors"

// GetFileLimit reads the process's open-file limit: not on this system.
func GetFileLimit() (FileLimit, error) {
	return FileLimit{}, errors.New("polite: no open-file limit on this system")
}

// SetFileLimit sets the process's soft open-file limit: not on this system.
func SetFileLimit(uint64) error {
	return errors.New("polite: no open-file limit on this system")
}
