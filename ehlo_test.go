package probe

import (
	"net"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The EHLO lists quoted in the seed tutorials, as the server sent them.
var seedEhloLists = map[string]string{
	"000-plain": `250-smtp.yourdomain.com
250-PIPELINING
250-SIZE 36360000
250-VRFY
250-ETRN
250-STARTTLS
250-ENHANCEDSTATUSCODES
250-8BITMIME
250 DSN`,
	"000-tls": `250-smtp.yourdomain.com
250-PIPELINING
250-SIZE 36360000
250-VRFY
250-ETRN
250-AUTH PLAIN LOGIN
250-AUTH=PLAIN LOGIN
250-ENHANCEDSTATUSCODES
250-8BITMIME
250 DSN`,
	"001": `250-mail.example.com Hello hostname.example.com [10.10.10.10], pleased to meet you
250-ENHANCEDSTATUSCODES
250-PIPELINING
250-8BITMIME
250-SIZE
250-DSN
250-AUTH LOGIN PLAIN
250-DELIVERBY
250 HELP`,
	"002-starttls": `250-a.mx.jms1.net NO UCE
250-STARTTLS
250-PIPELINING
250 8BITMIME`,
	"002-auth": `250-a.mx.jms1.net NO UCE
250-AUTH LOGIN PLAIN
250-AUTH=LOGIN PLAIN
250-PIPELINING
250 8BITMIME`,
	"003": `250-mail.server.local
250-AUTH LOGIN PLAIN
250-AUTH LOGIN PLAIN
250-STARTTLS
250-PIPELINING
250 8BITMIME`,
}

// replyLines strips the codes from a quoted reply.
func replyLines(t *testing.T, quoted string) []string {
	t.Helper()
	var lines []string
	for _, l := range strings.Split(quoted, "\n") {
		rl, err := parseReplyLine(l)
		if err != nil {
			t.Fatalf("parse %q: %v", l, err)
		}
		lines = append(lines, rl.text)
	}
	return lines
}

func TestParseCapabilitiesSeeds(t *testing.T) {
	tests := []struct {
		seed                  string
		domain, greeting      string
		auth                  []string
		size                  int64
		starttls, pipe, vrfy  bool
		etrn, enh, eight, dsn bool
		has                   []string
	}{
		{seed: "000-plain", domain: "smtp.yourdomain.com", size: 36360000, starttls: true, pipe: true, vrfy: true, etrn: true, enh: true, eight: true, dsn: true},
		{seed: "000-tls", domain: "smtp.yourdomain.com", auth: []string{"PLAIN", "LOGIN"}, size: 36360000, pipe: true, vrfy: true, etrn: true, enh: true, eight: true, dsn: true},
		{seed: "001", domain: "mail.example.com", greeting: "Hello hostname.example.com [10.10.10.10], pleased to meet you",
			auth: []string{"LOGIN", "PLAIN"}, pipe: true, enh: true, eight: true, dsn: true, has: []string{"DELIVERBY", "help", "Size"}},
		{seed: "002-starttls", domain: "a.mx.jms1.net", greeting: "NO UCE", starttls: true, pipe: true, eight: true},
		{seed: "002-auth", domain: "a.mx.jms1.net", greeting: "NO UCE", auth: []string{"LOGIN", "PLAIN"}, pipe: true, eight: true},
		{seed: "003", domain: "mail.server.local", auth: []string{"LOGIN", "PLAIN"}, starttls: true, pipe: true, eight: true},
	}
	for _, tt := range tests {
		t.Run(tt.seed, func(t *testing.T) {
			caps, notes := ParseCapabilities(replyLines(t, seedEhloLists[tt.seed]))
			if len(notes) != 0 {
				t.Errorf("notes = %q, want none", notes)
			}
			if caps.Domain != tt.domain || caps.Greeting != tt.greeting {
				t.Errorf("domain, greeting = %q, %q; want %q, %q", caps.Domain, caps.Greeting, tt.domain, tt.greeting)
			}
			if !reflect.DeepEqual(caps.Auth, tt.auth) {
				t.Errorf("Auth = %q, want %q", caps.Auth, tt.auth)
			}
			got := []bool{caps.StartTLS, caps.Pipelining, caps.VRFY, caps.ETRN, caps.EnhancedStatusCodes, caps.EightBitMIME, caps.DSN}
			want := []bool{tt.starttls, tt.pipe, tt.vrfy, tt.etrn, tt.enh, tt.eight, tt.dsn}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("StartTLS, Pipelining, VRFY, ETRN, EnhancedStatusCodes, 8BITMIME, DSN = %v, want %v", got, want)
			}
			if caps.Size != tt.size {
				t.Errorf("Size = %d, want %d", caps.Size, tt.size)
			}
			for _, k := range tt.has {
				if !caps.Has(k) {
					t.Errorf("Has(%q) = false", k)
				}
			}
			if caps.Has("XNOTTHERE") || caps.Param("XNOTTHERE") != nil {
				t.Error("an absent keyword was found")
			}
		})
	}
}

