package lab

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
)

// cpioWriter writes the "newc" (SVR4, no CRC) cpio format, the only one the
// kernel's initramfs unpacker accepts (init/initramfs.c, magic "070701").
// It records the directories it has written so that every file's parents
// exist before the file: the kernel does not create missing parents.
type cpioWriter struct {
	w     *bufio.Writer
	off   int64
	ino   uint32
	dirs  map[string]bool
	err   error
	mtime uint32
}

// errCPIOName reports a path the archive cannot hold.
var errCPIOName = errors.New("invalid archive path")

func newCPIOWriter(w io.Writer) *cpioWriter {
	return &cpioWriter{w: bufio.NewWriterSize(w, 1<<20), ino: 1, dirs: map[string]bool{"": true, ".": true}}
}

// cleanName turns a guest path into the relative name cpio stores.
func cleanName(name string) (string, error) {
	if name == "" || strings.ContainsRune(name, 0) {
		return "", fmt.Errorf("%q: %w", name, errCPIOName)
	}
	c := strings.TrimPrefix(path.Clean("/"+name), "/")
	if c == "" {
		return "", fmt.Errorf("%q: %w", name, errCPIOName)
	}
	return c, nil
}

func (c *cpioWriter) header(name string, mode uint32, size int) {
	c.headerDev(name, mode, size, 0, 0)
}

func (c *cpioWriter) headerDev(name string, mode uint32, size int, major, minor uint32) {
	if c.err != nil {
		return
	}
	// 13 eight-digit hex fields after the magic; nlink 1 (2 for dirs is
	// not required by the unpacker), uid/gid root, no device numbers.
	nlink := 1
	if mode&0o170000 == 0o040000 {
		nlink = 2
	}
	hdr := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		c.ino, mode, 0, 0, nlink, c.mtime, size, 0, 0, major, minor, len(name)+1, 0)
	c.ino++
	c.write([]byte(hdr))
	c.write([]byte(name))
	c.write([]byte{0})
	c.pad()
}

func (c *cpioWriter) write(b []byte) {
	if c.err != nil {
		return
	}
	n, err := c.w.Write(b)
	c.off += int64(n)
	c.err = err
}

// pad aligns to four bytes, as newc requires after the name and the data.
func (c *cpioWriter) pad() {
	if r := c.off % 4; r != 0 {
		c.write(make([]byte, 4-r))
	}
}

// mkdirAll writes every missing parent of name.
func (c *cpioWriter) mkdirAll(dir string) {
	if c.dirs[dir] {
		return
	}
	c.mkdirAll(path.Dir(dir))
	c.dirs[dir] = true
	c.header(dir, 0o040000|0o755, 0)
}

// Dir writes a directory (and its parents).
func (c *cpioWriter) Dir(name string, perm fs.FileMode) error {
	n, err := cleanName(name)
	if err != nil {
		return err
	}
	if c.dirs[n] {
		return c.err
	}
	c.mkdirAll(path.Dir(n))
	c.dirs[n] = true
	c.header(n, 0o040000|uint32(perm.Perm()), 0)
	return c.err
}

// File writes a regular file with the given permission bits.
func (c *cpioWriter) File(name string, perm fs.FileMode, data []byte) error {
	n, err := cleanName(name)
	if err != nil {
		return err
	}
	c.mkdirAll(path.Dir(n))
	c.header(n, 0o100000|uint32(perm.Perm()), len(data))
	c.write(data)
	c.pad()
	return c.err
}

// Symlink writes a symbolic link name -> target.
func (c *cpioWriter) Symlink(name, target string) error {
	n, err := cleanName(name)
	if err != nil {
		return err
	}
	c.mkdirAll(path.Dir(n))
	c.header(n, 0o120000|0o777, len(target))
	c.write([]byte(target))
	c.pad()
	return c.err
}

// CharDev writes a character device node, for the nodes the kernel needs
// before init can mount devtmpfs (/dev/console for init's stdio).
func (c *cpioWriter) CharDev(name string, perm fs.FileMode, major, minor uint32) error {
	n, err := cleanName(name)
	if err != nil {
		return err
	}
	c.mkdirAll(path.Dir(n))
	c.headerDev(n, 0o020000|uint32(perm.Perm()), 0, major, minor)
	return c.err
}

// Close writes the trailer and flushes; it does not close the underlying writer.
func (c *cpioWriter) Close() error {
	c.header("TRAILER!!!", 0, 0)
	if c.err != nil {
		return c.err
	}
	return c.w.Flush()
}
