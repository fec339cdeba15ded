package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/smtpprobe/probe"
)

// shellHelp lists the built-in commands of -i, as .help shows them.
var shellHelp = [...]struct{ usage, help string }{
	{".help", "this list"},
	{".ehlo [NAME]", "EHLO (LHLO with -lmtp) as NAME, or -ehlo, or the local address; .caps shows the result"},
	{".starttls [ehlo]", "STARTTLS and the TLS handshake, with the certificate's verdicts; with ehlo, EHLO again inside TLS"},
	{".auth [MECH [USER]]", "AUTH with MECH (plain, login, cram-md5, scram-sha-1, scram-sha-256, xoauth2, oauthbearer, external, anonymous; default -auth) as USER (default -user, else asked); the password (token for the OAuth ones) comes from -password-file or $SMTPPROBE_PASSWORD, else is asked without echo (in a script: the next line)"},
	{".data [FILE]", "DATA with the message in FILE, or typed up to a lone \".\" (in a script: the lines up to it), sent dot-stuffed; MAIL and RCPT first"},
	{".caps", "what the last EHLO announced"},
	{".tls", "the TLS report: protocol, cipher, key exchange, certificates and verdicts"},
	{".save FILE", "write the transcript so far to FILE, as JSON when FILE ends in .json; credentials stay redacted"},
	{".quit", "QUIT and leave (so do the end of the input and Ctrl-D)"},
}

// builtin plays a line beginning with a dot.
func (sh *shell) builtin(ctx context.Context, line string) {
	words := strings.Fields(line)
	name, args := strings.ToLower(words[0]), words[1:]
	switch {
	case name == ".help" && len(args) == 0:
		sh.help()
	case name == ".ehlo" && len(args) <= 1:
		sh.ehlo(ctx, strings.Join(args, ""))
	case name == ".starttls" && (len(args) == 0 || len(args) == 1 && strings.EqualFold(args[0], "ehlo")):
		if sh.startTLS(ctx) && len(args) == 1 {
			sh.ehlo(ctx, "")
		}
	case name == ".auth" && len(args) <= 2:
		sh.auth(ctx, args)
	case name == ".data" && len(args) <= 1:
		sh.sendData(ctx, strings.Join(args, ""))
	case name == ".caps" && len(args) == 0:
		sh.showCaps()
	case name == ".tls" && len(args) == 0:
		sh.showTLS()
	case name == ".save" && len(args) == 1:
		sh.save(args[0])
	case name == ".quit" && len(args) == 0:
		sh.quit(ctx)
	default:
		for _, h := range shellHelp {
			if strings.HasPrefix(h.usage, name+" ") || h.usage == name {
				sh.usage("usage: " + h.usage)
				return
			}
		}
		sh.usage(fmt.Sprintf("%s is no built-in command; .help lists them", escapeControls(name)))
	}
}

// completeBuiltin completes the name of a built-in at Tab, when one
// alone begins with what was typed; term.Terminal calls it at each key.
func completeBuiltin(line string, pos int, key rune) (string, int, bool) {
	if key != '\t' || pos != len(line) || !strings.HasPrefix(line, ".") || strings.ContainsRune(line, ' ') {
		return "", 0, false
	}
	match := ""
	for _, h := range shellHelp {
		name, _, _ := strings.Cut(h.usage, " ")
		if strings.HasPrefix(name, strings.ToLower(line)) {
			if match != "" {
				return "", 0, false
			}
			match = name
		}
	}
	if match == "" {
		return "", 0, false
	}
	return match + " ", len(match) + 1, true
}

// usage reports a built-in that could not run as typed.
func (sh *shell) usage(s string) {
	sh.remark(s)
	sh.status = exitUsage
}

func (sh *shell) help() {
	sh.pr.printf("Lines are sent to the server as typed; STARTTLS, QUIT, EHLO and HELO are known to the session.\n")
	sh.pr.printf("After a DATA answered 354 the lines are the message, as typed, up to a lone \".\".\n")
	sh.pr.printf("Lines beginning with a dot are built-in commands; blank lines and lines beginning with # are skipped.\n\n")
	for _, h := range shellHelp {
		sh.pr.printf("  %s %s\n", sh.pr.style(styleBold, fmt.Sprintf("%-20s", h.usage)), h.help)
	}
	if sh.tty {
		sh.pr.printf("\nCtrl-C abandons the line typed, or interrupts a command waiting for its reply (which ends the session); Ctrl-D quits.\n")
	}
}

