package main

import (
	"bytes"

	"github.com/smtpprobe/probe/internal/jsonl"
	"github.com/smtpprobe/probe/scan"
)

// outLine is an encoded line of output (see jsonl.AppendLine) with what
// the progress counts.
type outLine struct {
	data  []byte
	ok    bool
	class scan.ErrorClass
}

// encodeLine encodes the output line of j into *buf (emptied first),
// which keeps the room for the next line.
func encodeLine(buf *[]byte, j job, rep *scan.Report, tries int) (outLine, error) {
	b, err := jsonl.AppendLine((*buf)[:0], j.line, tries, rep)
	*buf = b
	if err != nil {
		return outLine{}, err
	}
	o := outLine{data: b, ok: rep.Success}
	if rep.Error != nil {
		o.class = rep.Error.Class
	}
	return o, nil
}

// emit writes the report of j now, or in its turn with -ordered. buf is
// the caller's to reuse: the line is encoded into it, and copied only when
// it has to wait for an earlier one.
func (b *batch) emit(buf *[]byte, j job, rep *scan.Report, tries int) {
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
