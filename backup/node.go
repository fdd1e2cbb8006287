package backup

import (
	"io/fs"
	"strings"
	"time"

	"github.com/grainvm/grain/fsys"
	"github.com/grainvm/grain/restic"
)

// StreamXattrPrefix names the extended attributes that hold NTFS named
// data streams: "user.grain.stream." + the stream's name.
const StreamXattrPrefix = "user.grain.stream."

// MaxStreamXattr is the largest named stream stored (as an extended
// attribute: Linux's limit for one value).
const MaxStreamXattr = 64 << 10

// Unix st_mode bits.
const (
	sIFMT   = 0o170000
	sIFSOCK = 0o140000
	sIFLNK  = 0o120000
	sIFREG  = 0o100000
	sIFBLK  = 0o060000
	sIFDIR  = 0o040000
	sIFCHR  = 0o020000
	sIFIFO  = 0o010000
	sISUID  = 0o4000
	sISGID  = 0o2000
	sISVTX  = 0o1000
)

// fileTime converts t to a Windows FILETIME as restic stores it.
func fileTime(t time.Time) restic.FileTime {
	// 100 ns intervals since 1601-01-01.
	const epochDiff = 116444736000000000
	v := uint64(t.UnixNano()/100 + epochDiff)
	return restic.FileTime{LowDateTime: uint32(v), HighDateTime: uint32(v >> 32)}
}

// timeFromFileTime is the inverse of fileTime.
func timeFromFileTime(ft restic.FileTime) time.Time {
	const epochDiff = 116444736000000000
	v := int64(uint64(ft.HighDateTime)<<32 | uint64(ft.LowDateTime))
	return time.Unix(0, (v-epochDiff)*100).UTC()
}

// windowsFS reports whether a file system records Windows metadata.
func windowsFS(typ string) bool {
	switch typ {
	case "ntfs", "fat12", "fat16", "fat32", "fat", "exfat", "refs":
		return true
	}
	return strings.HasPrefix(typ, "fat")
}

// nodeType and Go mode for a file.
func nodeType(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return restic.NodeTypeDir
	case m&fs.ModeSymlink != 0:
		return restic.NodeTypeSymlink
	case m.IsRegular():
		return restic.NodeTypeFile
	case m&fs.ModeNamedPipe != 0:
		return restic.NodeTypeFifo
	case m&fs.ModeSocket != 0:
		return restic.NodeTypeSocket
	case m&fs.ModeCharDevice != 0:
		return restic.NodeTypeCharDev
	case m&fs.ModeDevice != 0:
		return restic.NodeTypeDev
	}
	return restic.NodeTypeIrregular
}

// goMode builds the fs.FileMode restic stores: the type bits of typ and
// the permission bits from the Unix mode when there is one; on Windows
// file systems 0644 (0444 read-only) for files and 0755 for folders, as
// grain cp writes them.
func goMode(typ string, m *fsys.Meta) fs.FileMode {
	var mode fs.FileMode
	switch typ {
	case restic.NodeTypeDir:
		mode = fs.ModeDir
	case restic.NodeTypeSymlink:
		mode = fs.ModeSymlink
	case restic.NodeTypeFifo:
		mode = fs.ModeNamedPipe
	case restic.NodeTypeSocket:
		mode = fs.ModeSocket
	case restic.NodeTypeCharDev:
		mode = fs.ModeDevice | fs.ModeCharDevice
	case restic.NodeTypeDev:
		mode = fs.ModeDevice
	case restic.NodeTypeIrregular:
		mode = fs.ModeIrregular
	}
	if m != nil && m.UnixMode != 0 {
		u := m.UnixMode
		mode |= fs.FileMode(u & 0o777)
		if u&sISUID != 0 {
			mode |= fs.ModeSetuid
		}
		if u&sISGID != 0 {
			mode |= fs.ModeSetgid
		}
		if u&sISVTX != 0 {
			mode |= fs.ModeSticky
		}
		return mode
	}
	switch typ {
	case restic.NodeTypeDir:
		return mode | 0o755
	case restic.NodeTypeSymlink:
		return mode | 0o777
	}
	if m != nil && m.Attributes&0x1 != 0 { // FILE_ATTRIBUTE_READONLY
		return mode | 0o444
	}
	return mode | 0o644
}

// unixMode is the st_mode of a node (type and permission bits).
func unixMode(n *restic.Node) uint32 {
	u := uint32(n.Mode.Perm())
	if n.Mode&fs.ModeSetuid != 0 {
		u |= sISUID
	}
	if n.Mode&fs.ModeSetgid != 0 {
		u |= sISGID
	}
	if n.Mode&fs.ModeSticky != 0 {
		u |= sISVTX
	}
	switch n.Type {
	case restic.NodeTypeDir:
		u |= sIFDIR
	case restic.NodeTypeSymlink:
		u |= sIFLNK
	case restic.NodeTypeFifo:
		u |= sIFIFO
	case restic.NodeTypeSocket:
		u |= sIFSOCK
	case restic.NodeTypeCharDev:
		u |= sIFCHR
	case restic.NodeTypeDev:
		u |= sIFBLK
	default:
		u |= sIFREG
	}
	return u
}

// newNode describes one file of a volume (without content or streams).
// dev is the node's device ID (one per volume, so that hard links restore).
func newNode(name string, info fs.FileInfo, fsType string, dev uint64) *restic.Node {
	m := fsys.MetaOf(info)
	typ := nodeType(info.Mode())
	n := &restic.Node{Name: name, Type: typ, Mode: goMode(typ, m), ModTime: info.ModTime()}
	n.AccessTime, n.ChangeTime = n.ModTime, n.ModTime
	if m == nil {
		return n
	}
	if !m.Modify.IsZero() {
		n.ModTime = m.Modify
	}
	n.AccessTime, n.ChangeTime = m.Access, m.Change
	if n.AccessTime.IsZero() {
		n.AccessTime = n.ModTime
	}
	if n.ChangeTime.IsZero() {
		n.ChangeTime = n.ModTime
	}
	n.Inode, n.DeviceID, n.Links = m.Inode, dev, uint64(m.Nlink)
	if m.UnixMode != 0 {
		n.UID, n.GID = m.UID, m.GID
	}
	switch typ {
	case restic.NodeTypeFile:
		n.Size = uint64(max(m.Size, 0))
	case restic.NodeTypeSymlink:
		n.LinkTarget = m.LinkTarget
	case restic.NodeTypeCharDev, restic.NodeTypeDev:
		n.Device = m.Rdev
	}
	for _, x := range m.Xattrs {
		n.ExtendedAttributes = append(n.ExtendedAttributes, restic.ExtendedAttribute{Name: x.Name, Value: x.Value})
	}
	if windowsFS(fsType) || m.Attributes != 0 {
		if !m.Birth.IsZero() {
			n.SetGeneric(restic.GenericCreationTime, fileTime(m.Birth))
		}
		if m.Attributes != 0 {
			n.SetGeneric(restic.GenericFileAttributes, m.Attributes)
		}
	}
	if typ != restic.NodeTypeFile {
		n.Content = nil
	}
	return n
}

// streamNames lists the names of the streams a node stores as extended
// attributes.
func streamXattrs(n *restic.Node) []restic.ExtendedAttribute {
	var out []restic.ExtendedAttribute
	for _, x := range n.ExtendedAttributes {
		if strings.HasPrefix(x.Name, StreamXattrPrefix) {
			out = append(out, x)
		}
	}
	return out
}
