package config

import (
	"bytes"
	"fmt"
	"io/fs"
	"path"
	"strings"
)

// The lexer turns files into a flat list of items: statements (the words
// between line ends and braces) and braces. It does, in keepalived's order
// (lib/parser.c read_line): comment removal, '@' conditional lines, '$NAME='
// definitions and their substitution, include, and the split of a line at
// every '{' and '}' outside double quotes.

type itemKind uint8

const (
	itemWords itemKind = iota
	itemOpen           // '{'
	itemClose          // '}'
)

type item struct {
	kind  itemKind
	file  string
	line  int
	words []string
	raw   string // the statement as written (quotes kept), for scripts
}

// maxIncludeDepth bounds nesting even without a loop (a/b/c/... generated
// trees), and maxExpansions bounds parameter substitution, which keepalived
// does recursively at use time: $A=$A would never end.
const (
	maxIncludeDepth = 32
	maxExpansions   = 10000 // per parse: multi-line definitions that
	maxLineDepth    = 16    // expand into themselves grow exponentially
	maxLineExpand   = 1000  // substitutions in one line
	maxExpandedLen  = 64 << 10
	maxBraceExpand  = 256
	maxLines        = 1 << 20 // logical lines, after expansion
)

type definition struct {
	value     string
	multiline bool
}

type lexer struct {
	fsys     fs.FS
	configID string
	defs     map[string]*definition
	stack    []string // files being read, outermost first: the include-loop guard
	items    []item
	files    []string
	warnings []Warning
	errs     []error

	// pending multi-line definition ($NAME= ... \ continued lines)
	pending *definition
	// expansions counts substitutions over the whole parse, lines the
	// logical lines processed
	expansions int
	lines      int
}

func (lx *lexer) errorf(file string, line int, format string, args ...any) {
	if len(lx.errs) < maxErrors {
		lx.errs = append(lx.errs, &Error{File: file, Line: line, Msg: fmt.Sprintf(format, args...)})
	}
}

