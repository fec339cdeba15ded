package probe

import "strings"

// maxQueueIDLength bounds what QueueID returns.
const maxQueueIDLength = 128

// QueueID returns the identifier a 2xx reply to the end of the data gives
// the message, or "", trying these forms in order ("ok" needs a digit next):
//
//	Postfix and many others  250 2.0.0 Ok: queued as 6A4C1D5153E          6A4C1D5153E
//	Exchange                 250 2.6.0 <m@h> [InternalId=123, …] Queued …  123
//	Exim                     250 OK id=1rABCd-000123-4X                    1rABCd-000123-4X
//	qmail                    250 ok 1113954693 qp 29052                    1113954693 qp 29052
//	Sendmail                 250 2.0.0 x8AAbcde012345 Message accepted …   x8AAbcde012345
//	Exchange, no InternalId  250 2.6.0 <m@h> Queued mail for delivery      m@h
//	Gmail                    250 2.0.0 OK  1700000000 a1si123 - gsmtp      a1si123
//	others                   250 Ok 0100018c…  /  250 ok: <id>             0100018c… / id
func (r *Reply) QueueID() string {
	if !r.Positive() {
		return ""
	}
	words := strings.Fields(strings.Join(r.Lines, " "))
	if len(words) > 0 {
		if _, ok := parseEnhancedToken(words[0]); ok {
			words = words[1:]
		}
	}
	for _, find := range []func([]string) string{
		queuedAs, exchangeInternalID, eximID, qmailID, sendmailID, exchangeMessageID, gmailID, okID,
	} {
		if id := find(words); id != "" {
			return id
		}
	}
	return ""
}

// queuedAs finds "queued as <id>".
func queuedAs(w []string) string {
	for i := 0; i+2 < len(w); i++ {
		if strings.EqualFold(w[i], "queued") && strings.EqualFold(w[i+1], "as") {
			return cleanID(w[i+2])
		}
	}
	return ""
}

// exchangeInternalID finds "[InternalId=<id>," or "[InternalId=<id>]".
func exchangeInternalID(w []string) string {
	for _, word := range w {
		if v, ok := cutPrefixFold(strings.TrimPrefix(word, "["), "InternalId="); ok {
			return cleanID(v)
		}
	}
	return ""
}

// eximID finds "id=<id>".
func eximID(w []string) string {
	for _, word := range w {
		if v, ok := cutPrefixFold(word, "id="); ok {
			return cleanID(v)
		}
	}
	return ""
}

// qmailID finds "ok <timestamp> qp <pid>".
func qmailID(w []string) string {
	for i := 0; i+3 < len(w); i++ {
		if isOK(w[i]) && isDigits(w[i+1]) && strings.EqualFold(w[i+2], "qp") && isDigits(w[i+3]) {
			return w[i+1] + " qp " + w[i+3]
		}
	}
	return ""
}

// sendmailID finds "<id> Message accepted" where id holds a digit.
func sendmailID(w []string) string {
	for i := 0; i+2 < len(w); i++ {
		if strings.EqualFold(w[i+1], "message") && strings.EqualFold(w[i+2], "accepted") {
			return withDigit(cleanID(w[i]))
		}
	}
	return ""
}

// exchangeMessageID finds "<local@host> … Queued mail for delivery".
func exchangeMessageID(w []string) string {
	if len(w) < 2 || !strings.HasPrefix(w[0], "<") || !strings.HasSuffix(w[0], ">") ||
		!strings.Contains(w[0], "@") {
		return ""
	}
	for _, word := range w[1:] {
		if strings.EqualFold(word, "queued") {
			return cleanID(w[0])
		}
	}
	return ""
}

// gmailID finds "OK <timestamp> <id> - gsmtp".
func gmailID(w []string) string {
	n := len(w)
	if n >= 5 && isOK(w[0]) && isDigits(w[1]) && w[n-2] == "-" && strings.EqualFold(w[n-1], "gsmtp") {
		return cleanID(w[2])
	}
	return ""
}

// okID finds "ok <id>" where id holds a digit.
func okID(w []string) string {
	if len(w) < 2 || !isOK(w[0]) {
		return ""
	}
	return withDigit(cleanID(w[1]))
}

// withDigit returns id when it holds a digit, as the identifiers that
// follow a bare word do, and "" for a plain word such as "message".
func withDigit(id string) string {
	if !strings.ContainsAny(id, "0123456789") {
		return ""
	}
	return id
}

// isOK reports whether word is "ok", in any case, with trailing ':' or ','.
func isOK(word string) bool {
	return strings.EqualFold(strings.TrimRight(word, ":,"), "ok")
}

// cleanID strips the punctuation around an identifier and returns "" when
// what is left does not look like one.
func cleanID(s string) string {
	s = strings.Trim(s, "<>[](),;:.'\"")
	if s == "" || len(s) > maxQueueIDLength {
		return ""
	}
	for i := 0; i < len(s); i++ {
		if !isAlnum(s[i]) && !strings.ContainsRune("._@:+=/-", rune(s[i])) {
			return ""
		}
	}
	return s
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return "", false
}
