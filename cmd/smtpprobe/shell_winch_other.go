//go:build !unix

package main

import (
	"os"

	"golang.org/x/term"
)

// followSize sets the line editor's idea of the terminal's size; without
// SIGWINCH a resize is not followed.
func (k *ttyInput) followSize(out *os.File) {
	if fd, ok := fdOf(out); ok {
		if w, h, err := term.GetSize(fd); err == nil {
			_ = k.t.SetSize(w, h)
		}
	}
}
