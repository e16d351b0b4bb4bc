package ipvs

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/lvsctl/lvsctl/lvs"
)

// Paths of the connection tables, relative to the /proc of the network
// namespace being read.
const (
	ConnPath     = "/proc/net/ip_vs_conn"
	ConnSyncPath = "/proc/net/ip_vs_conn_sync"
)

// The header lines ip_vs_conn_seq_show and ip_vs_conn_sync_seq_show
// (net/netfilter/ipvs/ip_vs_conn.c) print first. They are matched field by
// field, so a kernel that changes the column padding still parses.
const (
	connHeader     = "Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData"
	connSyncHeader = "Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Origin Expires"
)

// maxConnLine bounds one line of the table. The kernel's longest line is an
// IPv6 entry with a persistence engine: about 160 bytes of columns plus
// IP_VS_PENAME_MAXLEN + IP_VS_PEDATA_MAXLEN (16 + 255).
const maxConnLine = 4096

// ErrConnFormat is what every malformed connection-table line wraps, so
// callers can tell a parse failure from an I/O error with errors.Is.
var ErrConnFormat = errors.New("malformed IPVS connection table")

// ConnLineError is a line of the connection table that does not parse.
type ConnLineError struct {
	Line int    // 1-based; the header is line 1
	Text string // the line as read, without its newline
	Err  error  // what is wrong; wraps ErrConnFormat
}

func (e *ConnLineError) Error() string {
	text := e.Text
	if len(text) > 120 {
		text = text[:120] + "..."
	}
	return fmt.Sprintf("line %d: %v: %q", e.Line, e.Err, text)
}

func (e *ConnLineError) Unwrap() error { return e.Err }

// ReadConnections parses the text of /proc/net/ip_vs_conn or
// /proc/net/ip_vs_conn_sync (told apart by the header line).
//
// The kernel prints each entry as
//
//	"%-3s %08X %04X %08X %04X %s %04X %-11s %7u%s\n"
//
// (protocol, client address and port, virtual address and port, destination
// address and port, state, seconds left, then " PENAME PEDATA" when the entry
// has persistence-engine data). IPv4 addresses are 8 upper-case hex digits of
// the address in host order; IPv6 addresses are %pI6: eight colon-separated
// groups of four lower-case hex digits, never compressed. The destination
// column has the destination's own family, which differs from the client's
// for a tunnel destination of the other family. The sync variant has an
// Origin column ("LOCAL" or "SYNC") before Expires and no PE columns.
//
// It returns an empty, non-nil slice for a table with only its header. A
// malformed line is a *ConnLineError naming the line; nothing is returned
// with it.
func ReadConnections(r io.Reader) ([]lvs.Connection, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 512), maxConnLine)

	conns := []lvs.Connection{}
	sync := false
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		if line == 1 {
			switch {
			case sameFields(text, connHeader):
			case sameFields(text, connSyncHeader):
				sync = true
			default:
				return nil, &ConnLineError{Line: line, Text: text,
					Err: fmt.Errorf("%w: not an ip_vs_conn header", ErrConnFormat)}
			}
			continue
		}
		if strings.TrimSpace(text) == "" {
			continue
		}
		c, err := parseConnLine(text, sync)
		if err != nil {
			return nil, &ConnLineError{Line: line, Text: text, Err: err}
		}
		conns = append(conns, c)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, &ConnLineError{Line: line + 1,
				Err: fmt.Errorf("%w: line longer than %d bytes", ErrConnFormat, maxConnLine)}
		}
		return nil, fmt.Errorf("read connection table: %w", err)
	}
	if line == 0 {
		return nil, &ConnLineError{Line: 1, Err: fmt.Errorf("%w: empty input, no header", ErrConnFormat)}
	}
	return conns, nil
}

func sameFields(a, b string) bool {
	fa, fb := strings.Fields(a), strings.Fields(b)
	if len(fa) != len(fb) {
		return false
	}
	for i := range fa {
		if fa[i] != fb[i] {
			return false
		}
	}
	return true
}

