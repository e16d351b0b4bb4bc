package ipvsadm

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/lvsctl/lvsctl/lvs"
	"github.com/lvsctl/lvsctl/lvs/ipvs"
)

// Kernel is what ipvsadm needs of IPVS. Both *ipvs.Client and
// ipvstest.Kernel satisfy it.
type Kernel interface {
	Info(ctx context.Context) (lvs.Info, error)
	Services(ctx context.Context) ([]lvs.Service, error)
	Service(ctx context.Context, k lvs.ServiceKey) (lvs.Service, error)
	Destinations(ctx context.Context, k lvs.ServiceKey) ([]lvs.Destination, error)
	Timeouts(ctx context.Context) (lvs.Timeouts, error)
	SyncDaemons(ctx context.Context) ([]lvs.SyncDaemon, error)
	Exec(ctx context.Context, op lvs.Op) error
	ExecBatch(ctx context.Context, ops []lvs.Op) ([]error, error)
}

// ConnectionLister is the optional part of a Kernel that reads the
// connection table (/proc/net/ip_vs_conn). Without it, -L -c fails as
// ipvsadm does when it cannot open that file.
type ConnectionLister interface {
	Connections(ctx context.Context) ([]lvs.Connection, error)
}

// Env is the world an invocation runs in.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Kernel is the IPVS to act on. When it is nil, KernelErr says why
	// (lvs.ErrIPVSUnavailable, a permission error) and every command but
	// -h and -v fails as ipvsadm fails to initialise.
	Kernel    Kernel
	KernelErr error
	// Resolver resolves host and service names; nil resolves none.
	Resolver Resolver
	// Getenv reads the environment (POSIXLY_CORRECT); nil reads none.
	Getenv func(string) string
	// Strict makes lvsctl's own options (--json) unknown, as they are to
	// ipvsadm; the CLI sets it when the binary runs as ipvsadm.
	Strict bool
	// Version is lvsctl's version for -v; empty means "dev".
	Version string
}

// Compatible is the ipvsadm release lvsctl behaves as.
const Compatible = "ipvsadm v1.31 2019/12/24"

