//go:build unix

package main

import (
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/term"
)

// followSize keeps the line editor's idea of the terminal's size right
// when the window is resized, until the input is closed.
func (k *ttyInput) followSize(out *os.File) {
	fd, ok := fdOf(out)
	if !ok {
		return
	}
	resize := func() {
		if w, h, err := term.GetSize(fd); err == nil {
			_ = k.t.SetSize(w, h)
		}
	}
	resize()
	winch := make(chan os.Signal, 1)
	signal.Notify(winch, syscall.SIGWINCH)
	go func() {
		defer signal.Stop(winch)
		for {
			select {
			case <-winch:
				resize()
			case <-k.done:
				return
			}
		}
	}()
}
