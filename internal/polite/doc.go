// Package polite holds what a run of thousands of probes needs to be
// welcome and to survive its own size: rate and concurrency limits per
// host and per network (/24 for IPv4, /64 for IPv6), a DNS cache shared by
// the workers, the open-file limit, back-pressure when the process runs out
// of file descriptors, a deterministic split of a target list into shards,
// and the reordering of results into input order with a bounded buffer.
//
// The pieces meet in Dialer, a golang.org/x/net/proxy.ContextDialer that a
// probe.Dialer takes as its NetDialer: every connection a probe opens — a
// batch's, a domain scan's, a check's — then resolves through the shared
// Cache, waits for its turn under the Limiter, and retries a connect that
// failed for want of a file descriptor. The package imports neither probe
// nor scan: Cache satisfies scan.Resolver by its method set, so scan may
// use this package too.
package polite
