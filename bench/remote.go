package bench

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// ChildEnv, set to "1" in a process's environment, makes the bench test
// binary serve instead of testing: see ServeChild and SpawnServer.
const ChildEnv = "PROBE_BENCH_SERVER_CHILD"

// Endpoint is where a Server listens and what a client needs to trust it.
type Endpoint struct {
	Addr    string `json:"addr"`
	TLSAddr string `json:"tls_addr"`
	CAPEM   []byte `json:"ca_pem"`
}

// ServeChild runs a Server, writes its Endpoint as one JSON line to out,
// and serves until in reaches its end (the parent closed the pipe or
// died). It returns the process exit code.
func ServeChild(in io.Reader, out io.Writer) int {
	s, err := StartServer()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench server:", err)
		return 1
	}
	defer s.Close()
	if err := json.NewEncoder(out).Encode(Endpoint{s.Addr, s.TLSAddr, s.CAPEM}); err != nil {
		fmt.Fprintln(os.Stderr, "bench server:", err)
		return 1
	}
	io.Copy(io.Discard, in)
	return 0
}

// Remote is a Server running in a child process, so that the memory and
// CPU of the benchmarking process are the client's alone.
type Remote struct {
	Endpoint
	cmd   *exec.Cmd
	stdin io.Closer
}

// SpawnServer starts exe (a binary whose main calls ServeChild when
// ChildEnv is "1", such as this package's test binary) and waits for its
// Endpoint.
func SpawnServer(exe string) (*Remote, error) {
	r, stdout, err := spawn(exe, ChildEnv+"=1")
	if err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(stdout).ReadBytes('\n')
	if err == nil {
		err = json.Unmarshal(line, &r.Endpoint)
	}
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("bench server child: %w", err)
	}
	return r, nil
}

// CPUTime is the CPU time (user and system, all threads) the child has
// used so far, from /proc (Linux only; clock-tick resolution, 10 ms).
func (r *Remote) CPUTime() (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(r.cmd.Process.Pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces: count fields
	// after its closing parenthesis. utime and stime are fields 14 and 15.
	_, rest, ok := bytes.Cut(b, []byte(") "))
	f := strings.Fields(string(rest))
	if !ok || len(f) < 13 {
		return 0, fmt.Errorf("bench: cannot parse /proc/%d/stat", r.cmd.Process.Pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// clockTicks is USER_HZ, the unit of /proc's CPU times: 100 on every
// Linux architecture Go supports.
const clockTicks = 100

// Close ends the child and waits for it.
func (r *Remote) Close() error {
	r.stdin.Close()
	return r.cmd.Wait()
}

// spawn starts exe with env added to the environment, its stderr ours, and
// returns it with the pipe of its stdout; closing its stdin tells it to
// stop (see Remote.Close).
func spawn(exe, env string) (*Remote, io.Reader, error) {
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), env)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	return &Remote{cmd: cmd, stdin: stdin}, stdout, nil
}
