package ipvsadm

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
)

// FuzzParse feeds argument vectors (NUL-separated) to the parser: it must
// not panic, and a failure must carry a message and one of ipvsadm's exit
// statuses.
func FuzzParse(f *testing.F) {
	for _, tc := range parseCases {
		f.Add(strings.Join(splitArgs(tc.args), "\x00"))
	}
	f.Fuzz(func(t *testing.T, s string) {
		argv := append([]string{"ipvsadm"}, strings.Split(s, "\x00")...)
		cmd, err := Parse(context.Background(), argv, ParseOptions{Resolver: testResolver})
		if err != nil {
			var fl *Failure
			if !errors.As(err, &fl) {
				t.Fatalf("error of type %T: %v", err, err)
			}
			if fl.Message == "" || (fl.Code != 2 && fl.Code != 255) {
				t.Fatalf("failure %+v", fl)
			}
			return
		}
		if cmd.Kind == CmdNone {
			t.Fatalf("no command from %q", argv)
		}
	})
}

// FuzzRestore feeds restore input to ipvsadm -R over the fake kernel, and
// checks that what -S then prints restores to the same table.
func FuzzRestore(f *testing.F) {
	f.Add("-A -t 192.0.2.1:80 -s rr\n-a -t 192.0.2.1:80 -r 198.51.100.1:80 -m -w 2\n")
	f.Add("-A -f 5 -6 -s sh -b sh-port -p 60 -M 64\n-a -f 5 -6 -r [2001:db8::1]:0 -g -w 1\n")
	f.Add("-A -u [2001:db8::1]:53 -s rr -o\n\n  \n-C\n# comment\n")
	f.Add("ipvsadm -A -t 192.0.2.1:0 -p\n-a -t 192.0.2.1:0 -r 198.51.100.1 -i --tun-type gue --tun-port 1 --tun-csum\n")
	f.Fuzz(func(t *testing.T, in string) {
		k := newFakeKernel()
		var out, errb bytes.Buffer
		Main(context.Background(), "ipvsadm", []string{"-R"}, Env{Stdin: strings.NewReader(in), Stdout: &out, Stderr: &errb, Kernel: k})
		var saved bytes.Buffer
		if code := Main(context.Background(), "ipvsadm", []string{"-S", "-n"}, Env{Stdout: &saved, Kernel: k}); code != 0 {
			t.Fatalf("-S exit %d", code)
		}
		k2 := newFakeKernel()
		var errb2 bytes.Buffer
		if code := Main(context.Background(), "ipvsadm", []string{"-R"}, Env{Stdin: bytes.NewReader(saved.Bytes()), Stderr: &errb2, Kernel: k2}); code != 0 {
			t.Fatalf("restoring the save output: exit %d, stderr %q, input:\n%s", code, errb2.String(), saved.String())
		}
		var again bytes.Buffer
		Main(context.Background(), "ipvsadm", []string{"-S", "-n"}, Env{Stdout: &again, Kernel: k2})
		if again.String() != saved.String() {
			t.Fatalf("save/restore round trip differs:\n%s\nvs\n%s", saved.String(), again.String())
		}
	})
}
