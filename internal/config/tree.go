package config

// node is one statement of the file with, when a '{' follows it, the
// statements of its block. The tree knows nothing of keywords: keepalived
// accepts a block's '{' at the end of the keyword's line, on a line of
// its own, or with the whole block on one line, and so does the tree.
type node struct {
	file     string
	line     int
	words    []string
	raw      string
	block    bool
	children []*node
}

func (n *node) key() string { return n.words[0] }

func (n *node) args() []string { return n.words[1:] }

// buildTree nests the lexer's items. Unbalanced braces are errors.
func (lx *lexer) buildTree() []*node {
	pos := 0
	var parse func(open *item) []*node
	parse = func(open *item) []*node {
		var out []*node
		for pos < len(lx.items) {
			it := &lx.items[pos]
			pos++
			switch it.kind {
			case itemClose:
				if open == nil {
					lx.errorf(it.file, it.line, "unexpected '}'")
					continue
				}
				return out
			case itemOpen:
				// A '{' that does not follow a statement: keepalived
				// ignores it with an error in --config-test.
				lx.errorf(it.file, it.line, "unexpected '{'")
				parse(it)
				continue
			}
			n := &node{file: it.file, line: it.line, words: it.words, raw: it.raw}
			if pos < len(lx.items) && lx.items[pos].kind == itemOpen {
				b := &lx.items[pos]
				pos++
				n.block = true
				n.children = parse(b)
			}
			out = append(out, n)
		}
		if open != nil {
			lx.errorf(open.file, open.line, "missing '}' for the block opened here")
		}
		return out
	}
	return parse(nil)
}