// nextField splits the first space-separated field off s. The kernel pads
// with spaces only (%-3s, %-11s, %7u).
func nextField(s string) (field, rest string) {
	s = strings.TrimLeft(s, " \t")
	i := strings.IndexAny(s, " \t")
	if i < 0 {
		return s, ""
	}
	return s[:i], s[i:]
}

func parseConnLine(text string, sync bool) (lvs.Connection, error) {
	var c lvs.Connection
	names := []string{"protocol", "client address", "client port", "virtual address",
		"virtual port", "destination address", "destination port", "state", "expires"}
	if sync {
		names = append(names[:8], "origin", "expires")
	}
	var f [10]string
	rest := text
	for i, name := range names {
		f[i], rest = nextField(rest)
		if f[i] == "" {
			return c, fmt.Errorf("%w: %d columns, missing %s", ErrConnFormat, i, name)
		}
	}
	expires := f[8]
	if sync {
		c.Origin = f[8]
		if c.Origin != "LOCAL" && c.Origin != "SYNC" {
			return c, fmt.Errorf("%w: origin %q is neither LOCAL nor SYNC", ErrConnFormat, c.Origin)
		}
		expires = f[9]
	}

	c.Protocol = f[0]
	c.State = f[7]
	var err error
	if c.Client, err = procAddrPort(f[1], f[2], "client"); err != nil {
		return c, err
	}
	if c.Virtual, err = procAddrPort(f[3], f[4], "virtual"); err != nil {
		return c, err
	}
	if c.Real, err = procAddrPort(f[5], f[6], "destination"); err != nil {
		return c, err
	}
	// The kernel prints jiffies_delta_to_msecs(expires - jiffies) / 1000
	// with %7u: an unsigned 32-bit count of whole seconds.
	secs, err := strconv.ParseUint(expires, 10, 32)
	if err != nil {
		return c, fmt.Errorf("%w: expires %q is not a count of seconds", ErrConnFormat, expires)
	}
	c.Expires = time.Duration(secs) * time.Second

	if strings.TrimLeft(rest, " \t") == "" {
		return c, nil
	}
	if sync {
		return c, fmt.Errorf("%w: unexpected text after expires", ErrConnFormat)
	}
	// " PENAME PEDATA": one space, the engine name, one space, then the
	// engine's data verbatim (show_pe_data copies it as is).
	pe := rest[1:]
	name, data, ok := strings.Cut(pe, " ")
	if rest[0] != ' ' || !ok || name == "" {
		return c, fmt.Errorf("%w: persistence-engine columns %q are not \" NAME DATA\"", ErrConnFormat, rest)
	}
	c.PEName, c.PEData = name, data
	return c, nil
}

// procAddrPort parses an address column and its port column.
func procAddrPort(addr, port, what string) (netip.AddrPort, error) {
	a, err := procAddr(addr)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%w: %s address %q: %v", ErrConnFormat, what, addr, err)
	}
	// %04X of a host-order port.
	if len(port) == 0 || len(port) > 4 || !isHex(port) {
		return netip.AddrPort{}, fmt.Errorf("%w: %s port %q is not 4 hex digits", ErrConnFormat, what, port)
	}
	p, _ := strconv.ParseUint(port, 16, 16)
	return netip.AddrPortFrom(a, uint16(p)), nil
}

// procAddr parses %08X (IPv4, host order) or %pI6 (IPv6).
func procAddr(s string) (netip.Addr, error) {
	if len(s) == 8 && isHex(s) {
		v, _ := strconv.ParseUint(s, 16, 32)
		return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), nil
	}
	if !strings.Contains(s, ":") {
		return netip.Addr{}, errors.New("neither 8 hex digits nor an IPv6 address")
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, errors.New("not an IPv6 address")
	}
	if a.Zone() != "" {
		return netip.Addr{}, errors.New("IPv6 address with a zone")
	}
	return a, nil
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}
