package bench

import (
	"crypto/tls"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"
)

// target is the server every test and benchmark talks to. By default it
// runs in a child process so that CPU, B/op, allocs/op and heap figures
// are the client's alone; PROBE_BENCH_SERVER=inproc runs it in this
// process instead (then every figure includes the server).
var target struct {
	Endpoint
	remote *Remote // nil with PROBE_BENCH_SERVER=inproc
	cfg    *tls.Config
}

func TestMain(m *testing.M) {
	if os.Getenv(ChildEnv) == "1" {
		os.Exit(ServeChild(os.Stdin, os.Stdout))
	}
	if spec := os.Getenv(FarmEnv); spec != "" {
		os.Exit(ServeFarm(spec, os.Stdin, os.Stdout))
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	closeServer, err := startTarget()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	defer closeServer()
	return m.Run()
}

func startTarget() (func(), error) {
	var closeFn func()
	if os.Getenv("PROBE_BENCH_SERVER") == "inproc" {
		s, err := StartServer()
		if err != nil {
			return nil, err
		}
		target.Endpoint = Endpoint{s.Addr, s.TLSAddr, s.CAPEM}
		closeFn = func() { s.Close() }
	} else {
		exe, err := os.Executable()
		if err != nil {
			return nil, err
		}
		r, err := SpawnServer(exe)
		if err != nil {
			return nil, err
		}
		target.Endpoint = r.Endpoint
		target.remote = r
		closeFn = func() { r.Close() }
	}
	cfg, err := ClientTLS(target.CAPEM)
	if err != nil {
		closeFn()
		return nil, err
	}
	target.cfg = cfg
	return closeFn, nil
}

// cpuTime is the CPU time (user and system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// serverCPU is the CPU time the server child has used, or 0 when the
// server runs in this process.
func serverCPU(b *testing.B) time.Duration {
	if target.remote == nil {
		return 0
	}
	t, err := target.remote.CPUTime()
	if err != nil {
		b.Fatal(err)
	}
	return t
}

// cpuMeter reports the process CPU time per operation as "cpu-ns/op":
// the client's CPU alone unless the server runs in this process. With the
// server in its child process it also reports the server's CPU per
// operation, "srv-cpu-ns/op" (10 ms resolution over the whole run).
type cpuMeter struct{ start, srvStart time.Duration }

func startCPU(b *testing.B) *cpuMeter {
	b.Helper()
	b.ReportAllocs()
	return &cpuMeter{start: cpuTime(), srvStart: serverCPU(b)}
}

func (m *cpuMeter) report(b *testing.B, ops int) {
	if ops <= 0 {
		return
	}
	b.ReportMetric(float64(cpuTime()-m.start)/float64(ops), "cpu-ns/op")
	if target.remote != nil {
		b.ReportMetric(float64(serverCPU(b)-m.srvStart)/float64(ops), "srv-cpu-ns/op")
	}
}
