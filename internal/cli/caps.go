package cli

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"strings"
)

// Saying which capability is missing. IPVS, addresses, routes and
// packet-filter rules need CAP_NET_ADMIN; raw sockets (VRRP adverts,
// gratuitous ARP, ICMP checks) CAP_NET_RAW. The kernel answers EPERM
// without saying why, so lvsctl adds one line naming the capability:
// after its own subcommands' errors, and after an ipvsadm-grammar failure
// when the program runs as lvsctl. Under the names ipvsadm, ipvsadm-save
// and ipvsadm-restore nothing is added: their stderr stays ipvsadm's.

const (
	hintNetAdmin = "lvsctl: permission denied: CAP_NET_ADMIN is needed to change IPVS, addresses and packet-filter rules (run as root, or see PRIVILEGES in lvsctl(8))\n"
	hintNetRaw   = "lvsctl: permission denied: CAP_NET_RAW is needed for raw sockets: VRRP adverts, gratuitous ARP, ICMP checks (run as root, or see PRIVILEGES in lvsctl(8))\n"
)

// permissionHint is the line to add after err, or "".
func permissionHint(err error) string {
	if err == nil {
		return ""
	}
	// A file lvsctl may not read is not a missing capability.
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return ""
	}
	text := err.Error()
	if !errors.Is(err, os.ErrPermission) && !strings.Contains(text, "ermission denied") &&
		!strings.Contains(text, "not permitted") && !strings.Contains(text, "you must be root") {
		return ""
	}
	lower := strings.ToLower(text)
	for _, raw := range []string{"raw", "af_packet", "icmp", "ping", "garp", "advert"} {
		if strings.Contains(lower, raw) {
			return hintNetRaw
		}
	}
	return hintNetAdmin
}

// hintingWriter passes writes through and remembers whether the text
// said the kernel refused for lack of permission, as ipvsadm words it.
type hintingWriter struct {
	w    io.Writer
	seen bool
	tail []byte // the end of the last write, for a phrase split in two
}

const ipvsadmPermission = "Permission denied"

func (h *hintingWriter) Write(p []byte) (int, error) {
	buf := append(h.tail, p...)
	if bytes.Contains(buf, []byte(ipvsadmPermission)) {
		h.seen = true
	}
	if n := len(ipvsadmPermission); len(buf) > n {
		buf = buf[len(buf)-n:]
	}
	h.tail = append(h.tail[:0], buf...)
	return h.w.Write(p)
}

// withPermissionHint runs the ipvsadm grammar as lvsctl, adding the
// capability line when it failed for want of permission.
func withPermissionHint(stdio Stdio, run func(Stdio) int) int {
	if stdio.Err == nil {
		return run(stdio)
	}
	h := &hintingWriter{w: stdio.Err}
	s := stdio
	s.Err = h
	code := run(s)
	if code != 0 && h.seen {
		io.WriteString(stdio.Err, hintNetAdmin)
	}
	return code
}
