package bench

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strings"
)

// FloorTLSCheck is the least a Go client can do for the monitoring probe
// the throughput figures count (banner, EHLO, STARTTLS, verified
// handshake, EHLO, QUIT): fixed command bytes, one buffered reader, reply
// codes compared and nothing else recorded or parsed. No library can do
// the same exchanges with less; its rate is the SMTP floor the libraries
// are compared with, beside the bare handshake's.
func FloorTLSCheck(ctx context.Context, addr string, cfg *tls.Config) error {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer nc.Close()
	if dl, ok := ctx.Deadline(); ok {
		nc.SetDeadline(dl) // tc below shares it
	}
	r := bufio.NewReader(nc)
	if err := floorExchange(nc, r, "", "220"); err != nil {
		return err
	}
	if err := floorExchange(nc, r, "EHLO localhost\r\n", "250"); err != nil {
		return err
	}
	if err := floorExchange(nc, r, "STARTTLS\r\n", "220"); err != nil {
		return err
	}
	tc := tls.Client(nc, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return err
	}
	defer tc.Close()
	r.Reset(tc)
	if err := floorExchange(tc, r, "EHLO localhost\r\n", "250"); err != nil {
		return err
	}
	return floorExchange(tc, r, "QUIT\r\n", "221")
}

// floorExchange writes cmd (if any) and reads one reply, multi-line or
// not, whose code must be code.
func floorExchange(w net.Conn, r *bufio.Reader, cmd, code string) error {
	if cmd != "" {
		if _, err := w.Write([]byte(cmd)); err != nil {
			return err
		}
	}
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) < 5 || string(line[:3]) != code {
			return fmt.Errorf("bench: want a %s reply, got %q", code, strings.TrimSpace(string(line)))
		}
		if line[3] != '-' {
			return nil // "250 text" or a bare "250"
		}
	}
}
