package polite

import (
	"strings"
	"testing"
)

func TestPlanFiles(t *testing.T) {
	for _, tc := range []struct {
		name        string
		limit       FileLimit
		concurrency int
		soft        uint64
		want        int
		note        string
	}{
		{"enough", FileLimit{Soft: 4096, Hard: 4096}, 1000, 4096, 1000, ""},
		{"raised", FileLimit{Soft: 1024, Hard: 1 << 20}, 1000, 1 << 20, 1000, "raised from 1024 to 1048576"},
		{"raised and capped", FileLimit{Soft: 256, Hard: 1024}, 1000, 1024, (1024 - FilesReserved) / FilesPerProbe, "capped at 496"},
		{"capped", FileLimit{Soft: 1024, Hard: 1024}, 3000, 1024, 496, "the open-file limit is 1024"},
		{"tiny", FileLimit{Soft: 10, Hard: 10}, 16, 10, 1, "capped at 1"},
	} {
		p := PlanFiles(tc.limit, tc.concurrency)
		if p.Soft != tc.soft || p.Concurrency != tc.want || !strings.Contains(p.Note, tc.note) || (tc.note == "") != (p.Note == "") {
			t.Errorf("%s: PlanFiles(%+v, %d) = %+v; want soft %d, concurrency %d, a note with %q",
				tc.name, tc.limit, tc.concurrency, p, tc.soft, tc.want, tc.note)
		}
	}
}

func TestGetFileLimit(t *testing.T) {
	l, err := GetFileLimit()
	if err != nil {
		t.Skip("no open-file limit here:", err)
	}
	if l.Soft == 0 || l.Soft > l.Hard {
		t.Errorf("GetFileLimit = %+v", l)
	}
	if err := SetFileLimit(l.Soft); err != nil {
		t.Errorf("SetFileLimit(%d), the current soft limit: %v", l.Soft, err)
	}
}