// ehlo sends EHLO with name ("" for the default) and keeps what it
// announced. It reports success.
func (sh *shell) ehlo(ctx context.Context, name string) bool {
	var caps *probe.Capabilities
	err := sh.step(ctx, func(ctx context.Context) error {
		var err error
		caps, err = sh.conn.Ehlo(ctx, name)
		return err
	})
	sh.show(false)
	if err != nil {
		sh.failed(err)
		return false
	}
	sh.caps, sh.status = caps, exitOK
	return true
}

// startTLS sends STARTTLS, runs the handshake and shows its verdict. It
// reports whether TLS is on.
func (sh *shell) startTLS(ctx context.Context) bool {
	var info *probe.TLSInfo
	err := sh.step(ctx, func(ctx context.Context) error {
		var err error
		info, err = sh.conn.StartTLS(ctx, nil)
		return err
	})
	sh.show(false)
	sh.tlsOutcome(info, err, "")
	if err != nil {
		sh.failed(err)
		return false
	}
	sh.caps, sh.status = nil, exitOK
	return true
}

// tlsVerdict shows the TLS summary in one line.
func (sh *shell) tlsVerdict(info *probe.TLSInfo) {
	sh.pr.field("TLS", sh.pr.tlsSummary(info))
}

// auth plays .auth [MECH [USER]]: it asks for what is missing, then runs
// the exchange; the secret is never shown nor recorded.
func (sh *shell) auth(ctx context.Context, args []string) {
	mech := strings.ToUpper(sh.c.auth)
	if len(args) > 0 {
		mech = strings.ToUpper(args[0])
	}
	if mech == "" || !knownMechanism(mech) {
		offered := "none announced"
		if sh.caps != nil && len(sh.caps.Auth) > 0 {
			offered = strings.Join(sh.caps.Auth, " ")
		}
		sh.usage(fmt.Sprintf("usage: .auth MECH [USER], MECH one of %s (offered: %s)",
			strings.ToLower(strings.Join(knownMechanisms[:], ", ")), offered))
		return
	}
	if needsPassword(mech) && sh.conn.TLS() == nil && !sh.d.AllowInsecureAuth {
		sh.usage("AUTH " + mech + " without TLS would send the credentials in clear: .starttls first, or run with -plaintext-auth")
		return
	}
	user := sh.c.user
	if len(args) > 1 {
		user = args[1]
	}
	var err error
	if user == "" && mech != sasl.External && mech != sasl.Anonymous {
		if user, err = sh.in.line("Username: "); err != nil {
			sh.abandoned("AUTH", err)
			return
		}
	}
	secret := sh.c.password
	if secret == "" && needsPassword(mech) {
		prompt := "Password: "
		if mech == "XOAUTH2" || mech == sasl.OAuthBearer {
			prompt = "Token: "
		}
		if secret, err = sh.in.secret(prompt); err != nil {
			sh.abandoned("AUTH", err)
			return
		}
	}
	var r *probe.Reply
	err = sh.step(ctx, func(ctx context.Context) error {
		var err error
		r, err = sh.authenticate(ctx, mech, user, secret)
		return err
	})
	sh.show(false)
	if err != nil {
		sh.failed(err)
		return
	}
	sh.replied(r)
}

