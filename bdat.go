package probe

import (
	"context"
	"io"
	"strconv"
)

// DefaultChunkSize is the BDAT chunk size Bdat uses when given 0 or less.
const DefaultChunkSize = 64 << 10

// maxChunkSize is the largest BDAT chunk Bdat sends; a larger chunkSize is
// lowered to it.
const maxChunkSize = 64 << 20

// bdatWindow is how many chunk replies may be outstanding when the server
// advertised PIPELINING; without it each chunk waits for its reply.
const bdatWindow = 8

// bdatHeaderRoom is room before each chunk for its "BDAT n LAST\r\n".
const bdatHeaderRoom = len("BDAT  LAST\r\n") + 20

// The steps of a BDAT transaction.
const (
	stepBdat     = "BDAT"      // a chunk and its reply
	stepBdatLast = "BDAT LAST" // the last chunk and its reply (LMTP: replies)
)

// Bdat sends msg with BDAT (RFC 3030) in chunks of chunkSize bytes as they
// are (DefaultChunkSize if <= 0, at most 64 MiB), the last as "BDAT <n>
// LAST", and returns its reply. With PIPELINING up to 8 chunks go before
// their replies are read. After a refusal no chunk follows (RFC 3030 §2):
// the replies due are read and the first refusal's *ReplyError returned;
// send RSET next. The transcript notes "chunk: N bytes (not recorded)";
// extra bytes, a failed read and LMTP are as for Data.
func (c *Conn) Bdat(ctx context.Context, msg io.Reader, chunkSize int) (*Reply, error) {
	replies, err := c.bdat(ctx, msg, chunkSize, c.finalReplyCount(0))
	return pickReply(replies, err)
}

// BdatLMTP is Bdat returning the final replies as DataLMTP does.
func (c *Conn) BdatLMTP(ctx context.Context, msg io.Reader, chunkSize, n int) ([]*Reply, error) {
	return c.bdat(ctx, msg, chunkSize, c.finalReplyCount(n))
}

// bdatSender holds the state of one BDAT transaction.
type bdatSender struct {
	c        *Conn
	ctx      context.Context
	buf      []byte // header room, then the chunk
	window   int
	pending  int   // chunks sent whose reply is unread, LAST apart
	lastSent bool  // BDAT LAST went out: its reply is due after the others
	refused  error // the first chunk refusal
}

func (c *Conn) bdat(ctx context.Context, msg io.Reader, chunkSize, nFinal int) ([]*Reply, error) {
	if chunkSize <= 0 {
		chunkSize = DefaultChunkSize
	}
	chunkSize = min(chunkSize, maxChunkSize)
	if msg == nil {
		msg = eofReader{}
	}
	b := &bdatSender{c: c, ctx: ctx, buf: make([]byte, bdatHeaderRoom+chunkSize)}
	if c.caps != nil && c.caps.Pipelining {
		b.window = bdatWindow
	}
	for b.refused == nil {
		n, err := io.ReadFull(msg, b.buf[bdatHeaderRoom:])
		last := err == io.EOF || err == io.ErrUnexpectedEOF
		if err != nil && !last {
			return nil, c.readFailure(stepBdat, err)
		}
		if err := b.send(n, last); err != nil {
			return nil, err
		}
		if last {
			break
		}
		if err := b.drain(b.window); err != nil {
			return nil, err
		}
	}
	if err := b.drain(0); err != nil {
		return nil, err
	}
	defer func() { c.txn = mailTxn{} }()
	if b.refused == nil {
		return c.readFinal(ctx, stepBdatLast, nFinal)
	}
	if !b.lastSent {
		return nil, b.refused
	}
	replies, err := c.readLastAfterRefusal(ctx, nFinal)
	if c.broken != nil {
		return replies, err
	}
	return replies, b.refused
}

// readLastAfterRefusal reads the answer to a BDAT LAST that went out
// before an earlier chunk's refusal was read, so that the session stays
// in step. One reply, unless it is positive and n are due (LMTP): then the
// server took the message and answers once per recipient. A refused LAST
// is the single answer of a transaction that already failed.
func (c *Conn) readLastAfterRefusal(ctx context.Context, n int) ([]*Reply, error) {
	replies, err := c.readReplies(ctx, stepBdatLast, 1)
	if err == nil && n > 1 {
		var more []*Reply
		more, err = c.readReplies(ctx, stepBdatLast, n-1)
		replies = append(replies, more...)
	}
	if c.broken != nil {
		return replies, err
	}
	return replies, c.checkFinalDone(stepBdatLast, len(replies))
}

// send writes one chunk with its BDAT line in a single write.
func (b *bdatSender) send(n int, last bool) error {
	step := stepBdat
	header := "BDAT " + strconv.Itoa(n)
	if last {
		step = stepBdatLast
		header += " LAST"
	}
	start := bdatHeaderRoom - len(header) - 2
	copy(b.buf[start:], header+"\r\n")
	chunk := b.buf[bdatHeaderRoom : bdatHeaderRoom+n]

	c := b.c
	if err := c.begin(b.ctx, step, c.d.Timeouts.DataBlock); err != nil {
		return err
	}
	c.tr.add(Sent, header, c.tls != nil, false)
	if c.d.RecordBody {
		for _, l := range splitRaw(chunk) {
			c.tr.add(Sent, l, c.tls != nil, false)
		}
	} else if n > 0 {
		c.tr.add(Note, "chunk: "+strconv.Itoa(n)+" bytes (not recorded)", c.tls != nil, false)
	}
	if _, err := c.nc.Write(b.buf[start : bdatHeaderRoom+n]); err != nil {
		return c.ioFailure(b.ctx, step, err)
	}
	if last {
		b.lastSent = true
	} else {
		b.pending++
	}
	return nil
}

// drain reads chunk replies until at most keep are outstanding. The first
// refusal is kept in b.refused.
func (b *bdatSender) drain(keep int) error {
	for b.pending > keep {
		r, err := b.c.exchange(b.ctx, stepBdat, b.c.d.Timeouts.DataBlock, nil)
		if err != nil {
			return err
		}
		b.pending--
		if err := b.c.check(stepBdat, r, 250); err != nil && b.refused == nil {
			b.refused = err
		}
	}
	return nil
}

// eofReader is an empty message.
type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }
