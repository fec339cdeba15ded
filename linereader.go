package probe

import (
	"bytes"
	"io"
	"strconv"
	"unicode/utf8"
)

// lineEnding says how a line read from the server was terminated.
type lineEnding uint8

const (
	endCRLF lineEnding = iota // the CRLF RFC 5321 requires
	endLF                     // a bare LF
	endCR                     // a bare CR followed by more data
)

// lineReader reads server lines with a hard cap on their length. Unlike
// bufio.Reader it also ends a line at a bare CR, so a server that never
// sends LF cannot make it read without bound.
type lineReader struct {
	r          io.Reader
	buf        []byte
	start, end int
	max        int // longest line accepted, terminator excluded
	err        error
}

func newLineReader(r io.Reader, max int) *lineReader {
	size := 4096
	if max+2 < size {
		size = max + 2
	}
	return &lineReader{r: r, buf: make([]byte, size), max: max}
}

// reset makes lr read from r, with nothing buffered, keeping its buffer.
// The Conn calls it when TLS starts, which it does only when nothing is
// buffered.
func (lr *lineReader) reset(r io.Reader) {
	lr.r, lr.start, lr.end, lr.err = r, 0, 0, nil
}

// buffered returns the bytes read from the connection but not yet consumed.
func (lr *lineReader) buffered() []byte { return lr.buf[lr.start:lr.end] }

// push appends b to the buffered bytes, as if it had been read from the
// connection, growing the buffer beyond its usual size when needed.
func (lr *lineReader) push(b []byte) {
	n := copy(lr.buf, lr.buf[lr.start:lr.end])
	lr.start, lr.end = 0, n
	if lr.end+len(b) > len(lr.buf) {
		grown := make([]byte, lr.end+len(b))
		copy(grown, lr.buf[:lr.end])
		lr.buf = grown
	}
	lr.end += copy(lr.buf[lr.end:], b)
}

// readLine returns the next line without its terminator. The slice is valid
// until the next call.
func (lr *lineReader) readLine() ([]byte, lineEnding, error) {
	for {
		if line, end, ok := lr.scan(); ok {
			if len(line) > lr.max {
				return nil, end, lr.tooLong()
			}
			return line, end, nil
		}
		if lr.end-lr.start > lr.max+1 {
			return nil, endCRLF, lr.tooLong()
		}
		if err := lr.fill(); err != nil {
			return nil, endCRLF, err
		}
	}
}

// scan looks for a complete line among the buffered bytes.
func (lr *lineReader) scan() ([]byte, lineEnding, bool) {
	window := lr.buf[lr.start:lr.end]
	lf := bytes.IndexByte(window, '\n')
	searchCR := window
	if lf >= 0 {
		searchCR = window[:lf]
	}
	// A CR that is neither the last buffered byte nor just before the LF
	// ends a line on its own.
	if cr := bytes.IndexByte(searchCR, '\r'); cr >= 0 && cr+1 < len(window) && window[cr+1] != '\n' {
		lr.start += cr + 1
		return window[:cr], endCR, true
	}
	if lf < 0 {
		return nil, endCRLF, false
	}
	lr.start += lf + 1
	if lf > 0 && window[lf-1] == '\r' {
		return window[:lf-1], endCRLF, true
	}
	return window[:lf], endLF, true
}

func (lr *lineReader) tooLong() error {
	return &ProtocolError{Reason: "reply line longer than " + strconv.Itoa(lr.max) + " bytes (Limits.MaxLineLength)"}
}

// fill reads more bytes, compacting or growing the buffer as needed.
func (lr *lineReader) fill() error {
	if lr.err != nil {
		return lr.err
	}
	if lr.start > 0 {
		n := copy(lr.buf, lr.buf[lr.start:lr.end])
		lr.start, lr.end = 0, n
	}
	if lr.end == len(lr.buf) {
		grown := make([]byte, min(2*len(lr.buf), lr.max+2))
		if len(grown) <= len(lr.buf) {
			grown = make([]byte, len(lr.buf)+1)
		}
		copy(grown, lr.buf[:lr.end])
		lr.buf = grown
	}
	n, err := lr.r.Read(lr.buf[lr.end:])
	lr.end += n
	if err != nil {
		if err == io.EOF && lr.end > lr.start {
			err = io.ErrUnexpectedEOF
		}
		lr.err = err
		if n > 0 {
			return nil
		}
		return err
	}
	return nil
}

// textOddities describes control bytes and invalid UTF-8 in reply text,
// or returns "" when there are none. TAB is allowed.
func textOddities(text string) string {
	var ctl []byte
	for i := 0; i < len(text); i++ {
		b := text[i]
		if (b < 0x20 && b != '\t') || b == 0x7f {
			if bytes.IndexByte(ctl, b) < 0 {
				ctl = append(ctl, b)
			}
		}
	}
	note := ""
	if len(ctl) > 0 {
		note = "control bytes in reply text:"
		for _, b := range ctl {
			note += " 0x" + strconv.FormatUint(uint64(b)|0x100, 16)[1:]
		}
	}
	if !utf8.ValidString(text) {
		if note != "" {
			note += "; "
		}
		note += "reply text is not valid UTF-8"
	}
	return note
}