func (lx *lexer) warnf(file string, line int, format string, args ...any) {
	lx.warnings = append(lx.warnings, Warning{File: file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// readFile lexes one file's contents; name is the path the file was opened
// by (for messages and for resolving its relative includes).
func (lx *lexer) readFile(name string, data []byte) {
	lx.stack = append(lx.stack, name)
	lx.files = append(lx.files, name)
	defer func() { lx.stack = lx.stack[:len(lx.stack)-1] }()

	if bytes.IndexByte(data, 0) >= 0 {
		lx.errorf(name, 0, "binary file (NUL byte)")
		return
	}
	lines := strings.Split(string(data), "\n")
	for i, text := range lines {
		if len(lx.errs) >= maxErrors {
			return
		}
		lineNo := i + 1
		text = strings.TrimRight(text, "\r")
		text, cont, err := decomment(text)
		if err != nil {
			lx.errorf(name, lineNo, "%v", err)
			continue
		}
		if lx.pending != nil {
			// A multi-line definition goes on while lines end in '\';
			// a blank line ends it, as in keepalived.
			if text != "" {
				if lx.pending.value != "" {
					lx.pending.value += "\n"
				}
				lx.pending.value += text
			}
			if !cont || text == "" {
				lx.pending = nil
			}
			continue
		}
		if text == "" {
			continue
		}
		if cont {
			text += `\`
		}
		lx.processLine(name, lineNo, text, 0)
	}
	// A definition left open at the end of a file ends with it.
	lx.pending = nil
}

// decomment strips leading and trailing blanks and a comment ('#' or '!'
// outside double quotes, anywhere in the line). "\#" and "\!" outside
// quotes stand for the characters themselves. A final '\' is removed and
// reported as a continuation (only definitions continue lines).
func decomment(s string) (string, bool, error) {
	s = strings.TrimLeft(s, " \t")
	var b strings.Builder
	quote := false
	cont := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			quote = !quote
			b.WriteByte(c)
		case c == '\\':
			if i+1 == len(s) {
				cont = true
				continue
			}
			if !quote && (s[i+1] == '#' || s[i+1] == '!') {
				b.WriteByte(s[i+1])
			} else {
				b.WriteByte(c)
				b.WriteByte(s[i+1])
			}
			i++
		case !quote && (c == '#' || c == '!'):
			i = len(s)
		default:
			b.WriteByte(c)
		}
	}
	if quote {
		return "", false, fmt.Errorf("unterminated quote in %q", s)
	}
	return strings.TrimRight(b.String(), " \t\f\v"), cont, nil
}

// processLine handles one logical line: conditionals, definitions,
// substitution, include, then emits statements and braces.
func (lx *lexer) processLine(file string, line int, text string, depth int) {
	if depth > maxLineDepth {
		lx.errorf(file, line, "multi-line definitions nested too deeply")
		return
	}
	if lx.lines++; lx.lines > maxLines {
		if lx.lines == maxLines+1 {
			lx.errorf(file, line, "more than %d lines after parameter expansion", maxLines)
		}
		return
	}
	for range 10 {
		if text == "" {
			return
		}
		if text[0] == '@' {
			var ok bool
			if text, ok = lx.conditional(text); !ok {
				return
			}
		}
		if name, value, ok := definitionOf(text); ok {
			d := &definition{value: strings.TrimRight(value, `\`)}
			d.value = strings.TrimRight(d.value, " \t")
			lx.defs[name] = d
			if strings.HasSuffix(value, `\`) {
				d.multiline = true
				lx.pending = d
			}
			return
		}
		if strings.HasPrefix(text, "~SEQ") || strings.HasPrefix(text, "~LST") {
			lx.warnf(file, line, "%s blocks are not supported; line ignored", text[:4])
			return
		}
		if !strings.Contains(text, "$") {
			break
		}
		out, changed, err := lx.substitute(file, text)
		if err != nil {
			lx.errorf(file, line, "%v", err)
			return
		}
		text = out
		if !changed || (text != "" && text[0] != '@' && !strings.Contains(text, "$")) {
			break
		}
	}
	if strings.Contains(text, "\n") {
		for _, l := range strings.Split(text, "\n") {
			l = strings.TrimSpace(l)
			if l != "" {
				lx.processLine(file, line, l, depth+1)
			}
		}
		return
	}
	text = strings.TrimSuffix(text, `\`)
	if lx.include(file, line, text) {
		return
	}
	lx.emit(file, line, text)
}

// conditional applies an "@id " or "@^id " prefix: the line is kept when
// id equals the config id (or, with '^', when it does not).
func (lx *lexer) conditional(text string) (string, bool) {
	rev := strings.HasPrefix(text, "@^")
	id := text[1:]
	if rev {
		id = text[2:]
	}
	sp := strings.IndexAny(id, " \t")
	if sp < 0 {
		return "", false
	}
	rest := strings.TrimLeft(id[sp:], " \t")
	id = id[:sp]
	match := lx.configID != "" && id == lx.configID
	if match == rev {
		return "", false
	}
	return rest, true
}

// definitionOf recognises "$NAME=VALUE" (blanks allowed before '=').
func definitionOf(text string) (name, value string, ok bool) {
	if len(text) < 3 || text[0] != '$' || !isNameStart(text[1]) {
		return "", "", false
	}
	i := 2
	for i < len(text) && isNameChar(text[i]) {
		i++
	}
	name = text[1:i]
	rest := strings.TrimLeft(text[i:], " \t")
	if !strings.HasPrefix(rest, "=") {
		return "", "", false
	}
	return name, strings.TrimLeft(rest[1:], " \t"), true
}

func isNameStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isNameChar(c byte) bool { return isNameStart(c) || (c >= '0' && c <= '9') }

// lookup returns a definition, including keepalived's predefined ones
// (which a definition of the same name overrides).
func (lx *lexer) lookup(file, name string) (*definition, bool) {
	if d, ok := lx.defs[name]; ok {
		return d, true
	}
	switch name {
	case "_PWD":
		return &definition{value: path.Dir(file)}, true
	case "_INSTANCE":
		return &definition{value: lx.configID}, true
	case "_HASH":
		return &definition{value: "#"}, true
	case "_BANG":
		return &definition{value: "!"}, true
	}
	return nil, false
}

// substitute replaces $NAME (followed by a blank, ',', ')' or the end)
// and ${NAME}; an undefined name stays as written. Replacement text is
// scanned again, so definitions may refer to later ones.
func (lx *lexer) substitute(file, text string) (string, bool, error) {
	changed := false
	n := 0
	for i := 0; i < len(text); {
		j := strings.IndexByte(text[i:], '$')
		if j < 0 {
			break
		}
		i += j
		name, end := "", 0
		if i+1 < len(text) && text[i+1] == '{' {
			k := i + 2
			for k < len(text) && isNameChar(text[k]) {
				k++
			}
			if k < len(text) && text[k] == '}' && k > i+2 && isNameStart(text[i+2]) {
				name, end = text[i+2:k], k+1
			}
		} else if i+1 < len(text) && isNameStart(text[i+1]) {
			k := i + 2
			for k < len(text) && isNameChar(text[k]) {
				k++
			}
			if k == len(text) || strings.IndexByte(" \t,)", text[k]) >= 0 {
				name, end = text[i+1:k], k
			}
		}
		d, ok := lx.lookup(file, name)
		if name == "" || !ok {
			i++
			continue
		}
		n++
		if lx.expansions++; lx.expansions > maxExpansions || n > maxLineExpand {
			return "", false, fmt.Errorf("parameter substitution does not end (recursive definition of %s?)", name)
		}
		text = text[:i] + d.value + text[end:]
		if len(text) > maxExpandedLen {
			return "", false, fmt.Errorf("parameter substitution makes the line longer than %d bytes (recursive definition of %s?)", maxExpandedLen, name)
		}
		changed = true
	}
	return text, changed, nil
}

// includeKeywords are keepalived 2.2's include variants and whether a
// pattern that matches nothing is an error for them (includem only errors
// without wildcards; includea, includew and includeb always do).
var includeKeywords = map[string]bool{
	"include":  false,
	"includer": false,
	"includem": true,
	"includew": true,
	"includeb": true,
	"includea": true,
}

func (lx *lexer) include(file string, line int, text string) bool {
	words, _, err := splitWords(text)
	if err != nil || len(words) == 0 {
		return false
	}
	strict, ok := includeKeywords[words[0]]
	if !ok {
		return false
	}
	if len(words) != 2 {
		lx.errorf(file, line, "%s takes exactly one file name or pattern", words[0])
		return true
	}
	if len(lx.stack) >= maxIncludeDepth {
		lx.errorf(file, line, "includes nested deeper than %d", maxIncludeDepth)
		return true
	}
	pattern := words[1]
	if !path.IsAbs(pattern) {
		// keepalived changes directory to the including file's
		// directory before reading it, so relative names resolve there.
		pattern = path.Join(path.Dir(file), pattern)
	}
	hasWild := strings.ContainsAny(pattern, "*?[")
	var matched []string
	patterns := expandBraces(pattern, maxBraceExpand)
	if patterns == nil {
		lx.errorf(file, line, "include %s: more than %d brace expansions", words[1], maxBraceExpand)
		return true
	}
	for _, p := range patterns {
		names, err := fs.Glob(lx.fsys, fsName(p))
		if err != nil {
			lx.errorf(file, line, "include %s: %v", words[1], err)
			return true
		}
		for _, n := range names {
			if path.IsAbs(pattern) {
				n = "/" + n
			}
			matched = append(matched, n)
		}
	}
	read := 0
	for _, name := range matched {
		st, err := fs.Stat(lx.fsys, fsName(name))
		if err != nil {
			lx.errorf(file, line, "include %s: %v", name, err)
			continue
		}
		if st.IsDir() {
			continue
		}
		if !st.Mode().IsRegular() || st.Mode()&0o111 != 0 {
			lx.warnf(file, line, "include %s: not a regular non-executable file; skipped, as keepalived does", name)
			continue
		}
		for _, open := range lx.stack {
			if open == name {
				lx.errorf(file, line, "include loop: %s includes %s again", strings.Join(lx.stack, " -> "), name)
				return true
			}
		}
		data, err := fs.ReadFile(lx.fsys, fsName(name))
		if err != nil {
			lx.errorf(file, line, "include %s: %v", name, err)
			continue
		}
		read++
		lx.readFile(name, data)
	}
	if read == 0 {
		if strict && (words[0] != "includem" || !hasWild) {
			lx.errorf(file, line, "%s %s: no file matches", words[0], words[1])
		} else {
			lx.warnf(file, line, "%s %s: no file matches", words[0], words[1])
		}
	}
	return true
}

// fsName turns a slash path into an fs.FS name: no leading '/', cleaned.
func fsName(p string) string {
	p = strings.TrimLeft(path.Clean(p), "/")
	if p == "" {
		return "."
	}
	return p
}

// expandBraces does csh brace expansion ("a{b,c}d" -> abd, acd), which
// keepalived gets from glob(GLOB_BRACE). Unbalanced braces stay literal.
// It gives up (nil) beyond max results: the count grows exponentially.
func expandBraces(s string, max int) []string {
	open := strings.IndexByte(s, '{')
	if open < 0 {
		return []string{s}
	}
	depth, close := 0, -1
	var commas []int
	for i := open; i < len(s) && close < 0; i++ {
		switch s[i] {
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				close = i
			}
		case ',':
			if depth == 1 {
				commas = append(commas, i)
			}
		}
	}
	if close < 0 {
		return []string{s}
	}
	rests := expandBraces(s[close+1:], max)
	if rests == nil {
		return nil
	}
	var out []string
	start := open + 1
	for _, c := range append(commas, close) {
		mids := expandBraces(s[start:c], max)
		if mids == nil || len(out)+len(mids)*len(rests) > max {
			return nil
		}
		for _, rest := range rests {
			for _, mid := range mids {
				out = append(out, s[:open]+mid+rest)
			}
		}
		start = c + 1
	}
	return out
}

// emit splits a line at braces outside double quotes and appends the
// statements and braces it holds.
func (lx *lexer) emit(file string, line int, text string) {
	quote := false
	start := 0
	flush := func(end int) {
		seg := strings.TrimSpace(text[start:end])
		if seg == "" {
			return
		}
		words, _, err := splitWords(seg)
		if err != nil {
			lx.errorf(file, line, "%v", err)
			return
		}
		if len(words) > 0 {
			lx.items = append(lx.items, item{kind: itemWords, file: file, line: line, words: words, raw: seg})
		}
	}
	for i := 0; i < len(text); i++ {
		switch c := text[i]; {
		case c == '"':
			quote = !quote
		case !quote && (c == '{' || c == '}'):
			flush(i)
			k := itemOpen
			if c == '}' {
				k = itemClose
			}
			lx.items = append(lx.items, item{kind: k, file: file, line: line})
			start = i + 1
		}
	}
	flush(len(text))
}

// splitWords is keepalived's generic word split (alloc_strvec): words are
// separated by blanks; a word starting with '"' runs to the next '"' and
// loses its quotes; an unquoted word also ends at '"'. The second result
// tells which words were quoted.
func splitWords(s string) ([]string, []bool, error) {
	var words []string
	var quoted []bool
	i := 0
	for {
		for i < len(s) && isBlank(s[i]) {
			i++
		}
		if i == len(s) {
			return words, quoted, nil
		}
		if s[i] == '"' {
			end := strings.IndexByte(s[i+1:], '"')
			if end < 0 {
				return nil, nil, fmt.Errorf("unterminated quote in %q", s)
			}
			words = append(words, s[i+1:i+1+end])
			quoted = append(quoted, true)
			i += end + 2
			continue
		}
		j := i
		for j < len(s) && !isBlank(s[j]) && s[j] != '"' {
			j++
		}
		words = append(words, s[i:j])
		quoted = append(quoted, false)
		i = j
	}
}

func isBlank(c byte) bool {
	return c == ' ' || c == '\t' || c == '\f' || c == '\v' || c == '\r' || c == '\n'
}

// splitScriptWords is keepalived's split for scripts and their arguments
// (alloc_strvec_quoted_escaped): both quote characters group, quotes are
// removed where they appear, and backslash escapes are those of the shell
// and of keepalived.conf(5): \a \b \E \f \n \r \t \v, \nnn octal, \xXX hex,
// \cC control characters; any other escaped character stands for itself.
func splitScriptWords(s string) ([]string, error) {
	var words []string
	i := 0
	for {
		for i < len(s) && isBlank(s[i]) {
			i++
		}
		if i == len(s) {
			return words, nil
		}
		var w strings.Builder
		var q byte
		for i < len(s) {
			c := s[i]
			if q == 0 && isBlank(c) {
				break
			}
			switch {
			case c == '\\':
				i++
				if i == len(s) {
					return nil, fmt.Errorf("escape at end of %q", s)
				}
				r, n := unescape(s[i:])
				w.WriteByte(r)
				i += n
				continue
			case q != 0 && c == q:
				q = 0
			case q == 0 && (c == '"' || c == '\''):
				q = c
			default:
				w.WriteByte(c)
			}
			i++
		}
		if q != 0 {
			return nil, fmt.Errorf("missing terminating %c in %q", q, s)
		}
		words = append(words, w.String())
	}
}

// unescape decodes the escape at the start of s (after the backslash) and
// returns the byte and how many bytes of s it used.
func unescape(s string) (byte, int) {
	c := s[0]
	switch {
	case c == 'x' && len(s) > 1 && isHex(s[1]):
		var v byte
		n := 1
		for n < len(s) && isHex(s[n]) {
			v = v<<4 | hexVal(s[n])
			n++
		}
		return v, n
	case c == 'c' && len(s) > 1:
		return s[1] & 0x1f, 2
	case c >= '0' && c <= '7':
		v, n := c-'0', 1
		for n < 3 && n < len(s) && s[n] >= '0' && s[n] <= '7' {
			v = v<<3 + (s[n] - '0')
			n++
		}
		return v, n
	}
	switch c {
	case 'a':
		return '\a', 1
	case 'b':
		return '\b', 1
	case 'E':
		return 0x1b, 1
	case 'f':
		return '\f', 1
	case 'n':
		return '\n', 1
	case 'r':
		return '\r', 1
	case 't':
		return '\t', 1
	case 'v':
		return '\v', 1
	}
	return c, 1
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func hexVal(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}
