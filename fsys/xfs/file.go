package xfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sync"
)

// file is an open regular file, symbolic link or special file.
type file struct {
	fs   *FS
	ip   *inode
	info *fileInfo
	size int64

	// Exactly one of these gives the content.
	m      fileMap // extents
	inline []byte  // local format, or a symlink's target

	mu  sync.Mutex
	pos int64
}

func (f *FS) newFile(ip *inode, info *fileInfo) (*file, error) {
	fl := &file{fs: f, ip: ip, info: info, size: ip.size()}
	switch ip.mode & sIFMT {
	case sIFLNK:
		t, err := f.linkTarget(ip)
		if err != nil {
			return nil, err
		}
		fl.inline = []byte(t)
		fl.size = int64(len(t))
	case sIFREG:
		if ip.flags&diflagRealtime != 0 {
			return nil, fmt.Errorf("xfs: inode %d: data on the realtime device cannot be read", ip.ino)
		}
		switch ip.format {
		case fmtLocal:
			if ip.rawSize > int64(len(ip.dataFork)) {
				return nil, fmt.Errorf("%w: inode %d: inline data of %d bytes in a %d-byte fork", ErrFormat, ip.ino, ip.rawSize, len(ip.dataFork))
			}
			fl.inline = ip.dataFork[:ip.rawSize]
		case fmtExtents, fmtBtree:
			exts, err := f.dataExtents(ip)
			if err != nil {
				return nil, err
			}
			fl.m = exts
		default:
			return nil, fmt.Errorf("%w: inode %d: regular file in fork format %d", ErrFormat, ip.ino, ip.format)
		}
	}
	return fl, nil
}

func (fl *file) Stat() (fs.FileInfo, error) { return fl.info, nil }
func (fl *file) Close() error               { return nil }

// ReadAt reads the file's content at off; safe for concurrent use.
func (fl *file) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, &fs.PathError{Op: "read", Path: fl.info.name, Err: errors.New("negative offset")}
	}
	if off >= fl.size {
		return 0, io.EOF
	}
	n := len(p)
	var err error
	if rest := fl.size - off; int64(n) > rest {
		n, err = int(rest), io.EOF
	}
	if fl.inline != nil || fl.m == nil {
		if fl.inline != nil {
			copy(p[:n], fl.inline[off:])
		} else {
			clear(p[:n])
		}
		return n, err
	}
	if rerr := fl.fs.readFork(fl.m, p[:n], off, fmt.Sprintf("inode %d data", fl.ip.ino)); rerr != nil {
		return 0, rerr
	}
	return n, err
}

func (fl *file) Read(p []byte) (int, error) {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	n, err := fl.ReadAt(p, fl.pos)
	fl.pos += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

func (fl *file) Seek(offset int64, whence int) (int64, error) {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += fl.pos
	case io.SeekEnd:
		offset += fl.size
	default:
		return 0, &fs.PathError{Op: "seek", Path: fl.info.name, Err: fs.ErrInvalid}
	}
	if offset < 0 {
		return 0, &fs.PathError{Op: "seek", Path: fl.info.name, Err: fs.ErrInvalid}
	}
	fl.pos = offset
	return offset, nil
}

// maxSymlinkLen is XFS_SYMLINK_MAXLEN.
const maxSymlinkLen = 1024

// linkTarget reads a symbolic link's target, inline or in remote blocks
// (with an XSLM header per block on v5).
func (f *FS) linkTarget(ip *inode) (string, error) {
	n := ip.rawSize
	if n <= 0 || n > maxSymlinkLen {
		return "", fmt.Errorf("%w: inode %d: symbolic link of %d bytes", ErrFormat, ip.ino, n)
	}
	switch ip.format {
	case fmtLocal:
		if n > int64(len(ip.dataFork)) {
			return "", fmt.Errorf("%w: inode %d: inline link of %d bytes in a %d-byte fork", ErrFormat, ip.ino, n, len(ip.dataFork))
		}
		return string(ip.dataFork[:n]), nil
	case fmtExtents, fmtBtree:
	default:
		return "", fmt.Errorf("%w: inode %d: symbolic link in fork format %d", ErrFormat, ip.ino, ip.format)
	}
	exts, err := f.dataExtents(ip)
	if err != nil {
		return "", err
	}
	out := make([]byte, 0, n)
	var lblk uint64
	for len(out) < int(n) {
		i, ok := fileMap(exts).lookup(lblk)
		if !ok || lblk > 64 {
			return "", fmt.Errorf("%w: inode %d: symbolic link block %d missing", ErrFormat, ip.ino, lblk)
		}
		e := exts[i]
		b, err := f.readBlocks(e.startblock+(lblk-e.startoff), 1, fmt.Sprintf("inode %d link", ip.ino))
		if err != nil {
			return "", err
		}
		data := b
		if f.crc {
			if be.Uint32(b) != symlinkMagic {
				return "", fmt.Errorf("%w: inode %d: symbolic link block: bad magic %#08x", ErrFormat, ip.ino, be.Uint32(b))
			}
			f.checkCRC(b, 12, fmt.Sprintf("inode %d link block", ip.ino))
			off, cnt := int(be.Uint32(b[4:])), int(be.Uint32(b[8:]))
			if off != len(out) || cnt <= 0 || cnt > len(b)-56 {
				return "", fmt.Errorf("%w: inode %d: symbolic link block header (offset %d, %d bytes)", ErrFormat, ip.ino, off, cnt)
			}
			data = b[56 : 56+cnt]
		}
		if rest := int(n) - len(out); len(data) > rest {
			data = data[:rest]
		}
		out = append(out, data...)
		lblk++
	}
	return string(out), nil
}
