package ipvs

import (
	"encoding/binary"
	"fmt"
)

// Layout of struct nlattr (include/uapi/linux/netlink.h): a u16 length
// that counts the header, a u16 type whose two high bits are NLA_F_NESTED
// and NLA_F_NET_BYTEORDER, then the payload, padded to NLA_ALIGNTO.
const (
	nlaHeaderLen = 4      // NLA_HDRLEN
	nlaAlignTo   = 4      // NLA_ALIGNTO
	nlaTypeMask  = 0x3fff // NLA_TYPE_MASK: without NLA_F_NESTED, NLA_F_NET_BYTEORDER
)

// attrReader walks the attributes packed in a reply in place: the payload
// it hands out aliases the reply, so a listing decodes without an
// allocation per attribute. Like netlink.AttributeDecoder it remembers
// the first error, stops there, and is checked once after the loop:
//
//	r := attrReader{b: b}
//	for r.next() {
//		switch r.typ { ... r.u32() ... }
//	}
//	if r.err != nil { ... }
//
// The kernel's IPVS nests carry no NLA_F_NESTED (ip_vs_ctl.c starts them
// with nla_nest_start_noflag), so a nest is recognised by its type alone.
type attrReader struct {
	b    []byte // what is left to walk
	off  int    // offset of b in the walked bytes, for errors
	typ  uint16 // type of the current attribute, flags masked off
	data []byte // payload of the current attribute
	err  error
}

// next moves to the next attribute. It returns false at the end of the
// bytes or on the first error. An attribute whose length is zero is read
// as an empty one occupying a header, as netlink.AttributeDecoder reads
// it; one whose length is 1 to 3, or runs past the end, is an error.
func (r *attrReader) next() bool {
	if r.err != nil || len(r.b) == 0 {
		return false
	}
	if len(r.b) < nlaHeaderLen {
		r.err = fmt.Errorf("%w: %d stray bytes at offset %d, short of an attribute header", errMalformed, len(r.b), r.off)
		return false
	}
	n := int(binary.NativeEndian.Uint16(r.b))
	r.typ = binary.NativeEndian.Uint16(r.b[2:]) & nlaTypeMask
	switch {
	case n > len(r.b):
		r.err = fmt.Errorf("%w: attribute %d at offset %d claims %d bytes, %d left", errMalformed, r.typ, r.off, n, len(r.b))
		return false
	case n == 0:
		n = nlaHeaderLen
		r.data = r.b[nlaHeaderLen:nlaHeaderLen]
	case n < nlaHeaderLen:
		r.err = fmt.Errorf("%w: attribute %d at offset %d has length %d, shorter than its header", errMalformed, r.typ, r.off, n)
		return false
	default:
		r.data = r.b[nlaHeaderLen:n:n]
	}
	// The last attribute's padding may be missing (the reply's end is
	// the end of the payload), as netlink.AttributeDecoder allows.
	step := min((n+nlaAlignTo-1)&^(nlaAlignTo-1), len(r.b))
	r.b, r.off = r.b[step:], r.off+step
	return true
}

// nested is a reader over the current attribute's payload.
func (r *attrReader) nested() attrReader { return attrReader{b: r.data} }

// fail records err as the reader's error unless it has one.
func (r *attrReader) fail(err error) {
	if r.err == nil && err != nil {
		r.err = err
	}
}

// want checks the current payload is size bytes long.
func (r *attrReader) want(size int) bool {
	if len(r.data) == size {
		return true
	}
	r.fail(fmt.Errorf("%w: attribute %d of %d bytes, want %d", errMalformed, r.typ, len(r.data), size))
	return false
}

func (r *attrReader) u8() uint8 {
	if !r.want(1) {
		return 0
	}
	return r.data[0]
}

func (r *attrReader) u16() uint16 {
	if !r.want(2) {
		return 0
	}
	return binary.NativeEndian.Uint16(r.data)
}

// be16 reads a __be16 (ports).
func (r *attrReader) be16() uint16 {
	if !r.want(2) {
		return 0
	}
	return binary.BigEndian.Uint16(r.data)
}

func (r *attrReader) u32() uint32 {
	if !r.want(4) {
		return 0
	}
	return binary.NativeEndian.Uint32(r.data)
}

// str reads a NUL-terminated string, dropping every trailing NUL as
// netlink.AttributeDecoder.String does.
func (r *attrReader) str() string {
	return string(trimNUL(r.data))
}

func trimNUL(b []byte) []byte {
	for len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	return b
}
