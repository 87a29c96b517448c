package filter

import "unicode/utf8"

// Token kinds of a compiled LIKE pattern.
const (
	likeLit  = iota // one literal character
	likeOne         // _
	likeMany        // %
)

type likeTok struct {
	kind uint8
	r    rune
}

// likePattern is a LIKE pattern compiled twice: by character for text and by byte for binary
// strings, where MySQL's _ matches one byte.
type likePattern struct {
	chars []likeTok
	bytes []likeTok
}

// compileLike compiles a pattern; esc < 0 means no escape character. An escape character at
// the end of the pattern stands for itself, as in MySQL.
func compileLike(pat string, esc rune) *likePattern {
	p := &likePattern{}
	escaped := false
	for _, r := range pat {
		p.chars = appendLike(p.chars, r, esc, &escaped)
	}
	if escaped {
		p.chars = append(p.chars, likeTok{kind: likeLit, r: esc})
	}
	escaped = false
	for i := 0; i < len(pat); i++ {
		p.bytes = appendLike(p.bytes, rune(pat[i]), esc, &escaped)
	}
	if escaped {
		p.bytes = append(p.bytes, likeTok{kind: likeLit, r: esc})
	}
	return p
}

func appendLike(toks []likeTok, r, esc rune, escaped *bool) []likeTok {
	switch {
	case *escaped:
		*escaped = false
		return append(toks, likeTok{kind: likeLit, r: r})
	case r == esc:
		*escaped = true
		return toks
	case r == '%':
		if n := len(toks); n > 0 && toks[n-1].kind == likeMany {
			return toks
		}
		return append(toks, likeTok{kind: likeMany})
	case r == '_':
		return append(toks, likeTok{kind: likeOne})
	}
	return append(toks, likeTok{kind: likeLit, r: r})
}

// matchText matches text character by character. It backtracks only to the last %, which
// keeps it linear in practice and never worse than len(s)*len(toks).
func (p *likePattern) matchText(s string, ci bool) bool {
	toks := p.chars
	si, ti := 0, 0
	starTi, starSi := -1, 0
	for si < len(s) {
		if ti < len(toks) {
			t := toks[ti]
			switch t.kind {
			case likeMany:
				starTi, starSi = ti, si
				ti++
				continue
			case likeOne:
				_, w := utf8.DecodeRuneInString(s[si:])
				si += w
				ti++
				continue
			default:
				r, w := utf8.DecodeRuneInString(s[si:])
				if r == t.r || ci && foldRune(r) == foldRune(t.r) {
					si += w
					ti++
					continue
				}
			}
		}
		if starTi < 0 {
			return false
		}
		_, w := utf8.DecodeRuneInString(s[starSi:])
		starSi += w
		si, ti = starSi, starTi+1
	}
	for ti < len(toks) && toks[ti].kind == likeMany {
		ti++
	}
	return ti == len(toks)
}

// matchBinary matches byte by byte, case-sensitively: either operand being binary makes the
// match binary in MySQL.
func matchBinary[T string | []byte](toks []likeTok, s T) bool {
	si, ti := 0, 0
	starTi, starSi := -1, 0
	for si < len(s) {
		if ti < len(toks) {
			t := toks[ti]
			switch t.kind {
			case likeMany:
				starTi, starSi = ti, si
				ti++
				continue
			case likeOne:
				si++
				ti++
				continue
			default:
				if rune(s[si]) == t.r {
					si++
					ti++
					continue
				}
			}
		}
		if starTi < 0 {
			return false
		}
		starSi++
		si, ti = starSi, starTi+1
	}
	for ti < len(toks) && toks[ti].kind == likeMany {
		ti++
	}
	return ti == len(toks)
}

// like evaluates x LIKE pattern for non-NULL text; binary is set when the pattern is binary.
func (p *likePattern) like(x value, ci, binary bool) bool {
	switch {
	case x.k == kBytes:
		return matchBinary(p.bytes, x.b)
	case binary:
		return matchBinary(p.bytes, x.s)
	}
	return p.matchText(x.s, ci)
}
