package restic

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// Node types as restic names them.
const (
	NodeTypeFile      = "file"
	NodeTypeDir       = "dir"
	NodeTypeSymlink   = "symlink"
	NodeTypeDev       = "dev"     // block device
	NodeTypeCharDev   = "chardev" // character device
	NodeTypeFifo      = "fifo"
	NodeTypeSocket    = "socket"
	NodeTypeIrregular = "irregular"
)

// Generic attribute names (restic 0.17+) for Windows metadata.
const (
	// GenericCreationTime holds a FileTime.
	GenericCreationTime = "windows.creation_time"
	// GenericFileAttributes holds the FILE_ATTRIBUTE_* bits as a number.
	GenericFileAttributes = "windows.file_attributes"
	// GenericSecurityDescriptor holds a self-relative security descriptor
	// as base64.
	GenericSecurityDescriptor = "windows.security_descriptor"
)

// FileTime is a Windows FILETIME (100 ns units since 1601) encoded as Go's
// syscall.Filetime, which is how restic stores windows.creation_time.
type FileTime struct {
	LowDateTime  uint32
	HighDateTime uint32
}

// ExtendedAttribute is one extended attribute of a node; Value is base64
// in JSON.
type ExtendedAttribute struct {
	Name  string `json:"name"`
	Value []byte `json:"value"`
}

// Node is one entry of a tree, JSON-compatible with restic's node. Mode
// carries Go's fs.FileMode bits (type bits included), as restic stores
// it. Name and LinkTarget hold raw bytes: Name is written as restic writes
// it (Go-quoted, so invalid UTF-8 survives), a LinkTarget that is not valid
// UTF-8 also goes to linktarget_raw.
type Node struct {
	Name               string                     `json:"name"`
	Type               string                     `json:"type"`
	Mode               fs.FileMode                `json:"mode,omitempty"`
	ModTime            time.Time                  `json:"mtime"`
	AccessTime         time.Time                  `json:"atime"`
	ChangeTime         time.Time                  `json:"ctime"`
	UID                uint32                     `json:"uid"`
	GID                uint32                     `json:"gid"`
	User               string                     `json:"user,omitempty"`
	Group              string                     `json:"group,omitempty"`
	Inode              uint64                     `json:"inode,omitempty"`
	DeviceID           uint64                     `json:"device_id,omitempty"`
	Size               uint64                     `json:"size,omitempty"`
	Links              uint64                     `json:"links,omitempty"`
	LinkTarget         string                     `json:"linktarget,omitempty"`
	LinkTargetRaw      []byte                     `json:"linktarget_raw,omitempty"`
	ExtendedAttributes []ExtendedAttribute        `json:"extended_attributes,omitempty"`
	GenericAttributes  map[string]json.RawMessage `json:"generic_attributes,omitempty"`
	Device             uint64                     `json:"device,omitempty"`
	Content            IDs                        `json:"content"`
	Subtree            *ID                        `json:"subtree,omitempty"`
	Error              string                     `json:"error,omitempty"`
}

// fixTime brings years outside 0…9999 into range, as restic does, since
// JSON (RFC 3339) cannot hold them.
func fixTime(t time.Time) time.Time {
	switch {
	case t.Year() < 0:
		return t.AddDate(-t.Year(), 0, 0)
	case t.Year() > 9999:
		return t.AddDate(-(t.Year() - 9999), 0, 0)
	}
	return t
}

// MarshalJSON encodes the node as restic does.
func (n Node) MarshalJSON() ([]byte, error) {
	type plain Node
	p := plain(n)
	p.ModTime, p.AccessTime, p.ChangeTime = fixTime(n.ModTime), fixTime(n.AccessTime), fixTime(n.ChangeTime)
	q := strconv.Quote(n.Name)
	p.Name = q[1 : len(q)-1]
	p.LinkTargetRaw = nil
	if !utf8.ValidString(n.LinkTarget) {
		p.LinkTargetRaw = []byte(n.LinkTarget)
	}
	return json.Marshal(p)
}

