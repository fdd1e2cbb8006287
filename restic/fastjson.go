package restic

import (
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"time"
	"unicode/utf8"
)

// parseTreeFast decodes the tree blobs restic and grain write, several
// times faster than encoding/json: {"nodes":[…]} whose nodes hold only the
// usual keys, with plain strings (no escapes), decimal integers and
// generic attributes made of integers and flat objects of integers. It
// reports false for anything else, and for anything encoding/json would
// treat differently (duplicate or differently cased keys, nulls where a
// value is expected, numbers out of range, invalid UTF-8); ParseTree then
// decodes the blob with encoding/json. FuzzTreeFast checks that both agree
// on every blob this accepts.
func parseTreeFast(b []byte) (*Tree, bool) {
	p := fastParser{b: b}
	t := &Tree{Nodes: []*Node{}}
	if !p.lit('{') || !p.key("nodes") || !p.array(func() bool {
		n, ok := p.node()
		t.Nodes = append(t.Nodes, n)
		return ok
	}) || !p.lit('}') {
		return nil, false
	}
	p.ws()
	return t, p.i == len(p.b)
}

type fastParser struct {
	b []byte
	i int
}

func (p *fastParser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// peek returns the next byte after white space (0 at the end).
func (p *fastParser) peek() byte {
	p.ws()
	if p.i < len(p.b) {
		return p.b[p.i]
	}
	return 0
}

func (p *fastParser) lit(c byte) bool {
	if p.peek() != c {
		return false
	}
	p.i++
	return true
}

// array reads a JSON array, calling elem to read each element; elem
// reports false to reject the input.
func (p *fastParser) array(elem func() bool) bool {
	if !p.lit('[') {
		return false
	}
	if p.peek() == ']' {
		p.i++
		return true
	}
	for {
		if !elem() {
			return false
		}
		if p.peek() != ',' {
			return p.lit(']')
		}
		p.i++
	}
}

// object reads a JSON object, calling field with each key to read its
// value; field reports false to reject the input.
func (p *fastParser) object(field func(key []byte) bool) bool {
	if !p.lit('{') {
		return false
	}
	if p.peek() == '}' {
		p.i++
		return true
	}
	for {
		k, ok := p.str()
		if !ok || !p.lit(':') || !field(k) {
			return false
		}
		if p.peek() != ',' {
			return p.lit('}')
		}
		p.i++
	}
}

// str returns the bytes of a string without escapes or control
// characters, valid UTF-8.
func (p *fastParser) str() ([]byte, bool) {
	if !p.lit('"') {
		return nil, false
	}
	start := p.i
	ascii := true
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			s := p.b[start:p.i]
			p.i++
			if !ascii && !utf8.Valid(s) {
				return nil, false
			}
			return s, true
		case c == '\\' || c < 0x20:
			return nil, false
		case c >= 0x80:
			ascii = false
		}
		p.i++
	}
	return nil, false
}

// key reads "name" and the colon after it.
func (p *fastParser) key(name string) bool {
	s, ok := p.str()
	return ok && string(s) == name && p.lit(':')
}

// uint reads a decimal integer without sign, fraction, exponent or
// leading zero, at most max.
func (p *fastParser) uint(max uint64) (uint64, bool) {
	p.ws()
	start := p.i
	var v uint64
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		d := uint64(p.b[p.i] - '0')
		if v > (max-d)/10 {
			return 0, false
		}
		v = v*10 + d
		p.i++
	}
	n := p.i - start
	if n == 0 || n > 1 && p.b[start] == '0' {
		return 0, false
	}
	if p.i < len(p.b) {
		switch p.b[p.i] {
		case '.', 'e', 'E':
			return 0, false
		}
	}
	return v, true
}

func (p *fastParser) null() bool {
	if p.peek() == 'n' && len(p.b)-p.i >= 4 && string(p.b[p.i:p.i+4]) == "null" {
		p.i += 4
		return true
	}
	return false
}

func (p *fastParser) id() (ID, bool) {
	var id ID
	s, ok := p.str()
	if !ok || len(s) != 2*IDSize {
		return id, false
	}
	if _, err := hex.Decode(id[:], s); err != nil {
		return id, false
	}
	return id, true
}

