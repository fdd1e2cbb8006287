package hyperv

import (
	"strconv"
	"strings"
)

// valueKind is the type of a value in a configuration tree. XML files spell
// it in a type attribute ("string", "integer", "bool", "bytes"); VMCX files
// in a key entry's data type.
type valueKind uint8

const (
	kindNode valueKind = iota
	kindString
	kindInt
	kindBool
	kindBytes
	kindOther
)

// node is one key of a configuration: both formats hold the same tree
// (configuration/properties/name, configuration/_<guid>_/controller0/…).
type node struct {
	name     string
	kind     valueKind
	str      string // kindString, and the text of kindOther
	num      int64  // kindInt (unsigned values are kept as their bits)
	flag     bool   // kindBool
	children []*node
}

// child returns the first child whose name matches, ignoring case (Hyper-V
// writes instance GUIDs in either case).
func (n *node) child(name string) *node {
	if n == nil {
		return nil
	}
	for _, c := range n.children {
		if strings.EqualFold(c.name, name) {
			return c
		}
	}
	return nil
}

// lookup follows a path of names from n.
func (n *node) lookup(names ...string) *node {
	for _, s := range names {
		n = n.child(s)
	}
	return n
}

// text is a value as a string, whatever its kind.
func (n *node) text() string {
	if n == nil {
		return ""
	}
	switch n.kind {
	case kindInt:
		return strconv.FormatInt(n.num, 10)
	case kindBool:
		return strconv.FormatBool(n.flag)
	}
	return n.str
}

// integer is a value as an integer; ok is false if it is absent or not a
// number.
func (n *node) integer() (int64, bool) {
	if n == nil {
		return 0, false
	}
	switch n.kind {
	case kindInt:
		return n.num, true
	case kindString, kindOther:
		v, err := strconv.ParseInt(strings.TrimSpace(n.str), 10, 64)
		return v, err == nil
	}
	return 0, false
}

// indexed parses names like "controller0" or "drive12": prefix then a
// decimal number below limit.
func indexed(name, prefix string, limit int) (int, bool) {
	if len(name) <= len(prefix) || !strings.EqualFold(name[:len(prefix)], prefix) {
		return 0, false
	}
	digits := name[len(prefix):]
	if len(digits) > 4 {
		return 0, false
	}
	v, err := strconv.Atoi(digits)
	if err != nil || v < 0 || v >= limit {
		return 0, false
	}
	return v, true
}
