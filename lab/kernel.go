package lab

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// kernelMeta is the Debian package that pulls in the current kernel.
const kernelMeta = "linux-image-amd64"

// ErrNoKernel reports that no kernel package could be resolved or fetched.
var ErrNoKernel = errors.New("no kernel package")

// parseAptDepends finds the versioned image package in the output of
// `apt-cache depends linux-image-amd64` ("  Depends: linux-image-6.1.0-56-amd64").
func parseAptDepends(out []byte) (string, error) {
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		dep, ok := strings.CutPrefix(line, "Depends:")
		if !ok {
			continue
		}
		dep = strings.Trim(strings.TrimSpace(dep), "<>")
		if strings.HasPrefix(dep, "linux-image-") && dep != kernelMeta {
			return dep, nil
		}
	}
	return "", fmt.Errorf("%s has no linux-image dependency: %w", kernelMeta, ErrNoKernel)
}

// kernelRelease turns "linux-image-6.1.0-56-amd64" into "6.1.0-56-amd64",
// the directory name under /lib/modules.
func kernelRelease(pkg string) string {
	return strings.TrimPrefix(strings.TrimSuffix(pkg, "-unsigned"), "linux-image-")
}

// extractVmlinux returns the uncompressed ELF kernel inside a bzImage.
// qemu boots it through its PVH entry note, which skips the real-mode setup
// and the in-guest decompression (seconds under TCG). The boot protocol
// header gives the compressed payload's place (payload_offset at 0x248 and
// payload_length at 0x24c, from the protected-mode code's start); Debian
// compresses it with xz, and the build appends the uncompressed size as four
// little-endian bytes, which xz must not see.
func extractVmlinux(ctx context.Context, bz []byte) ([]byte, error) {
	if len(bz) < 0x250 || string(bz[0x202:0x206]) != "HdrS" {
		return nil, errors.New("vmlinuz: not a bzImage")
	}
	setupSects := int(bz[0x1f1])
	if setupSects == 0 {
		setupSects = 4
	}
	start := (setupSects + 1) * 512
	off := int(binary.LittleEndian.Uint32(bz[0x248:]))
	n := int(binary.LittleEndian.Uint32(bz[0x24c:]))
	if start+off+n > len(bz) || n < 8 {
		return nil, errors.New("vmlinuz: payload outside the file")
	}
	payload := bz[start+off : start+off+n]
	var cmd *exec.Cmd
	switch {
	case bytes.HasPrefix(payload, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		cmd = exec.CommandContext(ctx, "xz", "-dc")
	case bytes.HasPrefix(payload, []byte{0x1f, 0x8b}):
		cmd = exec.CommandContext(ctx, "gzip", "-dc")
	case bytes.HasPrefix(payload, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		cmd = exec.CommandContext(ctx, "zstd", "-dc")
	default:
		return nil, fmt.Errorf("vmlinuz: unknown compression % x", payload[:6])
	}
	want := binary.LittleEndian.Uint32(payload[n-4:])
	cmd.Stdin = bytes.NewReader(payload[:n-4])
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("vmlinuz: %s: %w: %s", cmd.Args[0], err, bytes.TrimSpace(stderr.Bytes()))
	}
	if uint32(len(out)) != want || !bytes.HasPrefix(out, []byte("\x7fELF")) {
		return nil, fmt.Errorf("vmlinuz: payload gave %d bytes, want an ELF of %d", len(out), want)
	}
	return out, nil
}

// buildModuleTree copies the wanted modules and their dependencies from an
// extracted package tree (root/lib/modules/REL) into dst/lib/modules/REL
// and runs depmod there, so modprobe in the guest resolves dependencies
// and the kernel's on-demand loading finds aliases. It returns the optional
// modules the package lacks.
func buildModuleTree(ctx context.Context, root, rel, dst string, want []moduleSpec) ([]string, error) {
	src := filepath.Join(root, "lib", "modules", rel)
	f, err := os.Open(filepath.Join(src, "modules.dep"))
	if err != nil {
		return nil, fmt.Errorf("modules: %w", err)
	}
	deps, err := parseModulesDep(f)
	f.Close()
	if err != nil {
		return nil, err
	}
	builtin := map[string]bool{}
	if f, err := os.Open(filepath.Join(src, "modules.builtin")); err == nil {
		builtin, err = parseBuiltin(f)
		f.Close()
		if err != nil {
			return nil, err
		}
	}
	files, missing, err := resolveModules(deps, builtin, want)
	if err != nil {
		return nil, err
	}
	out := filepath.Join(dst, "lib", "modules", rel)
	copies := append([]string{"modules.builtin", "modules.builtin.modinfo", "modules.order"}, files...)
	for _, name := range copies {
		if err := copyFile(filepath.Join(src, name), filepath.Join(out, name)); err != nil {
			if errors.Is(err, os.ErrNotExist) && !strings.HasSuffix(name, ".ko") {
				continue
			}
			return nil, fmt.Errorf("modules: %w", err)
		}
	}
	if err := runLogged(ctx, io.Discard, "depmod", "-b", dst, rel); err != nil {
		return nil, fmt.Errorf("modules: %w", err)
	}
	return missing, nil
}

// copyFile copies src to dst, making dst's directory.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// runLogged runs a command, sending its output to log, and includes the
// tail of that output in the error when it fails.
func runLogged(ctx context.Context, log io.Writer, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	var tail bytes.Buffer
	w := io.MultiWriter(log, &tail)
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Run(); err != nil {
		t := tail.Bytes()
		if len(t) > 2000 {
			t = t[len(t)-2000:]
		}
		return fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, bytes.TrimSpace(t))
	}
	return nil
}
