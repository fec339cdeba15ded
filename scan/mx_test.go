package scan

import (
	"context"
	"errors"
	"net"
	"reflect"
	"strconv"
	"sync"
	"testing"

	"github.com/smtpprobe/probe"
)

// fakeResolver answers from maps and records the names asked, so that no
// test touches real DNS.
type fakeResolver struct {
	mx      map[string][]*net.MX
	mxErr   map[string]error
	hosts   map[string][]string
	hostErr map[string]error

	mu    sync.Mutex
	asked []string
}

func (f *fakeResolver) LookupMX(_ context.Context, name string) ([]*net.MX, error) {
	f.note("MX " + name)
	if err := f.mxErr[name]; err != nil {
		return nil, err
	}
	if recs, ok := f.mx[name]; ok {
		return recs, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

func (f *fakeResolver) LookupHost(_ context.Context, host string) ([]string, error) {
	f.note("A " + host)
	if err := f.hostErr[host]; err != nil {
		return nil, err
	}
	if addrs, ok := f.hosts[host]; ok {
		return addrs, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func (f *fakeResolver) note(q string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, q)
}

func (f *fakeResolver) questions() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.asked...)
}

// The standard library's resolver fits the interface as it is.
var _ Resolver = net.DefaultResolver

func TestResolveMX(t *testing.T) {
	servfail := &net.DNSError{Err: "server misbehaving", Name: "broken.test", IsTemporary: true}
	res := &fakeResolver{
		mx: map[string][]*net.MX{
			"example.test": {
				{Host: "mx3.example.test.", Pref: 20},
				{Host: "mx1.example.test.", Pref: 10},
				{Host: "mx2.example.test.", Pref: 10},
				{Host: "backup.example.test.", Pref: 30},
			},
			"null.test":  {{Host: ".", Pref: 0}},
			"mixed.test": {{Host: ".", Pref: 0}, {Host: "mx.mixed.test.", Pref: 5}},
			"empty.test": {},
		},
		mxErr: map[string]error{"broken.test": servfail},
	}
	tests := []struct {
		domain string
		want   []MXHost
		check  func(t *testing.T, err error)
	}{
		{domain: "example.test.", want: []MXHost{
			{Host: "mx1.example.test", Preference: 10},
			{Host: "mx2.example.test", Preference: 10}, // ties keep the resolver's order
			{Host: "mx3.example.test", Preference: 20},
			{Host: "backup.example.test", Preference: 30},
		}},
		{domain: "mixed.test", want: []MXHost{{Host: "mx.mixed.test", Preference: 5}}},
		{domain: "nomx.test", want: []MXHost{{Host: "nomx.test", Implicit: true}}},
		{domain: "empty.test", want: []MXHost{{Host: "empty.test", Implicit: true}}},
		{domain: "null.test", check: func(t *testing.T, err error) {
			var ne *NullMXError
			if !errors.As(err, &ne) || ne.Domain != "null.test" {
				t.Errorf("err = %v, want *NullMXError for null.test", err)
			}
			if c, _ := Classify(err); c != ClassNullMX {
				t.Errorf("class = %q", c)
			}
		}},
		{domain: "broken.test", check: func(t *testing.T, err error) {
			var oe *probe.OpError
			if !errors.As(err, &oe) || oe.Op != "MX lookup" || !errors.Is(err, servfail) {
				t.Errorf("err = %v, want *OpError MX lookup wrapping the DNS error", err)
			}
			if c, _ := Classify(err); c != ClassDNS {
				t.Errorf("class = %q", c)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.domain, func(t *testing.T) {
			got, err := ResolveMX(testCtx(t), res, tc.domain)
			if tc.check != nil {
				tc.check(t, err)
				if got != nil {
					t.Errorf("hosts = %v, want none", got)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ResolveMX = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestLookupAddrs(t *testing.T) {
	res := &fakeResolver{hosts: map[string][]string{"none.test": {}, "two.test": {"127.0.0.1", "::1"}}}
	if got, err := lookupAddrs(testCtx(t), res, "two.test"); err != nil || !reflect.DeepEqual(got, []string{"127.0.0.1", "::1"}) {
		t.Errorf("two.test = %v, %v", got, err)
	}
	for _, host := range []string{"none.test", "missing.test"} {
		_, err := lookupAddrs(testCtx(t), res, host)
		var dnsErr *net.DNSError
		if !errors.As(err, &dnsErr) || !dnsErr.IsNotFound || dnsErr.Name != host {
			t.Errorf("%s: err = %v, want a not-found *net.DNSError", host, err)
		}
	}
}

// TestRunMXAttemptCap: MX hosts whose address lookup fails count against
// maxMXAttempts like the others, so a DNS answer with many unresolvable
// names cannot make a run do a lookup for each.
func TestRunMXAttemptCap(t *testing.T) {
	var recs []*net.MX
	for i := range 3 * maxMXAttempts {
		recs = append(recs, &net.MX{Host: "lost" + strconv.Itoa(i) + ".example.test.", Pref: uint16(i)})
	}
	res := &fakeResolver{mx: map[string][]*net.MX{"many.test": recs}}
	rep := Run(testCtx(t), Options{Target: "many.test", MX: true, Resolver: res})
	if e := rep.Error; e == nil || e.Class != ClassDNS || e.Stage != StageResolve {
		t.Errorf("error = %+v", rep.Error)
	}
	if len(rep.Attempts) != maxMXAttempts {
		t.Errorf("%d attempts, want %d", len(rep.Attempts), maxMXAttempts)
	}
	// One MX question, then one address question per attempt.
	if q := res.questions(); len(q) != 1+maxMXAttempts || q[len(q)-1] != "A lost"+strconv.Itoa(maxMXAttempts-1)+".example.test" {
		t.Errorf("%d questions, last %q", len(q), q[len(q)-1])
	}
}