func TestParseCapabilitiesExtensions(t *testing.T) {
	caps, notes := ParseCapabilities([]string{
		"mx.example.test greets you",
		"smtputf8",
		"CHUNKING",
		"BINARYMIME",
		"REQUIRETLS",
		"LIMITS RCPTMAX=100 MAILMAX=1000",
		"auth=cram-md5",
		"AUTH PLAIN cram-MD5 SCRAM-SHA-256",
		"",
		"SIZE 99999999999999999999999",
	})
	if !caps.SMTPUTF8 || !caps.Chunking || !caps.BinaryMIME || !caps.RequireTLS {
		t.Errorf("flags not set: %+v", caps)
	}
	if n, ok := caps.Limit("rcptmax"); !ok || n != 100 {
		t.Errorf("Limit(rcptmax) = %d, %v", n, ok)
	}
	if _, ok := caps.Limit("NOPE"); ok {
		t.Error("Limit(NOPE) found")
	}
	if want := []string{"CRAM-MD5", "PLAIN", "SCRAM-SHA-256"}; !reflect.DeepEqual(caps.Auth, want) {
		t.Errorf("Auth = %q, want %q", caps.Auth, want)
	}
	if !caps.SupportsAuth("scram-sha-256") || caps.SupportsAuth("LOGIN") {
		t.Error("SupportsAuth wrong")
	}
	if caps.Size != 0 {
		t.Errorf("Size = %d for an absurd value, want 0", caps.Size)
	}
	if len(notes) != 2 || !strings.Contains(notes[0], "empty") || !strings.Contains(notes[1], "SIZE") {
		t.Errorf("notes = %q", notes)
	}
	if e := caps.Extensions[5]; e.Keyword != "AUTH" || e.Line != "auth=cram-md5" || !reflect.DeepEqual(e.Params, []string{"cram-md5"}) {
		t.Errorf("legacy AUTH extension = %+v", e)
	}
}

func TestParseCapabilitiesDomainOnly(t *testing.T) {
	caps, notes := ParseCapabilities([]string{"mail.example.test"})
	if caps.Domain != "mail.example.test" || len(caps.Extensions) != 0 || len(caps.Auth) != 0 || len(notes) != 0 {
		t.Errorf("got %+v, %q", caps, notes)
	}
	var nilCaps *Capabilities
	if nilCaps.Has("X") || nilCaps.SupportsAuth("PLAIN") || nilCaps.Param("X") != nil {
		t.Error("nil Capabilities answered true")
	}
}

