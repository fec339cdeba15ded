// Package jsonl writes the lines of a batch of probes, for the CLI's batch
// mode and the benchmark that measures it.
package jsonl

import (
	"strconv"

	"github.com/smtpprobe/probe/scan"
)

// AppendLine appends one line of batch output to b: rep's JSON, the
// report's own fields at the top level as in the JSON of a single probe,
// after "line", the number of the input line its target came from (from
// 1), so that repeated targets can be told apart, and "tries" when the
// probe was tried more than once; then a newline. On error b is returned
// as it was.
func AppendLine(b []byte, line, tries int, rep *scan.Report) ([]byte, error) {
	start := len(b)
	b = append(b, `{"line":`...)
	b = strconv.AppendInt(b, int64(line), 10)
	if tries > 1 {
		b = append(b, `,"tries":`...)
		b = strconv.AppendInt(b, int64(tries), 10)
	}
	if rep == nil { // as encoding/json writes a nil embedded Report
		return append(b, "}\n"...), nil
	}
	b = append(b, ',')
	at := len(b)
	out, err := rep.AppendJSON(b)
	if err != nil {
		return b[:start], err
	}
	// The report's opening brace goes: its fields join the line's.
	out = append(out[:at], out[at+1:]...)
	return append(out, '\n'), nil
}
