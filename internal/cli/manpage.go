package cli

import (
	"bytes"
	"fmt"
	"go/doc/comment"
	"go/parser"
	"go/token"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strings"
	"text/template"
	"unicode"

	ucli "github.com/urfave/cli/v2"
)

// Manual pages. Each page has a source in man/src/PAGE.SECTION.md: a text
// template producing a small Markdown dialect (below), with functions that
// pull synopses, descriptions and flags from the urfave/cli definition and
// reference text from the repository, so the pages follow the code. The
// dialect is turned into man(7) roff by our own writer, which escapes
// everything it does not emit itself; TestGenerated keeps man/ current and
// lints every page with groff and mandoc.
//
// The dialect:
//
//	# SECTION            .SH (upper-cased)
//	## Subsection        .SS
//	text lines           a paragraph; a blank line ends it
//	- item               a bullet list item (continued by indented lines)
//	TERM                 a tagged paragraph: TERM on its own line, then
//	:   text             the text indented by ":   " (continued by lines
//	                     indented four spaces)
//	```                  a literal block (.nf), until the next ```
//	| a | b | c |        a table row: a tagged paragraph with a as the tag
//	`code` **bold**      inline: bold; *italic* is italic
//	<!-- ... -->         dropped

// manDate is the date every page carries. It changes when the pages
// change in substance, by hand: a generated date would make every build
// differ.
const manDate = "2026-11-26"

// ManPages renders every page in src (man/src) against the application's
// command tree. repo reads files the templates include (lvs/ipvsadm/JSON.md,
// internal/config/doc.go). Keys are file names ("lvsctl.8").
func ManPages(src, repo fs.FS, app *ucli.App) (map[string][]byte, error) {
	names, err := fs.Glob(src, "*.md")
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("man: no page sources")
	}
	out := map[string][]byte{}
	for _, n := range names {
		page := strings.TrimSuffix(n, ".md")
		text, err := fs.ReadFile(src, n)
		if err != nil {
			return nil, err
		}
		roff, err := renderManPage(page, string(text), repo, app)
		if err != nil {
			return nil, fmt.Errorf("man %s: %w", page, err)
		}
		out[page] = roff
	}
	return out, nil
}

func renderManPage(page, text string, repo fs.FS, app *ucli.App) ([]byte, error) {
	dot := strings.LastIndexByte(page, '.')
	if dot < 0 {
		return nil, fmt.Errorf("page name %q has no section", page)
	}
	name, section := page[:dot], page[dot+1:]
	tmpl, err := template.New(page).Funcs(manFuncs(repo, app)).Parse(text)
	if err != nil {
		return nil, err
	}
	var md bytes.Buffer
	if err := tmpl.Execute(&md, nil); err != nil {
		return nil, err
	}
	var b strings.Builder
	title := "System Manager's Manual"
	if section == "5" {
		title = "File Formats Manual"
	}
	fmt.Fprintf(&b, ".\\\" Generated from man/src/%s.md by TestGenerated; do not edit.\n", page)
	fmt.Fprintf(&b, ".TH %s %s %s lvsctl %s\n", roffQuote(strings.ToUpper(name)), section, manDate, roffQuote(title))
	// Options and addresses must not be hyphenated at line ends.
	b.WriteString(".nh\n")
	if err := markdownToRoff(&b, md.String()); err != nil {
		return nil, err
	}
	return []byte(b.String()), nil
}

func roffQuote(s string) string {
	return `"` + escapeRoff(s) + `"`
}