func (p *fastParser) time() (time.Time, bool) {
	p.ws()
	start := p.i
	if _, ok := p.str(); !ok {
		return time.Time{}, false
	}
	var t time.Time
	if err := t.UnmarshalJSON(p.b[start:p.i]); err != nil {
		return time.Time{}, false
	}
	return t, true
}

// raw reads an integer, a plain string or a flat object of integers as raw
// JSON (what generic attributes hold), copied as encoding/json copies a
// RawMessage.
func (p *fastParser) raw() (json.RawMessage, bool) {
	p.ws()
	start := p.i
	if p.peek() == '"' {
		if _, ok := p.str(); !ok {
			return nil, false
		}
	} else if p.peek() == '{' {
		p.i++
		if p.peek() == '}' {
			p.i++
		} else {
			for {
				if _, ok := p.str(); !ok || !p.lit(':') {
					return nil, false
				}
				if _, ok := p.uint(^uint64(0)); !ok {
					return nil, false
				}
				if p.peek() == ',' {
					p.i++
					continue
				}
				if !p.lit('}') {
					return nil, false
				}
				break
			}
		}
	} else if _, ok := p.uint(^uint64(0)); !ok {
		return nil, false
	}
	return json.RawMessage(append([]byte(nil), p.b[start:p.i]...)), true
}

// Node keys the fast path knows, as bits (a repeated key is left to
// encoding/json).
const (
	fkName = 1 << iota
	fkType
	fkMode
	fkMtime
	fkAtime
	fkCtime
	fkUID
	fkGID
	fkUser
	fkGroup
	fkInode
	fkDeviceID
	fkSize
	fkLinks
	fkLinkTarget
	fkGeneric
	fkDevice
	fkContent
	fkSubtree
	fkError
)

// fastNodeKey returns the bit of a node key the fast path knows, or 0.
func fastNodeKey(k []byte) int {
	switch string(k) {
	case "name":
		return fkName
	case "type":
		return fkType
	case "mode":
		return fkMode
	case "mtime":
		return fkMtime
	case "atime":
		return fkAtime
	case "ctime":
		return fkCtime
	case "uid":
		return fkUID
	case "gid":
		return fkGID
	case "user":
		return fkUser
	case "group":
		return fkGroup
	case "inode":
		return fkInode
	case "device_id":
		return fkDeviceID
	case "size":
		return fkSize
	case "links":
		return fkLinks
	case "linktarget":
		return fkLinkTarget
	case "generic_attributes":
		return fkGeneric
	case "device":
		return fkDevice
	case "content":
		return fkContent
	case "subtree":
		return fkSubtree
	case "error":
		return fkError
	}
	return 0
}

func (p *fastParser) node() (*Node, bool) {
	n := &Node{}
	seen := 0
	ok := p.object(func(k []byte) bool {
		bit := fastNodeKey(k)
		if bit == 0 || seen&bit != 0 {
			return false
		}
		seen |= bit
		return p.nodeField(n, bit)
	})
	return n, ok
}

// nodeField reads the value of the node key bit stands for into n.
func (p *fastParser) nodeField(n *Node, bit int) bool {
	var s []byte
	var v uint64
	var ok bool
	switch bit {
	case fkName, fkType, fkUser, fkGroup, fkLinkTarget, fkError:
		if s, ok = p.str(); !ok {
			return false
		}
		switch bit {
		case fkName:
			n.Name = string(s)
		case fkType:
			switch string(s) { // the common ones without an allocation
			case NodeTypeFile:
				n.Type = NodeTypeFile
			case NodeTypeDir:
				n.Type = NodeTypeDir
			case NodeTypeSymlink:
				n.Type = NodeTypeSymlink
			default:
				n.Type = string(s)
			}
		case fkUser:
			n.User = string(s)
		case fkGroup:
			n.Group = string(s)
		case fkLinkTarget:
			n.LinkTarget = string(s)
		case fkError:
			n.Error = string(s)
		}
	case fkMode, fkUID, fkGID:
		if v, ok = p.uint(1<<32 - 1); !ok {
			return false
		}
		switch bit {
		case fkMode:
			n.Mode = fs.FileMode(v)
		case fkUID:
			n.UID = uint32(v)
		case fkGID:
			n.GID = uint32(v)
		}
	case fkInode, fkDeviceID, fkSize, fkLinks, fkDevice:
		if v, ok = p.uint(^uint64(0)); !ok {
			return false
		}
		switch bit {
		case fkInode:
			n.Inode = v
		case fkDeviceID:
			n.DeviceID = v
		case fkSize:
			n.Size = v
		case fkLinks:
			n.Links = v
		case fkDevice:
			n.Device = v
		}
	case fkMtime, fkAtime, fkCtime:
		t, ok := p.time()
		if !ok {
			return false
		}
		switch bit {
		case fkMtime:
			n.ModTime = t
		case fkAtime:
			n.AccessTime = t
		case fkCtime:
			n.ChangeTime = t
		}
	case fkContent:
		n.Content, ok = p.ids()
		return ok
	case fkSubtree:
		if p.null() {
			break
		}
		id, ok := p.id()
		if !ok {
			return false
		}
		n.Subtree = &id
	case fkGeneric:
		n.GenericAttributes = map[string]json.RawMessage{}
		return p.object(func(k []byte) bool {
			if _, dup := n.GenericAttributes[string(k)]; dup {
				return false
			}
			raw, ok := p.raw()
			n.GenericAttributes[string(k)] = raw
			return ok
		})
	}
	return true
}

