package probe

import "testing"

func TestQueueID(t *testing.T) {
	tests := []struct {
		name  string
		code  int
		lines []string
		want  string
	}{
		{"postfix seed", 250, []string{"2.0.0 Ok: queued as 6A4C1D5153E"}, "6A4C1D5153E"},
		{"postfix long id", 250, []string{"2.0.0 Ok: queued as 4Xj3Kq1Z0bz9rxR"}, "4Xj3Kq1Z0bz9rxR"},
		{"postfix lmtp", 250, []string{"2.0.0 <a@example.test> Ok: queued as ABC123"}, "ABC123"},
		{"qmail seed", 250, []string{"ok 1113954693 qp 29052"}, "1113954693 qp 29052"},
		{"qmail telnet seed", 250, []string{"ok 1103093638 qp 87827"}, "1103093638 qp 87827"},
		{"exim", 250, []string{"OK id=1rABCd-000123-4X"}, "1rABCd-000123-4X"},
		{"sendmail", 250, []string{"2.0.0 x8AAbcde012345 Message accepted for delivery"}, "x8AAbcde012345"},
		{"exchange", 250, []string{"2.6.0 <a1b2c3@EXCH01.corp.example.com> [InternalId=12345678901234, Hostname=EXCH01.corp.example.com] Queued mail for delivery"}, "12345678901234"},
		{"exchange online", 250, []string{"2.6.0 <m@x.prod.outlook.com> [InternalId=87960930222, Hostname=AM0PR01MB1234.eurprd01.prod.exchangelabs.com] 9585 bytes in 0.123, 75.966 KB/sec Queued mail for delivery"}, "87960930222"},
		{"exchange without internal id", 250, []string{"2.6.0 <a1b2c3@EXCH01.corp.example.com> Queued mail for delivery"}, "a1b2c3@EXCH01.corp.example.com"},
		{"gmail", 250, []string{"2.0.0 OK  1700000000 a1-20020a05600c000000b00400000000si123456wmq.12 - gsmtp"}, "a1-20020a05600c000000b00400000000si123456wmq.12"},
		{"ok id", 250, []string{"Ok 0100018c1e2f3a4b-5c6d7e8f-0000-0000-0000-000000000000-000000"}, "0100018c1e2f3a4b-5c6d7e8f-0000-0000-0000-000000000000-000000"},
		{"ok: <id>", 250, []string{"ok: <A1B2C3D4>"}, "A1B2C3D4"},
		{"multi-line", 250, []string{"2.0.0 Message accepted", "2.0.0 Ok: queued as QID42"}, "QID42"},
		{"bare ok", 250, []string{"ok"}, ""},
		{"Ok with enhanced code", 250, []string{"2.0.0 Ok"}, ""},
		{"ok and words", 250, []string{"OK, message accepted"}, ""},
		{"no text", 250, nil, ""},
		{"refusal", 554, []string{"5.7.1 rejected: queued as NOTHING"}, ""},
		{"junk id refused", 250, []string{"queued as <\x1b[2J>"}, ""},
	}
	for _, tc := range tests {
		r := &Reply{Code: tc.code, Lines: tc.lines}
		if got := r.QueueID(); got != tc.want {
			t.Errorf("%s: QueueID(%q) = %q, want %q", tc.name, r, got, tc.want)
		}
	}
	var nilReply *Reply
	if got := nilReply.QueueID(); got != "" {
		t.Errorf("nil reply: %q", got)
	}
}
