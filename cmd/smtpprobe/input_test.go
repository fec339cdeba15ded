package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smtpprobe/probe/internal/fakeserver"
	"github.com/smtpprobe/probe/scan"
)

// countingSeams stands in for DNS and for the network: it counts every
// lookup (-mx) and every dial (which resolves a target's name), answers
// no lookup and dials for real.
type countingSeams struct {
	lookups, dials atomic.Int64
}

func (s *countingSeams) LookupMX(_ context.Context, name string) ([]*net.MX, error) {
	s.lookups.Add(1)
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

func (s *countingSeams) LookupHost(_ context.Context, host string) ([]string, error) {
	s.lookups.Add(1)
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func (s *countingSeams) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	s.dials.Add(1)
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

// runSeams runs the command with the counting seams, stdin and the
// environment given.
func runSeams(t *testing.T, s *countingSeams, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	code := runContext(ctx, args, stdio{in: strings.NewReader(stdin), out: &out, err: &errb,
		getenv: func(string) string { return "" }, resolver: s, dialer: s})
	if ctx.Err() != nil {
		t.Fatalf("smtpprobe %q did not finish within its deadline", args)
	}
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

// TestBadInput: each bad command line or list line exits 3 with one line
// that names the flag or argument and what is wrong, before anything is
// dialled or looked up: the test server sees no connection, the dialler
// no dial and the resolver no lookup. In the args and the list, {addr}
// stands for the test server's address and {port} for its port, so that
// a target read leniently would reach it.
func TestBadInput(t *testing.T) {
	srv := fakeserver.NewTB(t, fakeserver.Config{})
	addr := srv.Addr()
	_, port, _ := net.SplitHostPort(addr)
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	expand := func(s string) string {
		return strings.NewReplacer("{addr}", addr, "{port}", port, "{pwfile}", pwFile).Replace(s)
	}
	tests := []struct {
		name   string
		args   []string
		list   string // -targets -: the list on stdin; the lines are bad in the cases named "list: …"
		nagios bool   // the message is an UNKNOWN status line on stdout
		want   string
	}{
		// The target.
		{name: "empty target, nagios", args: []string{"-nagios", ""}, nagios: true,
			want: `SMTP UNKNOWN - bad arguments: target "": want host[:port] (empty target; without any argument the built-in demo runs)`},
		{name: "empty target", args: []string{""}, want: `target "": want host[:port] (empty target`},
		{name: "empty host", args: []string{":{port}"}, want: `target ":{port}": want host[:port] (empty host)`},
		{name: "port missing", args: []string{"127.0.0.1:"}, want: `target "127.0.0.1:": want host[:port] (port missing after ':')`},
		{name: "port not a number", args: []string{"127.0.0.1:smtp"}, want: `(port "smtp" is not a number)`},
		{name: "signed port", args: []string{"127.0.0.1:+{port}"}, want: `(port "+{port}" is not a number)`},
		{name: "port too big", args: []string{"127.0.0.1:99999"}, want: `(port 99999 is out of range 1-65535)`},
		{name: "port zero", args: []string{"127.0.0.1:0"}, want: `(port 0 is out of range 1-65535)`},
		{name: "open bracket", args: []string{"[127.0.0.1:{port}"}, want: `target "[127.0.0.1:{port}": want host[:port] ('[' without ']')`},
		{name: "close bracket", args: []string{"127.0.0.1]:{port}"}, want: `(brackets that do not pair)`},
		{name: "name in brackets", args: []string{"[localhost]:{port}"}, want: `("localhost" in brackets is no IP address)`},
		{name: "junk after bracket", args: []string{"[127.0.0.1]x{port}"}, want: `("x{port}" after ']')`},
		{name: "IPv6 with a port, no brackets", args: []string{"localhost:{port}:25"}, want: `(more than one ':'; an IPv6 address with a port goes in brackets`},
		{name: "CRLF", args: []string{"127.0.0.1:{port}\r\nQUIT"}, want: `target "127.0.0.1:{port}\r\nQUIT": want host[:port] (holds the control byte '\r')`},
		{name: "NUL", args: []string{"127.0.0.1\x00:{port}"}, want: `(holds the control byte '\x00')`},
		{name: "escape sequence", args: []string{"127.0.0.1:{port}\x1b[2J"}, want: `(holds the control byte '\x1b')`},
		{name: "space", args: []string{"127.0.0.1 :{port}"}, want: `(holds a space)`},
		{name: "empty label", args: []string{"mail..example.test:{port}"}, want: `(host name with an empty label)`},
		{name: "mail address as target", args: []string{"postmaster@localhost"}, want: `(looks like a mail address; give the host, or its domain with -mx)`},
		{name: "IP with -mx", args: []string{"-mx", "127.0.0.1"}, want: `(-mx needs a mail domain, not an IP address)`},
		{name: "bad port with -mx", args: []string{"-mx", "example.test:0"}, want: `(port 0 is out of range 1-65535)`},
		{name: "empty -targets", args: []string{"-targets", ""}, want: `-targets: empty value`},
		{name: "-targets and an empty target", args: []string{"-targets", "-", ""}, list: "{addr}\n", want: `give a target or -targets, not both`},
		// Addresses.
		{name: "-from in brackets", args: []string{"-from", "<alice@example.test>", "-to", "bob@example.test", "{addr}"},
			want: `-from "<alice@example.test>": give the address without angle brackets`},
		{name: "-from with a space", args: []string{"-from", "a b@example.test", "-to", "bob@example.test", "{addr}"},
			want: `-from "a b@example.test": space outside a quoted local part`},
		{name: "-to with CRLF", args: []string{"-to", "bob@example.test\r\nRSET", "{addr}"},
			want: `-to "bob@example.test\r\nRSET": control byte 0x0d`},
		{name: "-to with a bracket", args: []string{"-to", "bob@example.test>", "{addr}"},
			want: `-to "bob@example.test>": angle bracket inside the address`},
		{name: "-to empty", args: []string{"-to", "", "{addr}"}, want: `invalid value "" for flag -to: an empty address`},
		{name: "-from without -to", args: []string{"-from", "alice@example.test", "{addr}"},
			want: `-from needs -to (or -quit-after mail): without a recipient no MAIL is sent`},
		// Flags that would do nothing.
		{name: "-insecure with -no-starttls", args: []string{"-no-starttls", "-insecure", "{addr}"},
			want: `-insecure does nothing with -no-starttls: no TLS is started`},
		{name: "-cafile with -no-starttls", args: []string{"-no-starttls", "-cafile", "{pwfile}", "{addr}"},
			want: `-cafile does nothing with -no-starttls`},
		{name: "-server-name with -no-starttls", args: []string{"-no-starttls", "-server-name", "mail.example.test", "{addr}"},
			want: `-server-name does nothing with -no-starttls`},
		{name: "-quit-after tls with -no-starttls", args: []string{"-no-starttls", "-quit-after", "tls", "{addr}"},
			want: `-quit-after tls with -no-starttls: no TLS is started`},
		{name: "-password-file without -user", args: []string{"-password-file", "{pwfile}", "{addr}"},
			want: `-password-file needs -user: without a user name no AUTH is sent`},
		{name: "-password without -user", args: []string{"-password", "secret", "{addr}"}, want: `-password needs -user`},
		{name: "-password with ANONYMOUS", args: []string{"-auth", "anonymous", "-user", "trace", "-password-file", "{pwfile}", "{addr}"},
			want: `-password-file does nothing with -auth ANONYMOUS: it sends no password`},
		{name: "-quit-after auth without credentials", args: []string{"-quit-after", "auth", "{addr}"},
			want: `-quit-after auth needs -user (or -auth): without credentials no AUTH is sent`},
		{name: "-plaintext-auth without credentials", args: []string{"-plaintext-auth", "{addr}"}, want: `-plaintext-auth needs -user (or -auth)`},
		{name: "-plaintext-auth with -tls", args: []string{"-tls", "-plaintext-auth", "-auth", "anonymous", "{addr}"},
			want: `-plaintext-auth does nothing with -tls: AUTH always runs inside TLS`},
		{name: "-plaintext-auth with -starttls", args: []string{"-starttls", "-plaintext-auth", "-user", "a", "-password", "b", "{addr}"},
			want: `-plaintext-auth does nothing with -starttls: AUTH runs inside TLS or not at all`},
		{name: "-show-secrets without secrets", args: []string{"-show-secrets", "{addr}"}, want: `-show-secrets needs secrets to show`},
		{name: "-no-pipelining without -to", args: []string{"-no-pipelining", "{addr}"}, want: `-no-pipelining needs -to`},
		{name: "-show-secrets with -nagios", args: []string{"-nagios", "-show-secrets", "{addr}"}, nagios: true,
			want: `SMTP UNKNOWN - bad arguments: -show-secrets does nothing with -nagios`},
		{name: "-cert-warn with -no-starttls", args: []string{"-nagios", "-no-starttls", "-cert-warn", "30", "{addr}"}, nagios: true,
			want: `SMTP UNKNOWN - bad arguments: -cert-warn and -cert-crit do nothing with -no-starttls`},
		{name: "-json with -targets", args: []string{"-json", "-targets", "-"}, list: "{addr}\n", want: `-json goes without saying with -targets`},
		{name: "-checks auth-plaintext without -plaintext-auth", args: []string{"-checks", "auth-plaintext", "-user", "a", "-password", "b", "{addr}"},
			want: `-checks auth-plaintext needs -plaintext-auth`},
		{name: "empty -user", args: []string{"-user", "", "{addr}"}, want: `-user: empty value`},
		// Values.
		{name: "-timeout not a time", args: []string{"-timeout", "soon", "{addr}"},
			want: `invalid value "soon" for flag -timeout: want seconds such as 2.5, or a duration such as 750ms`},
		{name: "-timeout zero", args: []string{"-timeout", "0", "{addr}"}, want: `-timeout 0: want more than 0 seconds`},
		{name: "-timeout NaN", args: []string{"-timeout", "NaN", "{addr}"}, want: `invalid value "NaN" for flag -timeout: want seconds`},
		{name: "-timeout too long", args: []string{"-timeout", "1e300", "{addr}"}, want: `invalid value "1e300" for flag -timeout: more than 604800 seconds`},
		{name: "-version with a target", args: []string{"-version", "{addr}"}, want: `-version takes no other flags or arguments`},
		// Connection flags (issue 17).
		{name: "-xclient with CRLF", args: []string{"-xclient", "NAME=a.example\r\nRSET", "{addr}"},
			want: `-xclient "NAME=a.example\r\nRSET": an attribute holds CR, LF or NUL`},
		{name: "-xclient unknown attribute", args: []string{"-xclient", "NAME=a.example COLOUR=red", "{addr}"},
			want: `-xclient: unknown attribute "COLOUR" (known: NAME REVERSE_NAME ADDR PORT PROTO HELO LOGIN DESTADDR DESTPORT)`},
		{name: "-xclient without a value", args: []string{"-xclient", "ADDR", "{addr}"}, want: `-xclient "ADDR": want NAME=value pairs`},
		{name: "-xclient twice the same", args: []string{"-xclient", "ADDR=1.2.3.4 addr=5.6.7.8", "{addr}"}, want: `-xclient: attribute ADDR given twice`},
		{name: "-xforward LOGIN", args: []string{"-xforward", "LOGIN=alice", "{addr}"}, want: `-xforward: unknown attribute "LOGIN"`},
		{name: "-proxy-header bad version", args: []string{"-proxy-header", "v3", "{addr}"}, want: `-proxy-header "v3": want v1 or v2`},
		{name: "-proxy mixed families", args: []string{"-proxy-header", "v2", "-proxy-source", "192.0.2.1:5555", "-proxy-dest", "[2001:db8::1]:25", "{addr}"},
			want: `-proxy-source 192.0.2.1:5555 and -proxy-dest [2001:db8::1]:25 are of different families`},
		{name: "-proxy-source alone", args: []string{"-proxy-header", "v1", "-proxy-source", "192.0.2.1:5555", "{addr}"},
			want: `give -proxy-source and -proxy-dest together, or neither`},
		{name: "-proxy-source without -proxy-header", args: []string{"-proxy-source", "192.0.2.1:5555", "-proxy-dest", "192.0.2.2:25", "{addr}"},
			want: `-proxy-source and -proxy-dest need -proxy-header v1 or v2`},
		{name: "-proxy-source not ip:port", args: []string{"-proxy-header", "v1", "-proxy-source", "client.example:1", "-proxy-dest", "192.0.2.2:25", "{addr}"},
			want: `-proxy-source "client.example:1": want ip:port`},
		{name: "-4 and -6", args: []string{"-4", "-6", "{addr}"}, want: `choose -4 or -6, not both`},
		{name: "-bind not an address", args: []string{"-bind", "eth0", "{addr}"}, want: `-bind "eth0": want a local IP address`},
		{name: "-bind of the other family", args: []string{"-6", "-bind", "127.0.0.2", "{addr}"}, want: `-bind 127.0.0.2 is not of the family -4 or -6 asks for`},
		{name: "unix socket missing", args: []string{"unix:/nonexistent/lmtp.sock"}, want: `target "unix:/nonexistent/lmtp.sock": stat /nonexistent/lmtp.sock: no such file or directory`},
		{name: "unix path not a socket", args: []string{"unix:{pwfile}"}, want: `is not a unix socket`},
		{name: "unix path relative", args: []string{"unix:lmtp.sock"}, want: `want unix:/absolute/path`},
		{name: "unix socket with -4", args: []string{"-4", "unix:/nonexistent/lmtp.sock"}, want: `stat /nonexistent/lmtp.sock`},
		{name: "empty -xclient", args: []string{"-xclient", "", "{addr}"}, want: `-xclient: empty value`},
		// TLS flags.
		{name: "-tls-min unknown", args: []string{"-tls-min", "1.4", "{addr}"}, want: `-tls-min "1.4": want 1.0, 1.1, 1.2 or 1.3`},
		{name: "-tls-min above -tls-max", args: []string{"-tls-min", "1.3", "-tls-max", "1.2", "{addr}"}, want: `-tls-min 1.3 is above -tls-max 1.2`},
		{name: "-ciphers unknown", args: []string{"-ciphers", "RC4-MD5", "{addr}"}, want: `-ciphers: "RC4-MD5" is not a TLS 1.0-1.2 cipher suite`},
		{name: "-ciphers of TLS 1.3", args: []string{"-ciphers", "TLS_AES_128_GCM_SHA256", "{addr}"}, want: `(TLS 1.3's cannot be chosen)`},
		{name: "-cert without -key", args: []string{"-cert", "{pwfile}", "{addr}"}, want: `-cert and -key go together`},
		{name: "-cert not a certificate", args: []string{"-cert", "{pwfile}", "-key", "{pwfile}", "{addr}"}, want: `-cert {pwfile}, -key {pwfile}: tls: failed to find any PEM data`},
		{name: "-auth EXTERNAL without -cert", args: []string{"-auth", "external", "{addr}"}, want: `-auth EXTERNAL needs -cert and -key`},
		{name: "-tls-max with -no-starttls", args: []string{"-no-starttls", "-tls-max", "1.2", "{addr}"}, want: `do nothing with -no-starttls`},
		// Message flags.
		{name: "-attach with -body", args: []string{"-attach", "{pwfile}", "-body", "{pwfile}", "-to", "bob@example.test", "{addr}"},
			want: `-attach does not go with -body`},
		{name: "-attach without -to", args: []string{"-attach", "{pwfile}", "{addr}"}, want: `-attach needs a recipient (-to)`},
		{name: "-attach missing", args: []string{"-attach", "/nonexistent/file.pdf", "-to", "bob@example.test", "{addr}"},
			want: `-attach: stat /nonexistent/file.pdf: no such file or directory`},
		{name: "-bdat without -to", args: []string{"-bdat", "{addr}"}, want: `-bdat needs -to`},
		{name: "-show-body without -to", args: []string{"-show-body", "{addr}"}, want: `-show-body needs -to`},
		{name: "-xclient with -i", args: []string{"-i", "-xclient", "ADDR=192.0.2.7", "{addr}"}, want: `-xclient does not go with -i`},
		{name: "-save-chain with -targets", args: []string{"-targets", "-", "-save-chain", "{pwfile}"}, list: "{addr}\n",
			want: `-save-chain writes the chain of one target`},
		{name: "-timings with -json", args: []string{"-timings", "-json", "{addr}"}, want: `-timings is for the text output`},
		// Lines of a -targets list.
		{name: "list: empty host", args: []string{"-targets", "-"}, list: ":{port}\n", want: `target ":{port}": want host[:port] (empty host)`},
		{name: "list: port missing", args: []string{"-targets", "-"}, list: "# one\n\n127.0.0.1:\n", want: `(port missing after ':')`},
		{name: "list: port out of range", args: []string{"-targets", "-"}, list: "127.0.0.1:65536\n", want: `(port 65536 is out of range 1-65535)`},
		{name: "list: open bracket", args: []string{"-targets", "-"}, list: "[::1\n", want: `('[' without ']')`},
		{name: "list: space inside", args: []string{"-targets", "-"}, list: "  127.0.0.1 {port}  \n", want: `(holds a space)`},
		{name: "list: control byte", args: []string{"-targets", "-"}, list: "127.0.0.1:{port}\x1b[2J\n", want: `(holds the control byte '\x1b')`},
		{name: "list: mail address", args: []string{"-targets", "-"}, list: "postmaster@localhost\n", want: `(looks like a mail address`},
		{name: "list: IP with -mx", args: []string{"-mx", "-targets", "-"}, list: "127.0.0.1\n", want: `(-mx needs a mail domain, not an IP address)`},
		{name: "list: many bad lines", args: []string{"-targets", "-"}, list: "127.0.0.1:x\n[127.0.0.1]:\n:{port}\n", want: `(port "x" is not a number)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seams := &countingSeams{}
			args := make([]string, len(tt.args))
			for i, a := range tt.args {
				args[i] = expand(a)
			}
			want := expand(tt.want)
			before := len(srv.Sessions())
			r := runSeams(t, seams, expand(tt.list), args...)
			switch {
			case r.code != exitUsage:
				t.Errorf("exit %d, want %d\nstdout: %q\nstderr: %q", r.code, exitUsage, r.stdout, r.stderr)
			case tt.nagios:
				if !strings.HasPrefix(r.stdout, want) || strings.Count(r.stdout, "\n") != 1 || r.stderr != "" {
					t.Errorf("stdout %q, stderr %q; want one line beginning %q", r.stdout, r.stderr, want)
				}
			case strings.HasPrefix(tt.name, "list: "): // the list's lines are refused, one report each
				checkInvalidLines(t, r, want)
			default:
				if !strings.Contains(r.stderr, want) || strings.Count(r.stderr, "\n") != 1 || r.stdout != "" ||
					!strings.HasPrefix(r.stderr, "smtpprobe: ") || !strings.HasSuffix(r.stderr, ". Run 'smtpprobe -h' for the flags.\n") {
					t.Errorf("stdout %q, stderr %q; want one line on stderr holding %q", r.stdout, r.stderr, want)
				}
			}
			if n := len(srv.Sessions()) - before; n != 0 {
				t.Errorf("the test server had %d connections", n)
			}
			if d, l := seams.dials.Load(), seams.lookups.Load(); d != 0 || l != 0 {
				t.Errorf("%d dials and %d lookups, want none", d, l)
			}
		})
	}
}

// checkInvalidLines checks the output of a batch whose every line is no
// valid target: one report a line, each an invalid-input error of no
// stage, the first saying want; stderr counts them.
func checkInvalidLines(t *testing.T, r result, want string) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	for i, line := range lines {
		var rep scan.Report
		if err := json.Unmarshal([]byte(line), &rep); err != nil {
			t.Fatalf("line %d is no Report: %v\n%s", i+1, err, line)
		}
		if rep.Success || rep.Error == nil || rep.Error.Class != scan.ClassInvalidInput || rep.Error.Stage != "" || len(rep.Phases) != 0 {
			t.Errorf("line %d: %s", i+1, line)
		}
		if i == 0 && !strings.Contains(rep.Error.Message, want) {
			t.Errorf("message %q lacks %q", rep.Error.Message, want)
		}
	}
	if wantErr := "lines that are no valid target: " + strconv.Itoa(len(lines)) + " "; !strings.Contains(r.stderr, wantErr) {
		t.Errorf("stderr %q lacks %q", r.stderr, wantErr)
	}
}

// TestBatchGoesOn: a list line that is no valid target gets its
// invalid-input report and the batch goes on with the others; the exit
// code is 3, for the list's error.
func TestBatchGoesOn(t *testing.T) {
	srv := fakeserver.NewTB(t, fakeserver.Config{})
	seams := &countingSeams{}
	list := srv.Addr() + "\n" + srv.Addr() + ":25\n" + srv.Addr() + "\n"
	r := runSeams(t, seams, list, "-targets", "-", "-concurrency", "1", "-quit-after", "ehlo")
	if r.code != exitUsage {
		t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	var ok, invalid int
	for _, line := range strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n") {
		var rep scan.Report
		if err := json.Unmarshal([]byte(line), &rep); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		switch {
		case rep.Success && rep.Target == srv.Addr():
			ok++
		case rep.Error != nil && rep.Error.Class == scan.ClassInvalidInput && rep.Target == srv.Addr()+":25":
			invalid++
		default:
			t.Errorf("unexpected report: %s", line)
		}
	}
	if ok != 2 || invalid != 1 || seams.dials.Load() != 2 {
		t.Errorf("%d probed, %d invalid, %d dials; want 2, 1, 2", ok, invalid, seams.dials.Load())
	}
	if recs, err := srv.WaitSessions(2, 5*time.Second); err != nil || len(recs) != 2 {
		t.Errorf("server sessions %d, err %v; want 2", len(recs), err)
	}
}

// TestGoodInput: what the checks let through still works: the null sender
// as "" and as "<>", an IPv6 literal in brackets, a bare IPv6 address, a
// -timeout in bare seconds, and the demo without any argument.
func TestGoodInput(t *testing.T) {
	srv := fakeserver.NewTB(t, fakeserver.Config{})
	for _, from := range []string{"", "<>"} {
		r := runCLI(t, "-from", from, "-to", "bob@example.test", "-quit-after", "rcpt", "-timeout", "5", srv.Addr())
		if r.code != exitOK {
			t.Fatalf("-from %q: exit %d\n%s%s", from, r.code, r.stdout, r.stderr)
		}
		assertContains(t, r.stdout, "C: MAIL FROM:<>\n", "C: RCPT TO:<bob@example.test>")
	}
	if ln, err := net.Listen("tcp", "[::1]:0"); err == nil {
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		ln.Close()
		r := runCLI(t, "-quit-after", "connect", "[::1]:"+port)
		if r.code != exitConnect { // the target passed the checks and was dialled
			t.Errorf("[::1]:%s: exit %d, stderr %q", port, r.code, r.stderr)
		}
	}
	if err := checkTarget("2001:db8::25", false); err != nil {
		t.Errorf("bare IPv6 address refused: %v", err)
	}
	for _, ok := range []string{"mail.example.test", "mail.example.test.", "MX_1.example.test:587", "[192.0.2.1]:25", "[2001:db8::1]", "192.0.2.1"} {
		if err := checkTarget(ok, false); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
}

// TestTimeoutSeconds: -timeout takes bare seconds, as -warn does, and Go
// durations still.
func TestTimeoutSeconds(t *testing.T) {
	for _, tt := range []struct {
		arg  string
		want time.Duration
	}{{"5", 5 * time.Second}, {"0.25", 250 * time.Millisecond}, {"1m30s", 90 * time.Second}, {"750ms", 750 * time.Millisecond}} {
		c, _, err := parseConfig([]string{"-timeout", tt.arg, "mx.example.test"}, func(string) string { return "" })
		if err != nil {
			t.Errorf("-timeout %s: %v", tt.arg, err)
		} else if c.timeout != tt.want {
			t.Errorf("-timeout %s: %v, want %v", tt.arg, c.timeout, tt.want)
		}
	}
	srv := fakeserver.NewTB(t, fakeserver.Config{Misbehave: map[string]fakeserver.Step{fakeserver.StepConnect: fakeserver.Silent()}})
	start := time.Now()
	r := runCLI(t, "-timeout", "0.3", srv.Addr())
	if r.code != exitBanner || time.Since(start) > 10*time.Second {
		t.Fatalf("exit %d after %v: %s", r.code, time.Since(start), r.stdout)
	}
}

// TestVersion: -version prints the module version; a test binary has
// none, so it says "(devel)", as a build from a checkout does.
func TestVersion(t *testing.T) {
	r := runCLI(t, "-version")
	if r.code != exitOK || r.stdout != "smtpprobe "+version()+"\n" || r.stderr != "" {
		t.Errorf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if v := version(); v != "(devel)" && !strings.HasPrefix(v, "v") {
		t.Errorf("version %q: want (devel) or vX.Y.Z", v)
	}
}