// escapeRoff makes text safe in roff: backslashes, hyphens (\- is the
// minus that copy-and-paste keeps), and nothing else.
func escapeRoff(s string) string {
	return strings.NewReplacer(`\`, `\e`, "-", `\-`).Replace(s)
}

// findCommand finds a subcommand by its path ("fwmark add").
func findCommand(app *ucli.App, p string) *ucli.Command {
	cmds := app.Commands
	var c *ucli.Command
	for _, w := range strings.Fields(p) {
		c = nil
		for _, x := range cmds {
			if x.HasName(w) {
				c = x
				break
			}
		}
		if c == nil {
			return nil
		}
		cmds = c.Subcommands
	}
	return c
}

func manFuncs(repo fs.FS, app *ucli.App) template.FuncMap {
	cmd := func(p string) (*ucli.Command, error) {
		c := findCommand(app, p)
		if c == nil {
			return nil, fmt.Errorf("no command %q in this build", p)
		}
		return c, nil
	}
	return template.FuncMap{
		// has says whether the command exists in this build.
		"has": func(p string) bool { return findCommand(app, p) != nil },
		// usage is the command's one-line summary.
		"usage": func(p string) (string, error) {
			c, err := cmd(p)
			if err != nil {
				return "", err
			}
			return c.Usage, nil
		},
		// synopsis renders the command's usage lines (UsageText up to the
		// first blank line) as synopsis paragraphs.
		"synopsis": func(p string) (string, error) {
			c, err := cmd(p)
			if err != nil {
				return "", err
			}
			return synopsisMarkdown(c, p), nil
		},
		// description is the command's Description as paragraphs.
		"description": func(p string) (string, error) {
			c, err := cmd(p)
			if err != nil {
				return "", err
			}
			return descriptionMarkdown(c.Description), nil
		},
		// flags lists the command's flags as tagged paragraphs.
		"flags": func(p string) (string, error) {
			c, err := cmd(p)
			if err != nil {
				return "", err
			}
			return flagsMarkdown(c.Flags), nil
		},
		// examples are the examples of the command's UsageText, as a
		// literal block.
		"examples": func(p string) (string, error) {
			c, err := cmd(p)
			if err != nil {
				return "", err
			}
			ex := usageExamples(c.UsageText)
			if len(ex) == 0 {
				return "", nil
			}
			return "```\n" + strings.Join(ex, "\n") + "\n```\n", nil
		},
		// subcommands renders each subcommand of p as a subsection:
		// synopsis, description, flags.
		"subcommands": func(p string) (string, error) {
			c, err := cmd(p)
			if err != nil {
				return "", err
			}
			var b strings.Builder
			for _, s := range c.Subcommands {
				if s.Hidden || s.Name == "help" {
					continue
				}
				sp := p + " " + s.Name
				fmt.Fprintf(&b, "## %s\n\n%s\n\n", sp, synopsisMarkdown(s, sp))
				if len(s.Aliases) > 0 {
					fmt.Fprintf(&b, "Also spelled `%s`.\n\n", strings.Join(s.Aliases, "`, `"))
				}
				b.WriteString(mdEscape(sentence(s.Usage)) + "\n\n")
				if s.Description != "" {
					b.WriteString(descriptionMarkdown(s.Description))
				}
				if len(s.Flags) > 0 {
					b.WriteString(flagsMarkdown(s.Flags))
				}
			}
			return b.String(), nil
		},
		// commandList lists the application's commands with their usage.
		"commandList": func() string {
			var b strings.Builder
			for _, c := range app.Commands {
				if c.Hidden {
					continue
				}
				fmt.Fprintf(&b, "**lvsctl %s**\n:   %s", c.Name, mdEscape(sentence(c.Usage)))
				if c.Name != "version" && c.Name != "completion" {
					fmt.Fprintf(&b, " See **lvsctl-%s**(8).", c.Name)
				}
				b.WriteString("\n\n")
			}
			return b.String()
		},
		// include reads a Markdown file of the repository, dropping its
		// first-level title.
		"include": func(name string) (string, error) {
			data, err := fs.ReadFile(repo, name)
			if err != nil {
				return "", err
			}
			var keep []string
			for _, l := range strings.Split(string(data), "\n") {
				if strings.HasPrefix(l, "# ") {
					continue
				}
				keep = append(keep, l)
			}
			return strings.Join(keep, "\n"), nil
		},
		// godoc renders a package's documentation from its doc.go,
		// directive lists as tagged lists.
		"godoc": func(dir string) (string, error) { return godocMarkdown(repo, dir) },
	}
}

func sentence(s string) string {
	if s == "" {
		return s
	}
	r := []rune(s)
	r[0] = unicode.ToUpper(r[0])
	s = string(r)
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

// mdEscape protects text taken from the code from being read as inline
// markup.
func mdEscape(s string) string {
	return strings.NewReplacer("`", "\\`", "*", "\\*").Replace(s)
}

// synopsisMarkdown renders usage lines: literal words bold, placeholders
// (upper case) italic, brackets and bars as they are.
func synopsisMarkdown(c *ucli.Command, p string) string {
	text := c.UsageText
	if text == "" {
		text = "lvsctl " + p + " [options]"
	}
	if i := strings.Index(text, "\n\n"); i >= 0 {
		text = text[:i]
	}
	// A line that does not start with the program continues the one
	// before.
	var raw []string
	for _, l := range strings.Split(text, "\n") {
		l = strings.TrimSpace(l)
		switch {
		case l == "":
		case len(raw) > 0 && !strings.HasPrefix(l, "lvsctl"):
			raw[len(raw)-1] += " " + strings.TrimSuffix(l, "\\")
		default:
			raw = append(raw, strings.TrimSpace(strings.TrimSuffix(l, "\\")))
		}
	}
	var lines []string
	for _, l := range raw {
		lines = append(lines, synopsisLine(l))
	}
	return "<!--synopsis-->\n" + strings.Join(lines, "\n") + "\n<!--/synopsis-->"
}

var synopsisToken = regexp.MustCompile(`[\[\]|{}]|[^\s\[\]|{}]+`)

func synopsisLine(l string) string {
	var b strings.Builder
	prevSpace := true
	rest := l
	for len(rest) > 0 {
		if rest[0] == ' ' {
			b.WriteByte(' ')
			rest = rest[1:]
			prevSpace = true
			continue
		}
		tok := synopsisToken.FindString(rest)
		rest = rest[len(tok):]
		switch {
		case strings.ContainsAny(tok, "[]|{}") && len(tok) == 1:
			b.WriteString(tok)
		case tok == "..." || strings.HasPrefix(tok, "..."):
			b.WriteString(mdEscape(tok))
		case isPlaceholder(tok):
			b.WriteString("*" + mdEscape(tok) + "*")
		default:
			b.WriteString("**" + mdEscape(tok) + "**")
		}
		_ = prevSpace
		prevSpace = false
	}
	return b.String()
}

func isPlaceholder(tok string) bool {
	tok = strings.TrimSuffix(tok, "...")
	hasUpper := false
	for _, r := range tok {
		switch {
		case unicode.IsUpper(r):
			hasUpper = true
		case unicode.IsDigit(r) || r == '/' || r == ':' || r == '_':
		default:
			return false
		}
	}
	return hasUpper
}

// descriptionMarkdown turns a Description into paragraphs; lines indented
// by three or more spaces are literal.
func descriptionMarkdown(d string) string {
	var b strings.Builder
	inLit := false
	for _, l := range strings.Split(d, "\n") {
		lit := strings.HasPrefix(l, "   ")
		switch {
		case lit && !inLit:
			b.WriteString("\n```\n")
			inLit = true
		case !lit && inLit:
			b.WriteString("```\n\n")
			inLit = false
		}
		if lit {
			b.WriteString(strings.TrimPrefix(l, "   ") + "\n")
			continue
		}
		b.WriteString(mdEscape(l) + "\n")
	}
	if inLit {
		b.WriteString("```\n")
	}
	return b.String() + "\n"
}