// UnmarshalJSON decodes a restic node.
func (n *Node) UnmarshalJSON(b []byte) error {
	type plain Node
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return fmt.Errorf("restic: node: %v: %w", err, ErrFormat)
	}
	name, err := strconv.Unquote(`"` + p.Name + `"`)
	if err != nil {
		return fmt.Errorf("restic: node name %q: %v: %w", truncate(p.Name), err, ErrFormat)
	}
	p.Name = name
	if p.LinkTargetRaw != nil {
		p.LinkTarget = string(p.LinkTargetRaw)
		p.LinkTargetRaw = nil
	}
	*n = Node(p)
	return nil
}

// SetGeneric stores a generic attribute value (JSON-encoded).
func (n *Node) SetGeneric(name string, v any) error {
	b, err := marshalGeneric(v)
	if err != nil {
		return err
	}
	if n.GenericAttributes == nil {
		n.GenericAttributes = map[string]json.RawMessage{}
	}
	n.GenericAttributes[name] = b
	return nil
}

// marshalGeneric encodes a generic attribute value as json.Marshal does,
// without reflection for the values every NTFS node has.
func marshalGeneric(v any) ([]byte, error) {
	switch x := v.(type) {
	case FileTime:
		b := make([]byte, 0, 48)
		b = append(b, `{"LowDateTime":`...)
		b = strconv.AppendUint(b, uint64(x.LowDateTime), 10)
		b = append(b, `,"HighDateTime":`...)
		b = strconv.AppendUint(b, uint64(x.HighDateTime), 10)
		return append(b, '}'), nil
	case uint32:
		return strconv.AppendUint(make([]byte, 0, 10), uint64(x), 10), nil
	}
	return json.Marshal(v)
}

// Generic decodes a generic attribute into v; it reports false if absent.
func (n *Node) Generic(name string, v any) (bool, error) {
	raw, ok := n.GenericAttributes[name]
	if !ok {
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return true, fmt.Errorf("restic: node %q: generic attribute %s: %v: %w", truncate(n.Name), name, err, ErrFormat)
	}
	return true, nil
}

// Tree is a directory: its nodes sorted by name.
type Tree struct {
	Nodes []*Node `json:"nodes"`
}

// EncodeTree sorts the nodes by name and returns the tree blob as restic
// writes it: {"nodes":[…]} and a newline. Names must be unique and
// non-empty.
func EncodeTree(t *Tree) ([]byte, error) {
	nodes := slices.Clone(t.Nodes)
	slices.SortFunc(nodes, func(a, b *Node) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	for i, n := range nodes {
		if n == nil || n.Name == "" {
			return nil, fmt.Errorf("restic: tree: node %d without a name", i)
		}
		if i > 0 && nodes[i-1].Name == n.Name {
			return nil, fmt.Errorf("restic: tree: duplicate name %q", truncate(n.Name))
		}
	}
	var buf bytes.Buffer
	buf.WriteString(`{"nodes":[`)
	for i, n := range nodes {
		if i > 0 {
			buf.WriteByte(',')
		}
		// What json.Marshal(n) gives: MarshalJSON's output is already
		// compact and HTML-escaped, so its compaction pass is skipped.
		b, err := n.MarshalJSON()
		if err != nil {
			return nil, fmt.Errorf("restic: tree: node %q: %w", truncate(n.Name), err)
		}
		buf.Write(b)
	}
	buf.WriteString("]}\n")
	return buf.Bytes(), nil
}

// ParseTree decodes a tree blob.
func ParseTree(b []byte) (*Tree, error) {
	if t, ok := parseTreeFast(b); ok {
		return t, nil
	}
	return parseTreeJSON(b)
}

// parseTreeJSON decodes a tree blob with encoding/json.
func parseTreeJSON(b []byte) (*Tree, error) {
	var t Tree
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("restic: tree: %v: %w", err, ErrFormat)
	}
	for i, n := range t.Nodes {
		if n == nil {
			return nil, fmt.Errorf("restic: tree: node %d is null: %w", i, ErrFormat)
		}
	}
	return &t, nil
}