// authenticate runs AUTH mech with the Conn's own methods or a SASL
// client, which keep the credentials out of the transcript.
func (sh *shell) authenticate(ctx context.Context, mech, user, secret string) (*probe.Reply, error) {
	var client sasl.Client
	switch mech {
	case sasl.Plain:
		return sh.conn.AuthPlain(ctx, "", user, secret)
	case sasl.Login:
		return sh.conn.AuthLogin(ctx, user, secret)
	case "CRAM-MD5":
		client = probe.NewCRAMMD5Client(user, secret)
	case "SCRAM-SHA-1":
		client = probe.NewSCRAMSHA1Client(user, secret)
	case "SCRAM-SHA-256":
		client = probe.NewSCRAMSHA256Client(user, secret)
	case "XOAUTH2":
		client = probe.NewXOAuth2Client(user, secret)
	case sasl.OAuthBearer:
		host, _, err := net.SplitHostPort(sh.addr())
		if err != nil {
			host = sh.target
		}
		client = sasl.NewOAuthBearerClient(&sasl.OAuthBearerOptions{Username: user, Token: secret, Host: host})
	case sasl.External:
		client = sasl.NewExternalClient(user)
	case sasl.Anonymous:
		client = sasl.NewAnonymousClient(user)
	default:
		return nil, fmt.Errorf("no client for %s", mech)
	}
	return sh.conn.Auth(ctx, client)
}

// abandoned reports a built-in left before anything was sent: Ctrl-C, or
// the end of the input.
func (sh *shell) abandoned(what string, err error) {
	if errors.Is(err, errInterrupted) {
		sh.remark(what + " abandoned: nothing was sent")
		return
	}
	sh.remark(what + " abandoned, nothing was sent: the input ended (" + err.Error() + ")")
	sh.status = exitError
}

// sendData plays .data [FILE]: the message from the file, or typed up to
// a lone ".", sent with DATA, dot-stuffed.
func (sh *shell) sendData(ctx context.Context, file string) {
	var body io.Reader
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			sh.remark(".data: " + err.Error())
			sh.status = exitError
			return
		}
		defer f.Close()
		body = f
	} else {
		msg, err := sh.readMessage()
		if err != nil {
			sh.abandoned("the message", err)
			return
		}
		body = strings.NewReader(msg)
	}
	var r *probe.Reply
	err := sh.step(ctx, func(ctx context.Context) error {
		var err error
		if !sh.c.lmtp {
			r, err = sh.conn.Data(ctx, body)
			return err
		}
		var rs []*probe.Reply
		rs, err = sh.conn.DataLMTP(ctx, body, sh.rcpts)
		if len(rs) > 0 {
			r = rs[len(rs)-1]
		}
		return err
	})
	sh.messageDone(false, r, err)
}

// readMessage reads the lines of a message up to a lone ".", and returns
// them with CRLF line endings.
func (sh *shell) readMessage() (string, error) {
	if sh.tty {
		sh.remark("type the message; a line with a lone \".\" ends it, Ctrl-C abandons it")
	}
	var b strings.Builder
	for {
		l, err := sh.in.bodyLine(sh.pr.mark(sh.conn.TLS() != nil) + sh.pr.style(styleDim, "> "))
		if err != nil {
			return "", err
		}
		if l == "." {
			return b.String(), nil
		}
		b.WriteString(l + "\r\n")
	}
}

// showCaps shows what the last EHLO announced.
func (sh *shell) showCaps() {
	c := sh.caps
	if c == nil {
		sh.remark("nothing announced yet: send EHLO (.ehlo); STARTTLS forgets what was announced before it")
		return
	}
	if c.FromHELO {
		sh.pr.field("Server", "answered HELO: no extensions")
		return
	}
	sh.pr.field("Server", escapeControls(strings.TrimSpace(c.Domain+" "+c.Greeting)))
	for i, e := range c.Extensions {
		name := ""
		if i == 0 {
			name = "Extension"
		}
		line := e.Line
		if line == "" {
			line = strings.TrimSpace(e.Keyword + " " + strings.Join(e.Params, " "))
		}
		sh.pr.printf("%s %s\n", sh.pr.style(styleBold, fmt.Sprintf("%-10s", name+sep(name))), escapeControls(line))
	}
	if len(c.Auth) > 0 {
		sh.pr.field("AUTH", escapeControls(strings.Join(c.Auth, " ")))
	}
	if c.Size > 0 {
		sh.pr.field("SIZE", fmt.Sprintf("%d bytes", c.Size))
	}
}

