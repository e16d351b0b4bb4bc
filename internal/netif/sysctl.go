package netif

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Sysctls reads and writes kernel settings as files below Root.
type Sysctls struct {
	// Root is the sysctl tree; "" means /proc/sys.
	Root string
}

func (s Sysctls) path(name string) string {
	root := s.Root
	if root == "" {
		root = "/proc/sys"
	}
	return filepath.Join(root, filepath.FromSlash(strings.ReplaceAll(name, ".", "/")))
}

// Get reads a setting by its dotted name (net.ipv4.conf.all.arp_ignore).
func (s Sysctls) Get(name string) (string, error) {
	b, err := os.ReadFile(s.path(name))
	if err != nil {
		return "", fmt.Errorf("read sysctl %s: %w", name, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// Set writes a setting.
func (s Sysctls) Set(name, value string) error {
	if err := os.WriteFile(s.path(name), []byte(value+"\n"), 0o644); err != nil {
		return fmt.Errorf("write sysctl %s: %w", name, err)
	}
	return nil
}
