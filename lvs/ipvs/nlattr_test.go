package ipvs

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestAttrReader(t *testing.T) {
	type seen struct {
		Typ  uint16
		Data []byte
	}
	tests := []struct {
		name    string
		b       []byte
		want    []seen
		wantErr bool
	}{
		{"empty", nil, nil, false},
		{"two, flags masked", []byte{6, 0, 1, 0x80, 0xaa, 0xbb, 0, 0, 5, 0, 2, 0, 0xcc},
			[]seen{{1, []byte{0xaa, 0xbb}}, {2, []byte{0xcc}}}, false},
		{"zero length reads as a header", []byte{0, 0, 3, 0, 4, 0, 4, 0},
			[]seen{{3, []byte{}}, {4, []byte{}}}, false},
		{"stray bytes", []byte{4, 0, 1, 0, 9}, []seen{{1, []byte{}}}, true},
		{"shorter than header", []byte{2, 0, 1, 0}, nil, true},
		{"runs past the end", []byte{9, 0, 1, 0, 1, 2, 3, 4}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []seen
			r := attrReader{b: tt.b}
			for r.next() {
				got = append(got, seen{r.typ, r.data})
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("attributes (-want +got):\n%s", diff)
			}
			if (r.err != nil) != tt.wantErr || r.err != nil && !errors.Is(r.err, errMalformed) {
				t.Errorf("err = %v, want error %v", r.err, tt.wantErr)
			}
		})
	}
}
