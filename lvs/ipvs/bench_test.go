package ipvs

import (
	"fmt"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/lvsctl/lvsctl/lvs"
)

// benchDestReplies are the IPVS_CMD_NEW_DEST payloads of one service with
// n masquerading IPv4 destinations, shaped like ip_vs_genl_fill_dest on
// Linux 6.1 (both statistics nests).
func benchDestReplies(b *testing.B, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = marshalAttrs(b, nest(b, cmdAttrDest,
			attr(destAttrAddr, inet(fmt.Sprintf("192.0.2.%d", 1+i))),
			attr(destAttrPort, []byte{0, 80}),
			attr(destAttrFwdMethod, ne32(0)),
			attr(destAttrWeight, ne32(uint32(1+i%3))),
			attr(destAttrUThresh, ne32(0)),
			attr(destAttrLThresh, ne32(0)),
			attr(destAttrActiveConns, ne32(0)),
			attr(destAttrInactConns, ne32(0)),
			attr(destAttrPersistConns, ne32(0)),
			attr(destAttrAddrFamily, ne16(unix.AF_INET)),
			attr(destAttrTunType, []byte{0}),
			attr(destAttrTunPort, []byte{0, 0}),
			attr(destAttrTunFlags, ne16(0)),
			kernelStats32(b, destAttrStats, bigStats),
			kernelStats64(b, destAttrStats64, bigStats),
		))
	}
	return out
}

// BenchmarkDecodeDestinations decodes the GET_DEST dump of one service
// with ten destinations, as -L -n does once per service.
func BenchmarkDecodeDestinations(b *testing.B) {
	replies := benchDestReplies(b, 10)
	b.ReportAllocs()
	for b.Loop() {
		for _, r := range replies {
			if _, err := decodeDestMessage(r, lvs.IPv4); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkDecodeService decodes one part of a GET_SERVICE dump.
func BenchmarkDecodeService(b *testing.B) {
	r := serviceReply(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeServiceMessage(r); err != nil {
			b.Fatal(err)
		}
	}
}