// parseIndexFast decodes index files as restic and grain write them:
// {"supersedes":[…],"packs":[{"id":…,"blobs":[{"id","type","offset",
// "length","uncompressed_length"}]}]} with the same limits as
// parseTreeFast; it reports false for anything else (ParseIndex then
// uses encoding/json). FuzzIndexFast checks that both agree.
func parseIndexFast(b []byte) (*IndexJSON, bool) {
	p := fastParser{b: b}
	idx := &IndexJSON{}
	seen := 0
	if !p.object(func(k []byte) bool {
		var ok bool
		switch string(k) {
		case "supersedes":
			if seen&1 != 0 {
				return false
			}
			seen |= 1
			idx.Supersedes, ok = p.ids()
			return ok
		case "packs":
			if seen&2 != 0 {
				return false
			}
			seen |= 2
			idx.Packs = []PackJSON{}
			return p.array(func() bool {
				pk, ok := p.pack()
				idx.Packs = append(idx.Packs, pk)
				return ok
			})
		}
		return false
	}) {
		return nil, false
	}
	p.ws()
	return idx, p.i == len(p.b)
}

// ids reads an array of IDs or null.
func (p *fastParser) ids() (IDs, bool) {
	if p.null() {
		return nil, true
	}
	out := IDs{}
	ok := p.array(func() bool {
		id, ok := p.id()
		out = append(out, id)
		return ok
	})
	return out, ok
}

func (p *fastParser) pack() (PackJSON, bool) {
	var pk PackJSON
	seen := 0
	ok := p.object(func(k []byte) bool {
		var ok bool
		switch string(k) {
		case "id":
			if seen&1 != 0 {
				return false
			}
			seen |= 1
			pk.ID, ok = p.id()
			return ok
		case "blobs":
			if seen&2 != 0 {
				return false
			}
			seen |= 2
			pk.Blobs = []BlobJSON{}
			return p.array(func() bool {
				bl, ok := p.blob()
				pk.Blobs = append(pk.Blobs, bl)
				return ok
			})
		}
		return false
	})
	return pk, ok
}

func (p *fastParser) blob() (BlobJSON, bool) {
	var bl BlobJSON
	seen := 0
	ok := p.object(func(k []byte) bool {
		bit := 0
		ok := false
		switch string(k) {
		case "id":
			bit = 1
			bl.ID, ok = p.id()
		case "type":
			bit = 2
			var s []byte
			if s, ok = p.str(); ok {
				switch string(s) {
				case "data":
					bl.Type = DataBlob
				case "tree":
					bl.Type = TreeBlob
				default:
					ok = false
				}
			}
		case "offset":
			bit = 4
			bl.Offset, ok = p.uint(^uint64(0))
		case "length":
			bit = 8
			bl.Length, ok = p.uint(^uint64(0))
		case "uncompressed_length":
			bit = 16
			bl.UncompressedLength, ok = p.uint(^uint64(0))
		default:
			return false
		}
		if !ok || seen&bit != 0 {
			return false
		}
		seen |= bit
		return true
	})
	return bl, ok
}
