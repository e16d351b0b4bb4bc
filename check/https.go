package check

import (
	"context"
	"crypto/tls"
	"net"
)

// TLS holds SSL_GET's options; an HTTP with a non-nil TLS is SSL_GET.
// Certificates are never verified, as keepalived does not verify them: a
// health check asks whether the server answers, not whom to trust.
type TLS struct {
	// SNI sends the virtual host as the TLS server name (keepalived's
	// enable_sni). Without it no server name is sent.
	SNI bool
}

// NewHTTPS returns keepalived's SSL_GET: h over TLS, sending the virtual
// host as the server name when sni is set.
func NewHTTPS(h HTTP, sni bool) HTTP {
	h.TLS = &TLS{SNI: sni}
	return h
}

// handshake runs the TLS client handshake on conn, bounded by ctx.
func (t *TLS) handshake(ctx context.Context, conn net.Conn, host string) (net.Conn, error) {
	cfg := &tls.Config{InsecureSkipVerify: true} //nolint:gosec // as keepalived's SSL_GET: no verification
	if t.SNI && host != "" {
		cfg.ServerName = host
	}
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, err
	}
	return tc, nil
}
