package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

// msgFlags are the flags of the message (attachments, BDAT) and of how
// the session shows (the body recorded, the time of each line).
type msgFlags struct {
	attach         listFlag
	bdat, showBody bool
	timings        bool
}

// attachment is one -attach file.
type attachment struct {
	name string // the file's base name
	data []byte
}

func (f *msgFlags) define(fs *flag.FlagSet) {
	fs.Var(&f.attach, "attach", "attach this `file` to the generated message (MIME type from its extension); repeatable")
	fs.BoolVar(&f.bdat, "bdat", false, "send the message with BDAT (CHUNKING, RFC 3030) instead of DATA")
	fs.BoolVar(&f.showBody, "show-body", false, "show the message body in the transcript, line by line")
	fs.BoolVar(&f.timings, "timings", false, "show each transcript line with its time since the connect")
}

// checkMessage refuses message flags that cannot work or would do
// nothing.
func (c *config) checkMessage() error {
	noMail := len(c.to.values) == 0 && !c.demo()
	switch {
	case len(c.attach.values) > 0 && c.body != "":
		return errors.New("-attach does not go with -body: -body is a complete message; -attach builds one around the test message")
	case noMail && len(c.attach.values) > 0:
		return errors.New("-attach needs a recipient (-to)")
	case noMail && c.bdat:
		return errors.New("-bdat needs -to: without a recipient no message is sent")
	case noMail && c.showBody:
		return errors.New("-show-body needs -to: without a recipient no message is sent")
	case c.timings && (c.jsonOut || c.nagios || c.targets != ""):
		return errors.New("-timings is for the text output: JSON has each line's offset_ns, -nagios no transcript")
	}
	for _, f := range [...]string{"xclient", "xforward", "attach", "bdat", "show-body", "timings", "save-chain"} {
		switch {
		case c.interactive && c.set[f]:
			return fmt.Errorf("-%s does not go with -i: type the session's lines instead", f)
		case c.targets != "" && f == "save-chain" && c.set[f]:
			return errors.New("-save-chain writes the chain of one target; it does not go with -targets")
		}
	}
	for _, name := range c.attach.values {
		if fi, err := os.Stat(name); err != nil {
			return fmt.Errorf("-attach: %w", err)
		} else if !fi.Mode().IsRegular() {
			return fmt.Errorf("-attach %s: not a regular file", name)
		}
	}
	return nil
}

// readAttachments reads the -attach files, at most maxBody in all.
func (f *msgFlags) readAttachments() ([]attachment, error) {
	var out []attachment
	total := 0
	for _, name := range f.attach.values {
		b, err := os.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("-attach: %w", err)
		}
		if total += len(b); total > maxBody {
			return nil, fmt.Errorf("-attach: the attachments are larger than %d MiB", maxBody>>20)
		}
		out = append(out, attachment{name: filepath.Base(name), data: b})
	}
	return out, nil
}
