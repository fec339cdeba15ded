package bench

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"
)

// FarmEnv, set in a process's environment to a FarmSpec as JSON, makes the
// bench test binary run a proxy farm instead of testing: see ServeFarm and
// SpawnFarm.
const FarmEnv = "PROBE_BENCH_PROXY_FARM"

// FarmSpec says which delay proxies a farm runs: for each group, Count
// proxies forwarding to Upstream, each on a loopback address of its own.
type FarmSpec struct {
	Delay  time.Duration `json:"delay"`
	Groups []FarmGroup   `json:"groups"`
	// CorrectTimers makes the proxies share a TimerSlack.
	CorrectTimers bool `json:"correct_timers"`
}

// FarmGroup is Count proxies in front of one upstream address.
type FarmGroup struct {
	Upstream string `json:"upstream"`
	Count    int    `json:"count"`
}

// maxFarmGroup bounds a group: its addresses are 127.(64+g).x.y with x
// below 250 and y from 1 to 250.
const maxFarmGroup = 250 * 250

// farmAddr is the listening address of proxy i of group g: all of 127/8
// is loopback on Linux, so every proxy has an address of its own, spread
// over /24 networks of 250 each, and the port is the system's choice.
func farmAddr(g, i int) string {
	return fmt.Sprintf("127.%d.%d.%d:0", 64+g, i/250, i%250+1)
}

// ServeFarm runs the proxies spec (JSON) describes, writes their addresses
// as one JSON line to out (an array per group), and serves until in reaches
// its end. It returns the process exit code.
func ServeFarm(spec string, in io.Reader, out io.Writer) int {
	var fs FarmSpec
	if err := json.Unmarshal([]byte(spec), &fs); err != nil {
		fmt.Fprintln(os.Stderr, "bench farm:", err)
		return 1
	}
	raiseFileLimit()
	var proxies []*DelayProxy
	defer func() {
		for _, p := range proxies {
			p.Close()
		}
	}()
	addrs := make([][]string, len(fs.Groups))
	var slack *TimerSlack
	if fs.CorrectTimers {
		slack = new(TimerSlack)
	}
	for g, grp := range fs.Groups {
		if grp.Count > maxFarmGroup {
			fmt.Fprintf(os.Stderr, "bench farm: %d proxies in a group, at most %d\n", grp.Count, maxFarmGroup)
			return 1
		}
		for i := range grp.Count {
			p, err := NewDelayProxyOn(farmAddr(g, i), grp.Upstream, fs.Delay, slack)
			if err != nil {
				fmt.Fprintln(os.Stderr, "bench farm:", err)
				return 1
			}
			proxies = append(proxies, p)
			addrs[g] = append(addrs[g], p.Addr())
		}
	}
	if err := json.NewEncoder(out).Encode(addrs); err != nil {
		fmt.Fprintln(os.Stderr, "bench farm:", err)
		return 1
	}
	io.Copy(io.Discard, in)
	return 0
}

// raiseFileLimit sets this process's soft limit of open files to its hard
// limit: a farm holds a listener per proxy and two sockets per connection.
func raiseFileLimit() {
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) == nil && l.Cur < l.Max {
		l.Cur = l.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
}

// Farm is a proxy farm running in a child process, so that the CPU and
// memory of the benchmarking process are the client's alone.
type Farm struct {
	// Addrs holds the proxies' addresses, one slice per FarmGroup.
	Addrs [][]string
	child *Remote
}

// SpawnFarm starts exe (a binary whose main calls ServeFarm when FarmEnv is
// set, such as this package's test binary) with spec and waits for the
// proxies' addresses.
func SpawnFarm(exe string, spec FarmSpec) (*Farm, error) {
	js, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	child, stdout, err := spawn(exe, FarmEnv+"="+string(js))
	if err != nil {
		return nil, err
	}
	f := &Farm{child: child}
	line, err := bufio.NewReader(stdout).ReadBytes('\n')
	if err == nil {
		err = json.Unmarshal(line, &f.Addrs)
	}
	if err == nil && len(f.Addrs) != len(spec.Groups) {
		err = errors.New("wrong number of groups")
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("bench farm child: %w", err)
	}
	return f, nil
}

// CPUTime is the CPU time the farm's process has used so far.
func (f *Farm) CPUTime() (time.Duration, error) { return f.child.CPUTime() }

// Close ends the child and waits for it.
func (f *Farm) Close() error { return f.child.Close() }