// flagsMarkdown renders flags as tagged paragraphs.
func flagsMarkdown(flags []ucli.Flag) string {
	var b strings.Builder
	for _, f := range flags {
		df, ok := f.(ucli.DocGenerationFlag)
		if !ok {
			continue
		}
		placeholder, usage := unquoteUsage(df.GetUsage())
		if df.TakesValue() && placeholder == "" {
			placeholder = "VALUE"
		}
		var names []string
		for _, n := range f.Names() {
			t := "**" + mdEscape(dashed(n)) + "**"
			if df.TakesValue() {
				t += " *" + mdEscape(placeholder) + "*"
			}
			names = append(names, t)
		}
		usage = sentence(usage)
		if df.TakesValue() {
			if v := df.GetValue(); v != "" && v != `""` && v != "0" {
				usage += " Default: " + strings.Trim(v, `"`) + "."
			}
		}
		if rf, ok := f.(ucli.RequiredFlag); ok && rf.IsRequired() {
			usage += " Required."
		}
		fmt.Fprintf(&b, "%s\n:   %s\n\n", strings.Join(names, ", "), mdEscape(usage))
	}
	return b.String()
}

// unquoteUsage splits urfave's "`PLACEHOLDER`" convention.
func unquoteUsage(u string) (string, string) {
	i := strings.IndexByte(u, '`')
	if i < 0 {
		return "", u
	}
	j := strings.IndexByte(u[i+1:], '`')
	if j < 0 {
		return "", u
	}
	name := u[i+1 : i+1+j]
	return name, u[:i] + name + u[i+2+j:]
}

