package scan

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/smtpprobe/probe/internal/fakeserver"
)

// BenchmarkReportJSON encodes the report of a STARTTLS probe that stops
// after TLS (the batch benchmark's probe) with encoding/json and with
// AppendJSON, which writes the same bytes.
func BenchmarkReportJSON(b *testing.B) {
	pki, err := fakeserver.NewPKI("mail.example.test")
	if err != nil {
		b.Fatal(err)
	}
	srv := fakeserver.NewTB(b, fullConfig(pki))
	o := fullOptions(pki)
	o.Target, o.StartTLS, o.QuitAfter = srv.Addr(), StartTLSRequired, StageTLS
	rep := Run(b.Context(), o)
	if err := rep.Err(); err != nil {
		b.Fatal(err)
	}
	b.Run("encoding-json", func(b *testing.B) {
		var buf bytes.Buffer
		b.ReportAllocs()
		for b.Loop() {
			buf.Reset()
			if err := json.NewEncoder(&buf).Encode(rep); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("AppendJSON", func(b *testing.B) {
		var out []byte
		b.ReportAllocs()
		for b.Loop() {
			if out, err = rep.AppendJSON(out[:0]); err != nil {
				b.Fatal(err)
			}
		}
	})
}
