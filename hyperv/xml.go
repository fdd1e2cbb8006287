package hyperv

import (
	"bytes"
	"encoding/binary"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Bounds on an XML configuration. Real files are 20–60 KB.
const (
	maxXMLSize     = 16 << 20
	maxXMLElements = 1 << 18
	maxXMLValue    = 64 << 10 // characters kept of one value
)

// ReadXML reads an XML VM configuration (Windows Server 2008 to 2012 R2,
// Virtual Machines/<GUID>.xml). Hyper-V writes these in UTF-16 with a byte
// order mark; UTF-8 is read too. Without a global_id the VM's ID is empty
// (Scan fills it from the file name).
func ReadXML(r io.Reader) (*VM, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxXMLSize+1))
	if err != nil {
		return nil, fmt.Errorf("hyperv: xml: %w", err)
	}
	if len(b) > maxXMLSize {
		return nil, fmt.Errorf("hyperv: xml: larger than %d bytes: %w", maxXMLSize, ErrFormat)
	}
	root, err := readXMLTree(b)
	if err != nil {
		return nil, err
	}
	return vmFromTree(root, "xml")
}

// toUTF8 decodes UTF-16 text (told by its byte order mark, or by a NUL
// beside the first '<') and drops a UTF-8 byte order mark.
func toUTF8(b []byte) ([]byte, error) {
	var order binary.ByteOrder
	switch {
	case bytes.HasPrefix(b, []byte{0xef, 0xbb, 0xbf}):
		return b[3:], nil
	case bytes.HasPrefix(b, []byte{0xff, 0xfe}):
		order, b = binary.LittleEndian, b[2:]
	case bytes.HasPrefix(b, []byte{0xfe, 0xff}):
		order, b = binary.BigEndian, b[2:]
	case len(b) >= 2 && b[0] == '<' && b[1] == 0:
		order = binary.LittleEndian
	case len(b) >= 2 && b[0] == 0 && b[1] == '<':
		order = binary.BigEndian
	default:
		return b, nil
	}
	if len(b)%2 != 0 {
		return nil, fmt.Errorf("hyperv: xml: UTF-16 text of odd length %d: %w", len(b), ErrFormat)
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = order.Uint16(b[2*i:])
	}
	out := make([]byte, 0, len(u))
	for _, r := range utf16.Decode(u) {
		out = utf8.AppendRune(out, r)
	}
	return out, nil
}

// readXMLTree parses the XML into the same tree a VMCX file holds:
// elements without a type attribute are nodes, the others values.
func readXMLTree(b []byte) (*node, error) {
	b, err := toUTF8(b)
	if err != nil {
		return nil, err
	}
	d := xml.NewDecoder(bytes.NewReader(b))
	// The text is UTF-8 by now, whatever the declaration says.
	d.CharsetReader = func(label string, in io.Reader) (io.Reader, error) {
		switch strings.ToLower(label) {
		case "utf-16", "utf-16le", "utf-16be", "unicode", "utf-8", "us-ascii", "ascii":
			return in, nil
		}
		return nil, fmt.Errorf("hyperv: xml: encoding %q not supported: %w", label, ErrFormat)
	}
	root := &node{kind: kindNode}
	stack := []*node{root}
	typed := []string{""}
	text := [][]byte{nil}
	elements := 0
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("hyperv: xml: %w (%w)", err, ErrFormat)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if elements++; elements > maxXMLElements {
				return nil, fmt.Errorf("hyperv: xml: more than %d elements: %w", maxXMLElements, ErrFormat)
			}
			if len(stack) > maxTreeDepth {
				return nil, fmt.Errorf("hyperv: xml: elements nested deeper than %d: %w", maxTreeDepth, ErrFormat)
			}
			if len(stack) == 1 && len(root.children) > 0 {
				return nil, fmt.Errorf("hyperv: xml: more than one root element: %w", ErrFormat)
			}
			typ := ""
			for _, a := range t.Attr {
				if a.Name.Local == "type" {
					typ = a.Value
				}
			}
			n := &node{name: t.Name.Local, kind: kindNode}
			parent := stack[len(stack)-1]
			parent.children = append(parent.children, n)
			stack = append(stack, n)
			typed = append(typed, typ)
			text = append(text, nil)
		case xml.CharData:
			top := len(text) - 1
			if typed[top] != "" && len(text[top]) < maxXMLValue {
				if room := maxXMLValue - len(text[top]); len(t) > room {
					t = t[:room]
				}
				text[top] = append(text[top], t...)
			}
		case xml.EndElement:
			if len(stack) <= 1 {
				return nil, fmt.Errorf("hyperv: xml: unmatched </%s>: %w", t.Name.Local, ErrFormat)
			}
			n := stack[len(stack)-1]
			setValue(n, typed[len(typed)-1], string(text[len(text)-1]))
			stack, typed, text = stack[:len(stack)-1], typed[:len(typed)-1], text[:len(text)-1]
		}
	}
	if len(root.children) != 1 || root.children[0].name != "configuration" {
		return nil, fmt.Errorf("hyperv: xml: root element is not <configuration>: %w", ErrFormat)
	}
	return root, nil
}

// setValue gives an element with a type attribute its value.
func setValue(n *node, typ, s string) {
	if typ == "" {
		return
	}
	n.children = nil
	switch strings.ToLower(typ) {
	case "string":
		n.kind, n.str = kindString, s
	case "integer":
		if v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64); err == nil {
			n.kind, n.num = kindInt, v
		} else if u, err := strconv.ParseUint(strings.TrimSpace(s), 10, 64); err == nil {
			n.kind, n.num = kindInt, int64(u)
		} else {
			n.kind, n.str = kindOther, s
		}
	case "bool", "boolean":
		n.kind, n.flag = kindBool, strings.EqualFold(strings.TrimSpace(s), "true")
	case "bytes":
		n.kind, n.str = kindBytes, s
	default:
		n.kind, n.str = kindOther, s
	}
}
