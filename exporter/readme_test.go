package exporter

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smtpprobe/probe/internal/fakeserver"
)

// TestREADMEModuleFile loads the module file README shows, with its two
// files made real, so that the copy-paste example stays valid.
func TestREADMEModuleFile(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "**modules.yml**")
	_, rest, ok2 := strings.Cut(rest, "```yaml\n")
	block, _, ok3 := strings.Cut(rest, "```")
	if !ok || !ok2 || !ok3 {
		t.Fatal("README has no modules.yml block")
	}
	dir := t.TempDir()
	pki, err := fakeserver.NewPKI("")
	if err != nil {
		t.Fatal(err)
	}
	ca, pw := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "monitor.pw")
	if err := pki.WriteCAFile(ca); err != nil {
		t.Fatal(err)
	}
	writeFile(t, pw, "secret\n")
	block = strings.NewReplacer("/etc/ssl/private-ca.pem", ca, "/etc/smtpprobe/monitor.pw", pw).Replace(block)
	c, err := ParseConfig([]byte(block), nil)
	if err != nil {
		t.Fatalf("README's module file: %v", err)
	}
	if len(c.Modules) != 3 || c.AllowedTargets == nil || c.Modules["submission_auth"].password != "secret" {
		t.Errorf("README's module file read as %+v", c)
	}
}
