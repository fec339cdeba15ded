// Command smtpprobe probes an SMTP, submission or LMTP server through a
// whole session — banner, EHLO, STARTTLS, EHLO, AUTH, MAIL, RCPT, DATA,
// QUIT — and prints the transcript of every line with a summary, the
// Report as JSON, or a monitoring-plugin status line. Without a target it
// probes a built-in test server, as a demonstration. With -i it is an
// interactive session instead: the lines typed go to the server, with
// built-in commands for STARTTLS, AUTH and DATA.
//
// Run "smtpprobe -h" for the flags and the exit codes.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := runContext(ctx, os.Args[1:], stdio{in: os.Stdin, out: os.Stdout, err: os.Stderr, getenv: os.Getenv})
	stop()
	os.Exit(code)
}