// godocMarkdown renders the package comment of repo/dir/doc.go. Under a
// heading containing "directives", a paragraph "BLOCK: d1 (note), d2, ..."
// becomes a subsection listing each directive.
func godocMarkdown(repo fs.FS, dir string) (string, error) {
	data, err := fs.ReadFile(repo, path.Join(dir, "doc.go"))
	if err != nil {
		return "", err
	}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "doc.go", data, parser.ParseComments|parser.PackageClauseOnly)
	if err != nil {
		return "", err
	}
	if f.Doc == nil {
		return "", fmt.Errorf("%s/doc.go has no package comment", dir)
	}
	text := f.Doc.Text()
	var p comment.Parser
	d := p.Parse(text)
	var b strings.Builder
	directives := false
	for _, blk := range d.Content {
		switch x := blk.(type) {
		case *comment.Heading:
			h := commentText(x.Text)
			directives = strings.Contains(strings.ToLower(h), "directives")
			fmt.Fprintf(&b, "## %s\n\n", mdEscape(h))
		case *comment.Paragraph:
			t := commentText(x.Text)
			if directives {
				if block, list, ok := directiveList(t); ok {
					fmt.Fprintf(&b, "**%s**\n:   ", mdEscape(block))
					for i, it := range list {
						if i > 0 {
							b.WriteString("\n    ")
						}
						b.WriteString("- " + it)
					}
					b.WriteString("\n\n")
					continue
				}
			}
			b.WriteString(mdEscape(t) + "\n\n")
		case *comment.List:
			for _, it := range x.Items {
				var parts []string
				for _, c := range it.Content {
					if para, ok := c.(*comment.Paragraph); ok {
						parts = append(parts, commentText(para.Text))
					}
				}
				b.WriteString("- " + mdEscape(strings.Join(parts, " ")) + "\n")
			}
			b.WriteString("\n")
		case *comment.Code:
			b.WriteString("```\n" + x.Text + "```\n\n")
		}
	}
	return b.String(), nil
}

func commentText(ts []comment.Text) string {
	var b strings.Builder
	for _, t := range ts {
		switch x := t.(type) {
		case comment.Plain:
			b.WriteString(string(x))
		case comment.Italic:
			b.WriteString(string(x))
		case *comment.Link:
			b.WriteString(commentText(x.Text))
		case *comment.DocLink:
			b.WriteString(commentText(x.Text))
		}
	}
	return strings.Join(strings.Fields(b.String()), " ")
}

// directiveList splits "BLOCK: a (x, y), b [c], d." into BLOCK and its
// items, each item's directive name bold. ok is false for a paragraph of
// another shape.
func directiveList(t string) (block string, items []string, ok bool) {
	i := strings.Index(t, ": ")
	if i < 0 || i > 60 || strings.ContainsAny(t[:i], ".,;") {
		return "", nil, false
	}
	block, body := t[:i], strings.TrimSuffix(strings.TrimSpace(t[i+2:]), ".")
	depth := 0
	start := 0
	var raw []string
	for j, r := range body {
		switch r {
		case '(', '[', '{':
			depth++
		case ')', ']', '}':
			depth--
		case ',':
			if depth == 0 {
				raw = append(raw, strings.TrimSpace(body[start:j]))
				start = j + 1
			}
		}
	}
	raw = append(raw, strings.TrimSpace(body[start:]))
	if len(raw) < 2 {
		return "", nil, false
	}
	for _, it := range raw {
		it = strings.TrimPrefix(it, "and ")
		name, rest, _ := strings.Cut(it, " ")
		s := "**" + mdEscape(name) + "**"
		if rest != "" {
			s += " " + mdEscape(rest)
		}
		items = append(items, s)
	}
	return block, items, true
}