// Main runs one invocation of ipvsadm, ipvsadm-save or ipvsadm-restore and
// returns its exit status. prog is argv[0]: its base name chooses the
// program (anything else behaves as ipvsadm) and it is the name messages
// use, as in ipvsadm; args are the arguments after it.
func Main(ctx context.Context, prog string, args []string, env Env) int {
	out := bufio.NewWriter(orDiscard(env.Stdout))
	r := &runner{ctx: ctx, env: env, out: out, errw: orDiscard(env.Stderr)}
	if r.env.Resolver == nil {
		r.env.Resolver = numericResolver{}
	}
	var code int
	switch filepath.Base(prog) {
	case "ipvsadm-save":
		code = r.save(prog, args)
	case "ipvsadm-restore":
		code = r.restoreScript()
	default:
		code = r.ipvsadm(append([]string{prog}, args...))
	}
	out.Flush()
	return code
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

type runner struct {
	ctx  context.Context
	env  Env
	out  *bufio.Writer // stdout, flushed at exit like C's stdio on a pipe
	errw io.Writer
	info lvs.Info
}

func (r *runner) errorf(format string, a ...any) { fmt.Fprintf(r.errw, format, a...) }

func (r *runner) parseOptions() ParseOptions {
	o := ParseOptions{Resolver: r.env.Resolver, Strict: r.env.Strict}
	if g := r.env.Getenv; g != nil {
		o.PosixlyCorrect = g("POSIXLY_CORRECT") != "" || g("POSIX_ME_HARDER") != ""
	}
	return o
}

// ipvsadm is ipvsadm's main.
func (r *runner) ipvsadm(argv []string) int {
	cmd, perr := Parse(r.ctx, argv, r.parseOptions())
	if perr == nil && (cmd.Kind == CmdHelp || cmd.Kind == CmdVersion) {
		// lvsctl's own texts; ipvsadm would initialise IPVS first, but
		// help should not depend on the kernel.
		if cmd.Kind == CmdHelp {
			io.WriteString(r.out, helpText(argv[0]))
		} else {
			io.WriteString(r.out, r.versionText())
		}
		return 0
	}
	if code, ok := r.init(); !ok {
		return code
	}
	if len(argv) == 1 {
		if f := r.listAll(0); f != nil {
			return r.report(f)
		}
		return 0
	}
	code, _ := r.run(argv, cmd, perr, false)
	return code
}

// init is ipvs_init and check_ipvs_version.
func (r *runner) init() (int, bool) {
	err := r.env.KernelErr
	if err == nil && r.env.Kernel == nil {
		err = lvs.ErrIPVSUnavailable
	}
	if err == nil {
		r.info, err = r.env.Kernel.Info(r.ctx)
	}
	if err != nil {
		msg := ""
		if errors.Is(err, lvs.ErrIPVSUnavailable) {
			// Without the genetlink family ipvsadm falls back to the
			// old sockopt interface, which answers ENOPROTOOPT.
			msg = strerror(ipvs.CmdUnspec, unix.ENOPROTOOPT)
		} else {
			msg = errorText(ipvs.CmdUnspec, err)
		}
		r.errorf("Can't initialize ipvs: %s\nAre you sure that IP Virtual Server is built in the kernel or as module?\n", msg)
		return 2, false
	}
	// IPVS 1.1.4 is the oldest ipvsadm 1.31 works with.
	if r.info.Version < 1<<16|1<<8|4 {
		r.errorf("Warning: IPVS version mismatch: \n  Kernel compiled with IPVS version %s\n  ipvsadm v1.31  requires minimum IPVS version 1.1.4\n\n",
			r.info.VersionString())
	}
	return 0, true
}

func (r *runner) report(f *Failure) int {
	r.errorf("%s", f.Message)
	return f.Code
}

// run is process_options after the parsing: it acts on one command. It
// returns the exit status and whether ipvsadm would exit right away
// (false: it returns a status, which lets -R go on with the next line).
func (r *runner) run(argv []string, cmd Command, perr error, readingStdin bool) (code int, exit bool) {
	if perr != nil {
		var f *Failure
		if !errors.As(perr, &f) {
			f = &Failure{Message: perr.Error() + "\n", Code: 255}
		}
		r.report(f)
		return f.Code, !f.Continue
	}
	switch cmd.Kind {
	case CmdHelp:
		io.WriteString(r.out, helpText(argv[0]))
		return 0, true
	case CmdVersion:
		io.WriteString(r.out, r.versionText())
		return 0, true
	case CmdList:
		if f := r.list(cmd); f != nil {
			return r.report(f), true
		}
		return 0, false
	case CmdSave:
		if f := r.listAll(cmd.Format); f != nil {
			return r.report(f), true
		}
		return 0, false
	case CmdRestore:
		if readingStdin {
			return r.report(tryHelp(argv[0])), true
		}
		return r.restore(argv[0], r.env.Stdin)
	}
	op, ok := cmd.Op()
	if !ok {
		return r.report(tryHelp(argv[0])), true
	}
	if err := r.env.Kernel.Exec(r.ctx, op); err != nil {
		r.errorf("%s\n", opErrorText(op.Kind, err))
		return 255, false
	}
	return 0, false
}

func (r *runner) versionText() string {
	v := r.env.Version
	if v == "" {
		v = "dev"
	}
	return fmt.Sprintf("lvsctl %s, an LVS director in one binary; as ipvsadm it is compatible with %s (IPVS v%s)\n",
		v, Compatible, r.info.VersionString())
}

func (r *runner) list(cmd Command) *Failure {
	if cmd.JSON {
		return r.listJSON(cmd)
	}
	p := r.printer()
	switch {
	case cmd.Connections:
		cl, ok := r.env.Kernel.(ConnectionLister)
		if !ok {
			return &Failure{Message: "cannot open file /proc/net/ip_vs_conn\n", Code: 1}
		}
		conns, err := cl.Connections(r.ctx)
		if err != nil {
			return &Failure{Message: "cannot open file /proc/net/ip_vs_conn\n", Code: 1}
		}
		p.Connections(r.ctx, conns, cmd.Format)
	case cmd.HasService:
		s, err := r.env.Kernel.Service(r.ctx, cmd.Service.Key())
		if err != nil {
			return &Failure{Message: errorText(ipvs.CmdGetService, err) + "\n", Code: 1}
		}
		dests, err := r.env.Kernel.Destinations(r.ctx, s.Key())
		if err != nil {
			return &Failure{Message: errorText(ipvs.CmdGetDest, err) + "\n", Code: 1}
		}
		p.Title(cmd.Format)
		p.Service(r.ctx, s, dests, cmd.Format)
	case cmd.Timeout:
		t, err := r.env.Kernel.Timeouts(r.ctx)
		if err != nil {
			return &Failure{Code: 1}
		}
		p.Timeouts(t)
	case cmd.DaemonInfo:
		ds, err := r.env.Kernel.SyncDaemons(r.ctx)
		if err != nil {
			return &Failure{Code: 1}
		}
		p.Daemons(ds)
	default:
		return r.listAll(cmd.Format)
	}
	return nil
}

func (r *runner) printer() *Printer {
	return &Printer{W: r.out, Resolver: r.env.Resolver}
}

// listAll is list_all: every service, sorted unless FormatNoSort.
func (r *runner) listAll(f Format) *Failure {
	p := r.printer()
	if f&FormatRule == 0 {
		p.Header(r.info)
	}
	svcs, err := r.env.Kernel.Services(r.ctx)
	if err != nil {
		return &Failure{Message: errorText(ipvs.CmdGetService, err) + "\n", Code: 1}
	}
	if f&FormatNoSort == 0 {
		svcs = append([]lvs.Service(nil), svcs...)
		mergeSort(svcs, cmpServices)
	}
	p.Title(f)
	for _, s := range svcs {
		dests, err := r.env.Kernel.Destinations(r.ctx, s.Key())
		if err != nil {
			return &Failure{Message: errorText(ipvs.CmdGetDest, err) + "\n", Code: 1}
		}
		p.Service(r.ctx, s, dests, f)
	}
	return nil
}

// save is the ipvsadm-save script: -n for numbers, any other option
// prints its help and fails, other arguments are ignored.
func (r *runner) save(prog string, args []string) int {
	argv := []string{"ipvsadm", "-S"}
	numeric := false
	for _, a := range args {
		switch {
		case a == "-n":
			numeric = true
		case strings.HasPrefix(a, "-"):
			r.errorf("%s: print the IPVS table to stdout in ipvsadm's save format (lvsctl).\n"+
				"   With the -n option, addresses and ports are printed as numbers.\n", filepath.Base(prog))
			return 1
		}
	}
	if numeric {
		argv = append(argv, "-n")
	}
	return r.ipvsadm(argv)
}

// restoreScript is the ipvsadm-restore script: drop the lines that start
// with '#', clear the table (ipvsadm -C), then feed the rest to ipvsadm -R.
func (r *runner) restoreScript() int {
	data, err := io.ReadAll(orEmpty(r.env.Stdin))
	if err != nil {
		r.errorf("ipvsadm-restore: %v\n", err)
		return 1
	}
	var kept []string
	text := string(data)
	text = strings.TrimSuffix(text, "\n")
	if text != "" || len(data) > 0 {
		for _, line := range strings.Split(text, "\n") {
			if !strings.HasPrefix(line, "#") {
				kept = append(kept, line)
			}
		}
	}
	// The script holds the kept lines in a shell variable: trailing
	// newlines go, NUL bytes vanish, and echo adds one newline.
	input := strings.TrimRight(strings.ReplaceAll(strings.Join(kept, "\n"), "\x00", ""), "\n") + "\n"

	if code, ok := r.init(); !ok {
		return code
	}
	ops := []lvs.Op{{Kind: lvs.Flush}}
	code, _ := r.restoreWith("ipvsadm", strings.NewReader(input), ops)
	return code
}

func orEmpty(rd io.Reader) io.Reader {
	if rd == nil {
		return strings.NewReader("")
	}
	return rd
}

// restore is restore_table: every line of stdin is an ipvsadm command
// line, run in order. A line that fails to parse ends the run at once
// (with the lines before it done); a kernel refusal is reported and the
// next line runs; the exit status is that of the last line.
func (r *runner) restore(prog string, in io.Reader) (int, bool) {
	return r.restoreWith(prog, orEmpty(in), nil)
}

// restoreWith runs restore input, sending consecutive kernel operations
// in one batch over the one socket. ipvsadm goes on after a kernel error,
// so batching keeps its semantics as long as everything else (messages,
// listings, a fatal parse error) waits for the batch before it. pending
// holds operations queued before the input (ipvsadm-restore's -C); their
// failures are reported but leave the status alone.
func (r *runner) restoreWith(prog string, in io.Reader, pending []lvs.Op) (int, bool) {
	lead := len(pending)
	result := 0
	flush := func() bool {
		if len(pending) == 0 {
			return true
		}
		errs, err := r.env.Kernel.ExecBatch(r.ctx, pending)
		for i, e := range errs {
			if e != nil {
				r.errorf("%s\n", opErrorText(pending[i].Kind, e))
				if i >= lead {
					result = 255
				}
			} else if i >= lead {
				result = 0
			}
		}
		pending, lead = pending[:0], 0
		if err != nil && len(errs) == 0 {
			r.errorf("%v\n", err)
			result = 255
			return false
		}
		return true
	}

	lines := newConfigStream(in)
	for {
		tokens, ok := lines.next()
		if !ok {
			break
		}
		if len(tokens) == 0 {
			continue
		}
		argv := append([]string{prog}, tokens...)
		cmd, perr := Parse(r.ctx, argv, r.parseOptions())
		if perr == nil {
			if op, isOp := cmd.Op(); isOp {
				pending = append(pending, op)
				continue
			}
		}
		if !flush() {
			return result, true
		}
		code, exit := r.run(argv, cmd, perr, true)
		if exit {
			return code, true
		}
		result = code
	}
	flush()
	return result, false
}

// configStream splits restore input into command lines the way ipvsadm's
// config_stream_read does: tokens separated by blanks, tabs and carriage
// returns, a line ending at a newline, every "ipvsadm" token dropped. It
// knows nothing of comments: a '#' is a token like any other.
type configStream struct {
	r   *bufio.Reader
	eof bool
}

func newConfigStream(r io.Reader) *configStream { return &configStream{r: bufio.NewReader(r)} }

func isSep(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// next returns the next line's tokens; false at the end of the input.
func (s *configStream) next() ([]string, bool) {
	const maxToken = 4096 // MAX_LINE_LENGTH
	var tokens []string
	n := 0 // tokens kept, ntoken
	for {
		c, err := s.r.ReadByte()
		if err != nil {
			// fscanf hits the end before a conversion.
			if n == 0 {
				return nil, false
			}
			return tokens, true
		}
		if !isSep(c) {
			tok := []byte{c}
			var tail byte
			haveTail := false
			for len(tok) < maxToken {
				c, err = s.r.ReadByte()
				if err != nil {
					break
				}
				if isSep(c) {
					tail, haveTail = c, true
					break
				}
				tok = append(tok, c)
			}
			// The token is a C string from here on (strcmp, strdup): a
			// NUL byte ends it.
			if i := bytes.IndexByte(tok, 0); i >= 0 {
				tok = tok[:i]
			}
			if string(tok) != "ipvsadm" {
				n++
				tokens = append(tokens, string(tok))
			}
			if haveTail && tail == '\n' {
				return tokens, true
			}
			continue
		}
		// The token conversion failed on a separator: skip blanks up to
		// the end of the line. An end of input here loses the line.
		for {
			switch c {
			case '\n':
				return tokens, true
			case ' ', '\t', '\r':
			}
			c, err = s.r.ReadByte()
			if err != nil {
				return nil, false
			}
			if !isSep(c) {
				s.r.UnreadByte()
				break
			}
		}
	}
}

// opErrorText is ipvsadm's message for a failed operation.
func opErrorText(k lvs.OpKind, err error) string {
	return errorText(opCmd(k), err)
}

func opCmd(k lvs.OpKind) ipvs.Cmd {
	switch k {
	case lvs.AddService:
		return ipvs.CmdNewService
	case lvs.EditService:
		return ipvs.CmdSetService
	case lvs.DeleteService:
		return ipvs.CmdDelService
	case lvs.Flush:
		return ipvs.CmdFlush
	case lvs.AddDestination:
		return ipvs.CmdNewDest
	case lvs.EditDestination:
		return ipvs.CmdSetDest
	case lvs.DeleteDestination:
		return ipvs.CmdDelDest
	case lvs.Zero:
		return ipvs.CmdZero
	case lvs.SetTimeouts:
		return ipvs.CmdSetConfig
	case lvs.StartDaemon:
		return ipvs.CmdNewDaemon
	case lvs.StopDaemon:
		return ipvs.CmdDelDaemon
	}
	return ipvs.CmdUnspec
}

// errorText is ipvs_strerror for an error of the kernel layer: the errno,
// interpreted for the command that failed.
func errorText(cmd ipvs.Cmd, err error) string {
	if errno, ok := errnoOf(cmd, err); ok {
		return strerror(cmd, errno)
	}
	return err.Error()
}

func errnoOf(cmd ipvs.Cmd, err error) (unix.Errno, bool) {
	var ke *ipvs.Error
	if errors.As(err, &ke) {
		return ke.Errno, true
	}
	var errno unix.Errno
	if errors.As(err, &errno) {
		return errno, true
	}
	// A fake that reports sentinels rather than errnos.
	switch {
	case errors.Is(err, lvs.ErrServiceExists), errors.Is(err, lvs.ErrDestinationExists), errors.Is(err, lvs.ErrDaemonRunning):
		return unix.EEXIST, true
	case errors.Is(err, lvs.ErrNoSuchService), errors.Is(err, lvs.ErrNoDaemon):
		return unix.ESRCH, true
	case errors.Is(err, lvs.ErrNoSuchDestination), errors.Is(err, lvs.ErrNoSuchScheduler):
		return unix.ENOENT, true
	}
	return 0, false
}

// strerror is libipvs's ipvs_strerror: messages by (function, errno), then
// by errno alone, then the C library's strerror.
func strerror(cmd ipvs.Cmd, errno unix.Errno) string {
	type key struct {
		cmd   ipvs.Cmd
		errno unix.Errno
	}
	specific := map[key]string{
		{ipvs.CmdNewService, unix.EEXIST}: "Service already exists",
		{ipvs.CmdNewService, unix.ENOENT}: "Scheduler or persistence engine not found",
		{ipvs.CmdSetService, unix.ESRCH}:  "No such service",
		{ipvs.CmdSetService, unix.ENOENT}: "Scheduler or persistence engine not found",
		{ipvs.CmdDelService, unix.ESRCH}:  "No such service",
		{ipvs.CmdZero, unix.ESRCH}:        "No such service",
		{ipvs.CmdNewDest, unix.ESRCH}:     "Service not defined",
		{ipvs.CmdNewDest, unix.EEXIST}:    "Destination already exists",
		{ipvs.CmdSetDest, unix.ESRCH}:     "Service not defined",
		{ipvs.CmdSetDest, unix.ENOENT}:    "No such destination",
		{ipvs.CmdDelDest, unix.ESRCH}:     "Service not defined",
		{ipvs.CmdDelDest, unix.ENOENT}:    "No such destination",
		{ipvs.CmdNewDaemon, unix.EEXIST}:  "Daemon has already run",
		{ipvs.CmdDelDaemon, unix.ESRCH}:   "No daemon is running",
		{ipvs.CmdGetService, unix.ESRCH}:  "No such service",
		{ipvs.CmdGetDest, unix.ESRCH}:     "No such service",
	}
	if m, ok := specific[key{cmd, errno}]; ok {
		return m
	}
	switch errno {
	case unix.EPERM:
		return "Permission denied (you must be root)"
	case unix.EINVAL:
		return "Invalid operation.  Possibly wrong module version, address not unicast, ..."
	case unix.ENOPROTOOPT:
		return "Protocol not available"
	case unix.ENOMEM:
		return "Memory allocation problem"
	case unix.EOPNOTSUPP:
		return "Operation not supported with IPv6"
	case unix.EAFNOSUPPORT:
		return "Operation not supported with specified address family"
	case unix.EMSGSIZE:
		return "Module is wrong version"
	}
	return cStrerror(errno)
}

// cStrerror is glibc's strerror text: Go's, capitalised as glibc has it.
func cStrerror(errno unix.Errno) string {
	s := errno.Error()
	if s == "" || strings.HasPrefix(s, "errno ") {
		return fmt.Sprintf("Unknown error %d", int(errno))
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
