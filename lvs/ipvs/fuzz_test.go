package ipvs

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/lvsctl/lvsctl/lvs"
)

// The -update flag may also be registered by other test files of this
// package; register it only once, whoever comes first.
func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite generated files in testdata")
	}
}

func updating() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// fuzzSeeds are the reply payloads each decoder fuzz target starts from;
// TestFuzzSeeds writes them to testdata/fuzz/<target>/ under -update.
func fuzzSeeds(t testing.TB) map[string][][]byte {
	return map[string][][]byte{
		"FuzzDecodeService": {serviceReply(t), fwmServiceReply(t, svcAttrStats)},
		"FuzzDecodeDest":    {destReply(t)},
		"FuzzDecodeDaemon":  {daemonReply(t, 1, "224.0.0.81"), daemonReply(t, 2, "ff02::8848")},
		"FuzzDecodeInfo": {
			marshalAttrs(t, attr(infoAttrVersion, ne32(0x010201)), attr(infoAttrConnTabSize, ne32(4096))),
			marshalAttrs(t, attr(cmdAttrTimeoutTCP, ne32(900)), attr(cmdAttrTimeoutTCPFin, ne32(120)), attr(cmdAttrTimeoutUDP, ne32(300))),
		},
		"FuzzDecodeStats": {
			marshalAttrs(t, kernelStats32(t, 1, bigStats)),
			marshalAttrs(t, kernelStats64(t, 1, bigStats)),
		},
	}
}

// TestFuzzSeeds keeps testdata/fuzz in step with the fixtures: it checks
// each seed file exists and, under -update, rewrites them.
func TestFuzzSeeds(t *testing.T) {
	for target, seeds := range fuzzSeeds(t) {
		dir := filepath.Join("testdata", "fuzz", target)
		for i, b := range seeds {
			path := filepath.Join(dir, fmt.Sprintf("kernel-reply-%d", i))
			want := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
			if updating() {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Errorf("%v (run go test -run TestFuzzSeeds -update)", err)
				continue
			}
			if string(got) != want {
				t.Errorf("%s is stale (run go test -run TestFuzzSeeds -update)", path)
			}
		}
	}
}

func FuzzDecodeService(f *testing.F) {
	for _, b := range fuzzSeeds(f)["FuzzDecodeService"] {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := decodeServiceMessage(b)
		if err != nil {
			return
		}
		// What decodes must encode back, unless the kernel itself could
		// not have sent it (an unknown family or an over-long name).
		if s.Family != lvs.IPv4 && s.Family != lvs.IPv6 || len(s.Scheduler) >= schedNameMaxLen || len(s.PEName) >= peNameMaxLen {
			return
		}
		if _, err := encodeOp(lvs.Op{Kind: lvs.AddService, Service: s}); err != nil {
			t.Errorf("decoded %+v does not encode: %v", s, err)
		}
	})
}

func FuzzDecodeDest(f *testing.F) {
	for _, b := range fuzzSeeds(f)["FuzzDecodeDest"] {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := decodeDestMessage(b, lvs.IPv4)
		if err != nil {
			return
		}
		if _, err := encodeOp(lvs.Op{Kind: lvs.AddDestination, Service: fwmService, Destination: d}); err != nil {
			t.Errorf("decoded %+v does not encode: %v", d, err)
		}
	})
}

func FuzzDecodeDaemon(f *testing.F) {
	for _, b := range fuzzSeeds(f)["FuzzDecodeDaemon"] {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = decodeDaemonMessage(b)
	})
}

func FuzzDecodeInfo(f *testing.F) {
	for _, b := range fuzzSeeds(f)["FuzzDecodeInfo"] {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = decodeInfo(b)
		_, _ = decodeTimeouts(b)
	})
}

func FuzzDecodeStats(f *testing.F) {
	for _, b := range fuzzSeeds(f)["FuzzDecodeStats"] {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r := attrReader{b: b}
		for r.next() {
			var st lvs.Stats
			_ = decodeStats(r.data, &st)
		}
	})
}