// markdownToRoff writes the dialect described at the top of this file.
func markdownToRoff(b *strings.Builder, md string) error {
	lines := strings.Split(md, "\n")
	var para []string
	// body says whether anything follows the last heading: a paragraph
	// macro right after .SH or .SS is redundant (mandoc warns).
	body := false
	needPP := false
	pp := func() {
		if body {
			b.WriteString(".PP\n")
		}
		body, needPP = true, false
	}
	flush := func() {
		if len(para) > 0 {
			writeText(b, inlineRoff(strings.Join(para, " ")))
			para = nil
		}
	}
	for i := 0; i < len(lines); i++ {
		l := strings.TrimRight(lines[i], " \t")
		trimmed := strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(trimmed, "<!--"):
			flush()
			if trimmed == "<!--synopsis-->" {
				// Synopsis lines: each a paragraph of its own with a
				// hanging indent.
				for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "<!--/synopsis-->"; i++ {
					pp()
					b.WriteString(".in +4n\n.ti -4n\n")
					writeText(b, inlineRoff(strings.TrimSpace(lines[i])))
					b.WriteString(".in -4n\n")
				}
				needPP = true
				continue
			}
			for !strings.Contains(lines[i], "-->") && i+1 < len(lines) {
				i++
			}
		case strings.HasPrefix(l, "# "):
			flush()
			fmt.Fprintf(b, ".SH %s\n", roffQuote(strings.ToUpper(strings.TrimSpace(l[2:]))))
			body, needPP = false, false
		case strings.HasPrefix(l, "## ") || strings.HasPrefix(l, "### "):
			flush()
			fmt.Fprintf(b, ".SS %s\n", roffQuote(strings.TrimSpace(strings.TrimLeft(l, "#"))))
			body, needPP = false, false
		case trimmed == "":
			flush()
			needPP = body
		case strings.HasPrefix(trimmed, "```"):
			flush()
			pp()
			b.WriteString(".RS 4\n.nf\n")
			for i++; i < len(lines) && !strings.HasPrefix(strings.TrimSpace(lines[i]), "```"); i++ {
				b.WriteString(literalRoff(strings.TrimRight(lines[i], " \t")) + "\n")
			}
			b.WriteString(".fi\n.RE\n")
			needPP = true
		case strings.HasPrefix(l, "- "):
			flush()
			text := []string{l[2:]}
			for i+1 < len(lines) && strings.HasPrefix(lines[i+1], "  ") && !strings.HasPrefix(strings.TrimSpace(lines[i+1]), "- ") {
				i++
				text = append(text, strings.TrimSpace(lines[i]))
			}
			b.WriteString(".IP \\(bu 2\n")
			writeText(b, inlineRoff(strings.Join(text, " ")))
			body, needPP = true, true
		case strings.HasPrefix(trimmed, "|"):
			flush()
			cells := tableCells(trimmed)
			if len(cells) == 0 || isTableRule(cells) {
				continue
			}
			// The header row of a table names the columns: skip it
			// when the next line is the rule.
			if i+1 < len(lines) && isTableRule(tableCells(strings.TrimSpace(lines[i+1]))) {
				i++
				continue
			}
			b.WriteString(".TP\n")
			writeText(b, inlineRoff(cells[0]))
			rest := cells[1:]
			if len(rest) == 2 {
				writeText(b, inlineRoff("("+rest[0]+") "+rest[1]))
			} else {
				writeText(b, inlineRoff(strings.Join(rest, " ")))
			}
			body, needPP = true, true
		case i+1 < len(lines) && strings.HasPrefix(lines[i+1], ":   "):
			flush()
			b.WriteString(".TP\n")
			writeText(b, inlineRoff(trimmed))
			i++
			tb := []string{strings.TrimPrefix(lines[i], ":   ")}
			for i+1 < len(lines) && strings.HasPrefix(lines[i+1], "    ") {
				i++
				tb = append(tb, strings.TrimPrefix(lines[i], "    "))
			}
			writeTaggedBody(b, tb)
			body, needPP = true, true
		default:
			if len(para) == 0 && (needPP || !body) {
				pp()
			}
			para = append(para, trimmed)
		}
	}
	flush()
	return nil
}

