package polite

import "fmt"

// FilesPerProbe is how many file descriptors one probe in flight may hold
// at once: its connection, and a DNS query or a closing connection of a
// check beside it.
const FilesPerProbe = 2

// FilesReserved is how many file descriptors a run keeps for itself
// (standard streams, the target list, the output, the runtime's own).
const FilesReserved = 32

// FileLimit is the open-file limit of a process (RLIMIT_NOFILE).
type FileLimit struct{ Soft, Hard uint64 }

// FilePlan is what a run does about the open-file limit.
type FilePlan struct {
	// Soft is the soft limit to set; equal to the current one when
	// nothing is to change.
	Soft uint64
	// Concurrency is the number of probes in flight the limit allows:
	// the one asked for, or less.
	Concurrency int
	// Note says what was done and why, for stderr; "" when nothing was.
	Note string
}

// PlanFiles decides, for concurrency probes in flight under limit, whether
// to raise the soft limit (to the hard one, when the soft is too low) and
// whether to lower the concurrency (when even the hard limit is too low).
// It does not touch the process: see SetFileLimit.
func PlanFiles(limit FileLimit, concurrency int) FilePlan {
	need := uint64(concurrency)*FilesPerProbe + FilesReserved
	p := FilePlan{Soft: limit.Soft, Concurrency: concurrency}
	if limit.Soft >= need {
		return p
	}
	if limit.Hard > limit.Soft {
		p.Soft = limit.Hard
		p.Note = fmt.Sprintf("open-file limit raised from %d to %d (the hard limit)", limit.Soft, limit.Hard)
	}
	if p.Soft >= need {
		return p
	}
	allowed := 1
	if p.Soft > FilesReserved+FilesPerProbe {
		allowed = int((p.Soft - FilesReserved) / FilesPerProbe)
	}
	p.Concurrency = min(concurrency, allowed)
	capped := fmt.Sprintf("concurrency capped at %d: the open-file limit is %d, and %d probes need about %d", p.Concurrency, p.Soft, concurrency, need)
	if p.Note != "" {
		p.Note += "; " + capped
	} else {
		p.Note = capped
	}
	return p
}
