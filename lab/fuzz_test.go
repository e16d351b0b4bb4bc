package lab

import (
	"bytes"
	"strings"
	"testing"
)

// The parsers read files and program output from the host and the guest;
// none may panic on any input.

func FuzzParseModulesDep(f *testing.F) {
	f.Add(sampleModulesDep)
	f.Add("kernel/a.ko:\n# comment\n\nkernel/b.ko.xz: kernel/a.ko\n")
	f.Add("no colon here\n")
	f.Fuzz(func(t *testing.T, s string) {
		deps, err := parseModulesDep(strings.NewReader(s))
		if err != nil {
			return
		}
		var want []moduleSpec
		for name := range deps {
			want = append(want, moduleSpec{Name: name})
		}
		files, _, err := resolveModules(deps, nil, want)
		if err != nil {
			t.Fatalf("resolving modules that are all listed: %v", err)
		}
		if len(files) < len(deps) && len(deps) > 0 {
			// Two names may share a file; never fewer files than distinct files.
			distinct := map[string]bool{}
			for _, d := range deps {
				distinct[d.File] = true
			}
			if len(files) < len(distinct) {
				t.Fatalf("%d files for %d modules", len(files), len(distinct))
			}
		}
	})
}

func FuzzParseAptDepends(f *testing.F) {
	f.Add("linux-image-amd64\n  Depends: linux-image-6.1.0-56-amd64\n")
	f.Add("  Depends: <linux-image-6.1.0-9-amd64>\n")
	f.Add("Depends:\n")
	f.Fuzz(func(t *testing.T, s string) {
		pkg, err := parseAptDepends([]byte(s))
		if err == nil && (!strings.HasPrefix(pkg, "linux-image-") || pkg == kernelMeta) {
			t.Fatalf("parseAptDepends = %q", pkg)
		}
	})
}

func FuzzGoTestOutput(f *testing.F) {
	f.Add("=== RUN   TestA\n    a.go:1: x\n--- FAIL: TestA (0.00s)\nFAIL\n")
	f.Add("=== NAME  TestB/sub\n--- FAIL: TestB/sub\n=== PAUSE X\n=== CONT  X\n")
	f.Fuzz(func(t *testing.T, s string) {
		var g goTestOutput
		g.Write([]byte(s))
		for _, fl := range g.failures() {
			if fl.name == "" {
				t.Fatal("failure without a name")
			}
		}
	})
}

// FuzzCPIOWriter checks that any name and content the writer accepts reads
// back as written.
func FuzzCPIOWriter(f *testing.F) {
	f.Add("/usr/local/bin/tool", []byte("#!/bin/sh\n"))
	f.Add("a/../b", []byte{})
	f.Add("x", bytes.Repeat([]byte{0}, 7))
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		var buf bytes.Buffer
		c := newCPIOWriter(&buf)
		if err := c.File(name, 0o644, data); err != nil {
			return
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		clean, _ := cleanName(name)
		entries := readCPIO(t, buf.Bytes())
		last := entries[len(entries)-1]
		if last.Name != clean || last.Data != string(data) {
			t.Fatalf("read back %q (%d bytes), want %q (%d bytes)", last.Name, len(last.Data), clean, len(data))
		}
	})
}
