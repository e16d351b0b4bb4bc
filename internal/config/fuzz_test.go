package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"
)

// FuzzParse feeds arbitrary text to the parser as a main file that may
// include one fixed file. It must never panic; an error must be ErrSyntax
// with no config; a config must pass its own validation and parse the
// same way twice.
func FuzzParse(f *testing.F) {
	confs, _ := filepath.Glob("testdata/*.conf")
	for _, path := range confs {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(data))
	}
	f.Add("include inc.conf\n$A=${B}\n$B=x\n@main router_id $A\n")
	f.Add("vrrp_instance V { interface eth0 virtual_router_id 1 }")
	f.Fuzz(func(t *testing.T, text string) {
		fsys := fstest.MapFS{
			"k.conf":   {Data: []byte(text), Mode: 0o644},
			"inc.conf": {Data: []byte("global_defs {\n router_id inc\n}\n"), Mode: 0o644},
		}
		opts := Options{FS: fsys, ConfigID: "main"}
		cfg, warns, err := ParseFile("k.conf", opts)
		if err != nil {
			if !errors.Is(err, ErrSyntax) {
				t.Fatalf("error without ErrSyntax: %v", err)
			}
			if cfg != nil {
				t.Fatalf("config returned with error")
			}
			return
		}
		for _, in := range cfg.Instances {
			if err := in.Validate(); err != nil {
				t.Fatalf("accepted an invalid instance: %v", err)
			}
		}
		for _, vs := range cfg.VirtualServers {
			if err := vs.Validate(); err != nil {
				t.Fatalf("accepted an invalid virtual server: %v", err)
			}
		}
		cfg2, warns2, err2 := ParseFile("k.conf", opts)
		if err2 != nil || dump(cfg) != dump(cfg2) || len(warns) != len(warns2) {
			t.Fatalf("second parse differs (err %v)", err2)
		}
	})
}