func TestParseCapabilitiesSizeForms(t *testing.T) {
	for _, tt := range []struct {
		line  string
		size  int64
		notes int
	}{
		{"SIZE 36360000", 36360000, 0},
		{"SIZE", 0, 0},
		{"SIZE 0", 0, 0},
		{"SIZE -1", 0, 1},
		{"SIZE junk", 0, 1},
		{"SIZE 9223372036854775807", 9223372036854775807, 0},
		{"SIZE 9223372036854775808", 0, 1},
	} {
		caps, notes := ParseCapabilities([]string{"d", tt.line})
		if caps.Size != tt.size || len(notes) != tt.notes {
			t.Errorf("%q: Size %d notes %q; want %d and %d notes", tt.line, caps.Size, notes, tt.size, tt.notes)
		}
	}
}

func TestParseCapabilitiesManyMechanisms(t *testing.T) {
	mechs := make([]string, 200000)
	for i := range mechs {
		mechs[i] = "X-MECH-" + strconv.Itoa(i)
	}
	start := time.Now()
	caps, notes := ParseCapabilities([]string{"d", "AUTH " + strings.Join(mechs, " "), "AUTH PLAIN x-mech-0"})
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("parsing 200,000 mechanisms took %v", el)
	}
	if len(caps.Auth) != maxAuthMechanisms || caps.Auth[0] != "X-MECH-0" {
		t.Errorf("kept %d mechanisms, first %q", len(caps.Auth), caps.Auth[0])
	}
	if len(notes) != 2 || !strings.Contains(notes[0], "the rest ignored") {
		t.Errorf("notes = %q", notes)
	}
}

func TestAddressLiteral(t *testing.T) {
	for _, tt := range []struct {
		addr net.Addr
		want string
	}{
		{&net.TCPAddr{IP: net.ParseIP("192.0.2.1"), Port: 4242}, "[192.0.2.1]"},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8::1")}, "[IPv6:2001:db8::1]"},
		{&net.TCPAddr{}, "localhost"},
		{&net.UnixAddr{Name: "/tmp/s"}, "localhost"},
	} {
		if got := addressLiteral(tt.addr); got != tt.want {
			t.Errorf("addressLiteral(%v) = %q, want %q", tt.addr, got, tt.want)
		}
	}
}

func TestParseCapabilitiesBadMechanismNames(t *testing.T) {
	caps, notes := ParseCapabilities([]string{"d", "AUTH PLAIN İ x\x01y " + strings.Repeat("A", 21) + " scram-sha-256 GS2_KRB5"})
	if want := []string{"PLAIN", "SCRAM-SHA-256", "GS2_KRB5"}; !reflect.DeepEqual(caps.Auth, want) {
		t.Errorf("Auth = %q, want %q", caps.Auth, want)
	}
	if len(notes) != 1 || !strings.HasPrefix(notes[0], "3 AUTH parameter(s) not SASL mechanism names") || !strings.Contains(notes[0], `"İ"`) {
		t.Errorf("notes = %q", notes)
	}
	if len(caps.Param("AUTH")) != 6 {
		t.Errorf("the raw words must stay in Extensions: %q", caps.Param("AUTH"))
	}
}

// TestIsCanonical compares isCanonical with joining the words, on lines
// that are and are not in canonical form.
func TestIsCanonical(t *testing.T) {
	lines := []string{"", "SIZE", "SIZE 10", "SIZE  10", " SIZE 10", "SIZE 10 ", "SIZE\t10",
		"AUTH PLAIN LOGIN", "AUTH=PLAIN LOGIN", "auth plain", "AUTH PLAINLOGIN", "AUTH PLAIN LOGIN X",
		"8BITMIME", "X-A b  c", "SIZEX 1"}
	for _, line := range lines {
		ext, ok := parseExtension(line)
		if !ok {
			continue
		}
		for _, params := range [][]string{ext.Params, nil, {"10"}, {"PLAIN", "LOGIN"}} {
			want := strings.Join(append([]string{ext.Keyword}, params...), " ") == line
			if got := isCanonical(line, ext.Keyword, params); got != want {
				t.Errorf("isCanonical(%q, %q, %q) = %v, want %v", line, ext.Keyword, params, got, want)
			}
		}
	}
}