// writeText writes a roff text line, broken at blanks so that no line is
// longer than 80 bytes where a blank allows, each line protected from
// being read as a request.
func writeText(b *strings.Builder, s string) {
	const width = 80
	for len(s) > 0 {
		line := s
		if len(s) > width {
			cut := strings.LastIndexByte(s[:width+1], ' ')
			if cut <= 0 {
				cut = strings.IndexByte(s, ' ')
			}
			if cut > 0 {
				line = s[:cut]
			}
		}
		s = strings.TrimLeft(s[len(line):], " ")
		line = strings.TrimRight(line, " ")
		if strings.HasPrefix(line, ".") || strings.HasPrefix(line, "'") {
			line = `\&` + line
		}
		b.WriteString(line + "\n")
	}
}

// writeTaggedBody writes a tagged paragraph's body, which may hold a
// bullet list (one item per "- " line).
func writeTaggedBody(b *strings.Builder, body []string) {
	var text []string
	out := func() {
		if len(text) > 0 {
			writeText(b, inlineRoff(strings.Join(text, " ")))
			text = nil
		}
	}
	for _, l := range body {
		if strings.HasPrefix(l, "- ") {
			out()
			b.WriteString(".br\n")
			text = append(text, l[2:])
			continue
		}
		text = append(text, strings.TrimSpace(l))
	}
	out()
}

func tableCells(l string) []string {
	l = strings.TrimSpace(l)
	if !strings.HasPrefix(l, "|") {
		return nil
	}
	l = strings.Trim(l, "|")
	var cells []string
	for _, c := range strings.Split(l, "|") {
		cells = append(cells, strings.TrimSpace(c))
	}
	return cells
}

func isTableRule(cells []string) bool {
	if len(cells) == 0 {
		return false
	}
	for _, c := range cells {
		if strings.Trim(c, "-: ") != "" {
			return false
		}
	}
	return true
}

// literalRoff escapes a line of a literal block.
func literalRoff(l string) string {
	s := escapeRoff(l)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}

// inlineRoff renders inline markup: `code` and **bold** bold, *italic*
// italic; \` and \* are the characters.
func inlineRoff(s string) string {
	var b strings.Builder
	font := []string{} // the stack of fonts in effect
	set := func() {
		switch {
		case len(font) == 0:
			b.WriteString(`\fR`)
		default:
			b.WriteString(`\f` + font[len(font)-1])
		}
	}
	toggle := func(f string) {
		if len(font) > 0 && font[len(font)-1] == f {
			font = font[:len(font)-1]
		} else {
			font = append(font, f)
		}
		set()
	}
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case r == '\\' && i+1 < len(rs) && (rs[i+1] == '`' || rs[i+1] == '*'):
			b.WriteRune(rs[i+1])
			i++
		case r == '`':
			j := i + 1
			for j < len(rs) && rs[j] != '`' {
				j++
			}
			b.WriteString(`\fB` + escapeRoff(string(rs[i+1:min(j, len(rs))])))
			set()
			i = j
		case r == '*' && i+1 < len(rs) && rs[i+1] == '*':
			toggle("B")
			i++
		case r == '*' && (i+1 < len(rs) && !unicode.IsSpace(rs[i+1]) || len(font) > 0 && font[len(font)-1] == "I"):
			toggle("I")
		default:
			b.WriteString(escapeRoff(string(r)))
		}
	}
	return b.String()
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
