package cli

import (
	"fmt"
	"io/fs"
	"path"
	"strings"
	"time"

	"github.com/grainvm/grain/fsys"
)

// Windows file attribute bits grain prints.
var winAttrs = []struct {
	bit  uint32
	name string
}{
	{0x1, "readonly"}, {0x2, "hidden"}, {0x4, "system"}, {0x10, "directory"},
	{0x20, "archive"}, {0x40, "device"}, {0x80, "normal"}, {0x100, "temporary"},
	{0x200, "sparse"}, {0x400, "reparse-point"}, {0x800, "compressed"},
	{0x1000, "offline"}, {0x2000, "not-content-indexed"}, {0x4000, "encrypted"},
	{0x8000, "integrity-stream"}, {0x20000, "no-scrub-data"},
	{0x80000, "pinned"}, {0x100000, "unpinned"}, {0x400000, "recall-on-data-access"},
}

func attrNames(a uint32) []string {
	var out []string
	for _, w := range winAttrs {
		if a&w.bit != 0 {
			out = append(out, w.name)
		}
	}
	return out
}

// entryJSON is one file's metadata as --json prints it.
type entryJSON struct {
	Path       string            `json:"path"`
	Name       string            `json:"name"`
	Type       string            `json:"type"`
	Size       int64             `json:"size"`
	Mode       string            `json:"mode"`
	Modified   stamp             `json:"mtime,omitzero"`
	Accessed   stamp             `json:"atime,omitzero"`
	Changed    stamp             `json:"ctime,omitzero"`
	Created    stamp             `json:"btime,omitzero"`
	Allocated  int64             `json:"allocated,omitempty"`
	Inode      uint64            `json:"inode,omitempty"`
	Generation uint32            `json:"generation,omitempty"`
	Nlink      uint32            `json:"nlink,omitempty"`
	UnixMode   string            `json:"unix_mode,omitempty"`
	UID        *uint32           `json:"uid,omitempty"`
	GID        *uint32           `json:"gid,omitempty"`
	Rdev       uint64            `json:"rdev,omitempty"`
	Attributes []string          `json:"attributes,omitempty"`
	Target     string            `json:"target,omitempty"`
	ReparseTag string            `json:"reparse_tag,omitempty"`
	Special    string            `json:"special,omitempty"`
	Streams    []streamJSON      `json:"streams,omitempty"`
	Xattrs     map[string]string `json:"xattrs,omitempty"`
	Extents    int               `json:"extents,omitempty"`
	Compressed bool              `json:"compressed,omitempty"`
	Extra      map[string]string `json:"extra,omitempty"`
}

type streamJSON struct {
	Name      string `json:"name"`
	Size      int64  `json:"size"`
	Allocated int64  `json:"allocated,omitempty"`
}

func fileType(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "dir"
	case m&fs.ModeSymlink != 0:
		return "symlink"
	case m.IsRegular():
		return "file"
	case m&fs.ModeNamedPipe != 0:
		return "fifo"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeCharDevice != 0:
		return "chardev"
	case m&fs.ModeDevice != 0:
		return "blockdev"
	}
	return "other"
}

// stamp is a time as --json prints it: UTC, RFC 3339 with nanoseconds;
// omitted when zero.
type stamp struct{ t time.Time }

func (s stamp) IsZero() bool { return s.t.IsZero() }

func (s stamp) String() string {
	if s.t.IsZero() {
		return ""
	}
	return s.t.UTC().Format(time.RFC3339Nano)
}

func (s stamp) MarshalJSON() ([]byte, error) { return s.appendJSON(nil), nil }

func (s stamp) appendJSON(b []byte) []byte {
	b = append(b, '"')
	b = s.t.UTC().AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

func timeJSON(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// describeEntry collects what grain knows of one file. full adds xattr
// values and the extra facts (stat); listings leave them out.
func describeEntry(p string, info fs.FileInfo, full bool) entryJSON {
	j := entryJSON{
		Path: "/" + strings.TrimPrefix(p, "/"), Name: info.Name(), Type: fileType(info.Mode()),
		Size: info.Size(), Mode: info.Mode().String(), Modified: stamp{info.ModTime()},
	}
	if p == "." || p == "" {
		j.Path, j.Name = "/", "/"
	} else {
		j.Name = path.Base(p)
	}
	m := fsys.MetaOf(info)
	if m == nil {
		return j
	}
	j.Accessed, j.Changed, j.Created = stamp{m.Access}, stamp{m.Change}, stamp{m.Birth}
	if !m.Modify.IsZero() {
		j.Modified = stamp{m.Modify}
	}
	j.Allocated, j.Inode, j.Generation, j.Nlink, j.Rdev = m.Allocated, m.Inode, m.Generation, m.Nlink, m.Rdev
	if m.UnixMode != 0 {
		j.UnixMode = fmt.Sprintf("%06o", m.UnixMode)
		uid, gid := m.UID, m.GID
		j.UID, j.GID = &uid, &gid
	}
	j.Attributes = attrNames(m.Attributes)
	j.Target, j.Special, j.Compressed = m.LinkTarget, m.Special, m.Compressed
	if m.ReparseTag != 0 {
		j.ReparseTag = fmt.Sprintf("0x%08x", m.ReparseTag)
	}
	for _, s := range m.Streams {
		j.Streams = append(j.Streams, streamJSON(s))
	}
	if len(m.Xattrs) > 0 {
		j.Xattrs = map[string]string{}
		for _, x := range m.Xattrs {
			v := fmt.Sprintf("%d bytes", len(x.Value))
			if full {
				v = printableValue(x.Value)
			}
			j.Xattrs[x.Name] = v
		}
	}
	j.Extents = len(m.Extents)
	if full && len(m.Extra) > 0 {
		j.Extra = map[string]string{}
		for _, kv := range m.Extra {
			j.Extra[kv.Key] = kv.Value
		}
	}
	return j
}

// printableValue shows an xattr value as text when it is text, else as
// hex, the way getfattr does.
func printableValue(b []byte) string {
	text := true
	for i, c := range b {
		if c == 0 && i == len(b)-1 {
			continue
		}
		if c < 0x20 || c == 0x7f {
			text = false
			break
		}
	}
	if text {
		return fmt.Sprintf("%q", strings.TrimSuffix(string(b), "\x00"))
	}
	return fmt.Sprintf("0x%x", b)
}

// hidden reports whether ls hides an entry without -a: dot files, and
// files Windows marks hidden or system.
func hidden(info fs.FileInfo) bool {
	if strings.HasPrefix(info.Name(), ".") {
		return true
	}
	if m := fsys.MetaOf(info); m != nil && m.Attributes&0x6 != 0 && m.UnixMode == 0 {
		return true
	}
	return false
}
