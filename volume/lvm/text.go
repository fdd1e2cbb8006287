package lvm

import (
	"fmt"
	"strconv"
)

// The LVM2 metadata text format: sections `name { … }` holding
// assignments `key = value`, where a value is a string ("…" with \" and \\
// escapes), an integer, a decimal number, or a list [v, v, …] of such
// values. '#' starts a comment to the end of the line.

// MaxDepth bounds the nesting of sections (real metadata nests 5 deep).
const MaxDepth = 32

// Value is a metadata value: exactly one of Str, Int (with IsInt), List.
type Value struct {
	Str   string
	Int   int64
	Float float64
	Kind  ValueKind
	List  []Value
	Line  int
}

// ValueKind says which field of a Value is set.
type ValueKind uint8

const (
	KindString ValueKind = iota
	KindInt
	KindFloat
	KindList
)

// Section is a `name { … }` block (the whole text is a nameless section).
type Section struct {
	Name     string
	Line     int
	Values   map[string]Value
	Keys     []string // assignment keys in order
	Sections []*Section
}

// Section returns the child section called name, or nil.
func (s *Section) Section(name string) *Section {
	if s == nil {
		return nil
	}
	for _, c := range s.Sections {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// String returns the string value of key.
func (s *Section) String(key string) (string, bool) {
	if s == nil {
		return "", false
	}
	v, ok := s.Values[key]
	if !ok || v.Kind != KindString {
		return "", false
	}
	return v.Str, true
}

// Int returns the integer value of key.
func (s *Section) Int(key string) (int64, bool) {
	if s == nil {
		return 0, false
	}
	v, ok := s.Values[key]
	if !ok || v.Kind != KindInt {
		return 0, false
	}
	return v.Int, true
}

// Strings returns the strings of a list value (non-strings are skipped).
func (s *Section) Strings(key string) []string {
	if s == nil {
		return nil
	}
	v, ok := s.Values[key]
	if !ok || v.Kind != KindList {
		return nil
	}
	var out []string
	for _, e := range v.List {
		if e.Kind == KindString {
			out = append(out, e.Str)
		}
	}
	return out
}

// List returns a list value.
func (s *Section) List(key string) ([]Value, bool) {
	if s == nil {
		return nil, false
	}
	v, ok := s.Values[key]
	if !ok || v.Kind != KindList {
		return nil, false
	}
	return v.List, true
}

// ParseText parses LVM2 metadata text.
func ParseText(text []byte) (*Section, error) {
	p := &parser{b: text, line: 1}
	root := &Section{Values: map[string]Value{}, Line: 1}
	if err := p.body(root, 0); err != nil {
		return nil, err
	}
	return root, nil
}

type parser struct {
	b    []byte
	i    int
	line int
}

func (p *parser) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: metadata text line %d: %s", ErrFormat, p.line, fmt.Sprintf(format, args...))
}

// skip passes spaces, newlines and comments.
func (p *parser) skip() {
	for p.i < len(p.b) {
		switch c := p.b[p.i]; c {
		case '\n':
			p.line++
			p.i++
		case ' ', '\t', '\r', '\f', '\v':
			p.i++
		case '#':
			for p.i < len(p.b) && p.b[p.i] != '\n' {
				p.i++
			}
		default:
			return
		}
	}
}

func isIdent(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '_' || c == '-' || c == '.' || c == '+' || c == '/' || c == '@' || c == ':'
}

// body parses assignments and sections until '}' (depth > 0) or the end.
func (p *parser) body(s *Section, depth int) error {
	for {
		p.skip()
		if p.i >= len(p.b) {
			if depth > 0 {
				return p.errorf("section %q not closed (text truncated?)", s.Name)
			}
			return nil
		}
		if p.b[p.i] == '}' {
			if depth == 0 {
				return p.errorf("unexpected '}'")
			}
			p.i++
			return nil
		}
		start := p.i
		var name string
		if p.b[p.i] == '"' { // quoted section names are allowed by the format
			str, err := p.str()
			if err != nil {
				return err
			}
			name = str
		} else {
			for p.i < len(p.b) && isIdent(p.b[p.i]) {
				p.i++
			}
			if p.i == start {
				return p.errorf("unexpected character %q", p.b[p.i])
			}
			name = string(p.b[start:p.i])
		}
		line := p.line
		p.skip()
		if p.i >= len(p.b) {
			return p.errorf("%q: text ends after a name", name)
		}
		switch p.b[p.i] {
		case '{':
			if depth+1 > MaxDepth {
				return p.errorf("sections nested deeper than %d", MaxDepth)
			}
			p.i++
			c := &Section{Name: name, Line: line, Values: map[string]Value{}}
			if err := p.body(c, depth+1); err != nil {
				return err
			}
			s.Sections = append(s.Sections, c)
		case '=':
			p.i++
			p.skip()
			v, err := p.value(true)
			if err != nil {
				return err
			}
			v.Line = line
			if _, dup := s.Values[name]; !dup {
				s.Keys = append(s.Keys, name)
			}
			s.Values[name] = v
		default:
			return p.errorf("%q: expected '=' or '{', found %q", name, p.b[p.i])
		}
	}
}

func (p *parser) value(listOK bool) (Value, error) {
	if p.i >= len(p.b) {
		return Value{}, p.errorf("text ends where a value is expected")
	}
	switch c := p.b[p.i]; {
	case c == '"':
		s, err := p.str()
		return Value{Kind: KindString, Str: s}, err
	case c == '[':
		if !listOK {
			return Value{}, p.errorf("nested lists are not part of the format")
		}
		p.i++
		v := Value{Kind: KindList, List: []Value{}}
		for {
			p.skip()
			if p.i >= len(p.b) {
				return v, p.errorf("list not closed (text truncated?)")
			}
			if p.b[p.i] == ']' {
				p.i++
				return v, nil
			}
			e, err := p.value(false)
			if err != nil {
				return v, err
			}
			v.List = append(v.List, e)
			p.skip()
			if p.i < len(p.b) && p.b[p.i] == ',' {
				p.i++
			}
		}
	case c == '-' || c == '+' || c >= '0' && c <= '9' || c == '.':
		start := p.i
		p.i++
		for p.i < len(p.b) && (p.b[p.i] >= '0' && p.b[p.i] <= '9' || p.b[p.i] == '.' || p.b[p.i] == 'e' || p.b[p.i] == 'E' || p.b[p.i] == '-' || p.b[p.i] == '+') {
			p.i++
		}
		tok := string(p.b[start:p.i])
		if n, err := strconv.ParseInt(tok, 10, 64); err == nil {
			return Value{Kind: KindInt, Int: n}, nil
		}
		if f, err := strconv.ParseFloat(tok, 64); err == nil {
			return Value{Kind: KindFloat, Float: f}, nil
		}
		return Value{}, p.errorf("bad number %q", tok)
	default:
		return Value{}, p.errorf("unexpected character %q in a value", c)
	}
}

// str parses a quoted string at p.i.
func (p *parser) str() (string, error) {
	p.i++ // opening quote
	var out []byte
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch c {
		case '"':
			p.i++
			return string(out), nil
		case '\\':
			if p.i+1 >= len(p.b) {
				return "", p.errorf("string not closed (text truncated?)")
			}
			out = append(out, p.b[p.i+1])
			p.i += 2
			continue
		case '\n':
			p.line++
		}
		out = append(out, c)
		p.i++
	}
	return "", p.errorf("string not closed (text truncated?)")
}