// showTLS shows the TLS report of the session.
func (sh *shell) showTLS() {
	t := sh.conn.TLS()
	sh.tlsVerdict(t)
	if t == nil {
		return
	}
	if t.KeyExchange != "" {
		sh.pr.field("Exchange", escapeControls(t.KeyExchange))
	}
	sni := "none (an IP address)"
	if t.ServerName != "" {
		sni = escapeControls(t.ServerName)
	}
	sh.pr.field("SNI", sni)
	took := t.HandshakeDuration.Round(time.Millisecond).String()
	if t.Resumed {
		took += ", resumed"
	}
	sh.pr.field("Handshake", took)
	for i, c := range t.Chain {
		sh.pr.field(fmt.Sprintf("Cert %d", i), fmt.Sprintf("%s, issued by %s", escapeControls(c.Subject), escapeControls(c.Issuer)))
		names := strings.Join(append(append([]string(nil), c.DNSNames...), c.IPAddresses...), ", ")
		if names != "" {
			sh.more("names " + escapeControls(names))
		}
		sh.more(fmt.Sprintf("valid %s to %s (%d days left), %s %d, %s",
			c.NotBefore.UTC().Format(time.DateOnly), c.NotAfter.UTC().Format(time.DateOnly), c.DaysLeft,
			c.KeyType, c.KeyBits, c.SignatureAlgorithm))
		sh.more("sha256 " + c.SHA256)
	}
	for _, p := range t.Problems {
		sh.pr.field("Problem", sh.pr.style(styleRed, escapeControls(p)))
	}
}

// more continues a field on the next line.
func (sh *shell) more(value string) {
	sh.pr.printf("%-10s %s\n", "", value)
}

// save writes the transcript so far to a file: text, or JSON for a name
// ending in .json. Lines typed that carried credentials stay redacted.
func (sh *shell) save(name string) {
	tr, err := sh.transcript()
	var b []byte
	if err == nil {
		if strings.HasSuffix(strings.ToLower(name), ".json") {
			b, err = tr.MarshalJSON()
		} else {
			b = []byte(tr.String())
		}
	}
	if err == nil {
		err = os.WriteFile(name, b, 0o600)
	}
	if err != nil {
		sh.remark(".save: " + err.Error())
		sh.status = exitError
		return
	}
	sh.remark(fmt.Sprintf("saved %d lines to %s", tr.Len(), escapeControls(name)))
}

// transcript is the session's transcript, with the lines typed that
// carried credentials redacted as the library redacts its own.
func (sh *shell) transcript() (*probe.Transcript, error) {
	tr := sh.conn.Transcript()
	if len(sh.secrets) == 0 {
		return tr, nil
	}
	b, err := tr.MarshalJSON()
	if err != nil {
		return nil, err
	}
	var doc struct {
		Start   json.RawMessage   `json:"start"`
		Entries []json.RawMessage `json:"entries"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	es := tr.Entries()
	for i, stand := range sh.secrets {
		if i >= len(doc.Entries) || i >= len(es) {
			continue
		}
		e := es[i]
		e.Text, e.Redacted = stand, true
		if doc.Entries[i], err = json.Marshal(e); err != nil {
			return nil, err
		}
	}
	if b, err = json.Marshal(doc); err != nil {
		return nil, err
	}
	out := new(probe.Transcript)
	return out, out.UnmarshalJSON(b)
}

// tlsOutcome shows what a TLS start gave: the verdict on the certificate
// (also when it failed verification) and, on error, prefix and the error
// when prefix is set, and the way past an untrusted certificate.
func (sh *shell) tlsOutcome(info *probe.TLSInfo, err error, prefix string) {
	var te *probe.TLSError
	if info == nil && errors.As(err, &te) {
		info = te.Info
	}
	if info != nil {
		sh.tlsVerdict(info)
	}
	if err == nil {
		return
	}
	if prefix != "" {
		sh.remark(prefix + err.Error())
	}
	if te != nil && te.Info != nil && !sh.c.insecure {
		sh.remark("the certificate did not verify (with -insecure the session goes on whatever the certificate)")
	}
}

// messageDone shows the end of a message: the transcript (with the lines
// typed, or without), then the failure or the final reply; the recipients
// counted for LMTP start again.
func (sh *shell) messageDone(typed bool, r *probe.Reply, err error) {
	sh.show(typed)
	if err != nil {
		sh.failed(err)
		return
	}
	sh.rcpts = 0
	sh.replied(r)
}
