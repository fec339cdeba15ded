package probe

import "crypto/tls"

// TLSInfo reports on the TLS layer of a Conn.
type TLSInfo struct {
	// State is the connection state crypto/tls reports.
	State tls.ConnectionState `json:"-"`
}
