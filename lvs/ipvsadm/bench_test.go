package ipvsadm

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
	"testing"

	"github.com/lvsctl/lvsctl/lvs"
	"github.com/lvsctl/lvsctl/lvs/ipvs/ipvstest"
)

// listedKernel answers listings from a snapshot of an ipvstest.Kernel,
// with destinations found by key: the fake kernel's own lookup is a
// linear scan, which would make a 5,000-service listing measure the fake.
type listedKernel struct {
	Kernel
	svcs  []lvs.Service
	dests map[lvs.ServiceKey][]lvs.Destination
}

func (k *listedKernel) Services(context.Context) ([]lvs.Service, error) {
	return append([]lvs.Service(nil), k.svcs...), nil
}

func (k *listedKernel) Destinations(_ context.Context, key lvs.ServiceKey) ([]lvs.Destination, error) {
	return append([]lvs.Destination(nil), k.dests[key]...), nil
}

// benchTable is the lab bench's table (lab/bench rules): 5,000 wrr
// services with ten masquerading real servers each, restored into the
// fake kernel with ipvsadm -R.
var benchTable = sync.OnceValues(func() (*listedKernel, error) {
	var rules bytes.Buffer
	for s := 0; s < 5000; s++ {
		vip := fmt.Sprintf("198.51.100.%d:%d", 1+s%250, 1000+s/250)
		fmt.Fprintf(&rules, "-A -t %s -s wrr\n", vip)
		for d := 0; d < 10; d++ {
			fmt.Fprintf(&rules, "-a -t %s -r 192.0.2.%d:80 -m -w %d\n", vip, 1+d, 1+d%3)
		}
	}
	ctx := context.Background()
	fk := ipvstest.New()
	var stderr bytes.Buffer
	if code := Main(ctx, "ipvsadm", []string{"-R"}, Env{Kernel: fk, Stdin: &rules, Stderr: &stderr}); code != 0 {
		return nil, fmt.Errorf("restore: status %d: %s", code, stderr.String())
	}
	svcs, err := fk.Services(ctx)
	if err != nil {
		return nil, err
	}
	k := &listedKernel{Kernel: fk, svcs: svcs, dests: make(map[lvs.ServiceKey][]lvs.Destination, len(svcs))}
	for _, s := range svcs {
		ds, err := fk.Destinations(ctx, s.Key())
		if err != nil {
			return nil, err
		}
		k.dests[s.Key()] = ds
	}
	return k, nil
})

// BenchmarkListing runs the lab bench's listings over the fake kernel:
// everything lvsctl does for them but the netlink round trips.
func BenchmarkListing(b *testing.B) {
	k, err := benchTable()
	if err != nil {
		b.Fatal(err)
	}
	for _, args := range [][]string{{"-L", "-n"}, {"-S", "-n"}} {
		b.Run(args[0]+args[1], func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if code := Main(context.Background(), "ipvsadm", args, Env{Kernel: k, Stdout: io.Discard}); code != 0 {
					b.Fatalf("status %d", code)
				}
			}
		})
	}
}
