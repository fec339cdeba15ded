package main

import (
	"bytes"
	"encoding/json"

	"github.com/smtpprobe/probe/scan"
)

// batchLine is one line of the batch output: the Report with the number
// of the input line its target came from (from 1, counting blank lines
// and comments), so that repeated targets can be told apart and a report
// found in the list, and, when the probe was tried again (-retries), how
// many times it was tried. The Report's own fields follow at the top
// level, as in the JSON of a single probe.
type batchLine struct {
	Line  int `json:"line"`
	Tries int `json:"tries,omitempty"`
	*scan.Report
}

// outLine is an encoded batchLine with what the progress counts.
type outLine struct {
	data  []byte
	ok    bool
	class scan.ErrorClass
}

// encodeLine encodes the output line of j into buf (emptied first).
func encodeLine(buf *bytes.Buffer, j job, rep *scan.Report, tries int) (outLine, error) {
	bl := batchLine{Line: j.line, Report: rep}
	if tries > 1 {
		bl.Tries = tries
	}
	buf.Reset()
	if err := json.NewEncoder(buf).Encode(bl); err != nil { // with its newline
		return outLine{}, err
	}
	o := outLine{data: buf.Bytes(), ok: rep.Success}
	if rep.Error != nil {
		o.class = rep.Error.Class
	}
	return o, nil
}

// emit writes the report of j now, or in its turn with -ordered. buf is
// the caller's to reuse: the line is encoded into it, and copied only when
// it has to wait for an earlier one.
func (b *batch) emit(buf *bytes.Buffer, j job, rep *scan.Report, tries int) {
	o, err := encodeLine(buf, j, rep, tries)
	if err != nil {
		b.mu.Lock()
		if b.werr == nil {
			b.werr = err
			b.cancel()
		}
		b.mu.Unlock()
		o = outLine{}
	}
	if b.order != nil {
		o.data = bytes.Clone(o.data)
		b.order.Done(j.seq, o)
		return
	}
	b.writeLine(o)
}

// writeLine writes one encoded line and the progress.
func (b *batch) writeLine(o outLine) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.werr != nil || o.data == nil {
		return
	}
	if b.prog.shared {
		b.prog.clear(b.sys.err)
	}
	if _, err := b.sys.out.Write(o.data); err != nil {
		b.werr = err
		b.cancel()
		return
	}
	b.prog.count(o.ok, o.class)
	b.prog.redraw(b.sys.err, b.prog.shared)
}
