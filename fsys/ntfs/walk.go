package ntfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"

	"github.com/grainvm/grain/fsys"
)

// walkChunk is how much of the $MFT Walk reads at once.
const walkChunk = 4 << 20

type walkName struct {
	rec  uint64
	name string
	ns   uint8
}

// Walk calls fn for root and everything below it. It reads the whole $MFT
// sequentially in large pieces and builds the tree from each record's
// $FILE_NAME parents, instead of descending directory by directory. Links
// are reported, not followed; metadata files in the root are not listed.
func (v *FS) Walk(root string, fn func(path string, info fs.FileInfo) error) error {
	rootIno, base, err := v.resolve("walk", root)
	if err != nil {
		return err
	}
	rootInfo := v.makeInfo(rootIno, base)
	if err := fn(root, rootInfo); err != nil {
		if err == fs.SkipDir || err == fs.SkipAll {
			return nil
		}
		return err
	}
	if !rootInfo.IsDir() {
		return nil
	}
	infos, kids, err := v.scanMFT()
	if err != nil {
		return err
	}
	visited := map[uint64]bool{}
	var walkDir func(dir uint64, path string) error
	walkDir = func(dir uint64, path string) error {
		if visited[dir] {
			return nil
		}
		visited[dir] = true
		list := kids[dir]
		// Hide DOS names where a long name exists here; hide metadata
		// files in the root.
		long := map[uint64]bool{}
		for _, c := range list {
			if c.ns != nsDOS {
				long[c.rec] = true
			}
		}
		type ent struct {
			name string
			fi   *fileInfo
		}
		ents := make([]ent, 0, len(list))
		for _, c := range list {
			if c.ns == nsDOS && long[c.rec] || c.rec == dir || dir == recRoot && c.rec < firstUserRecord {
				continue
			}
			fi := infos[c.rec]
			if fi == nil {
				continue
			}
			name := fsys.SafeName(c.name)
			cp := *fi
			cp.name = name
			ents = append(ents, ent{name, &cp})
		}
		slices.SortFunc(ents, func(a, b ent) int { return strings.Compare(a.name, b.name) })
		for _, e := range ents {
			p := e.name
			if path != "." {
				p = path + "/" + e.name
			}
			err := fn(p, e.fi)
			if err == fs.SkipDir {
				if e.fi.IsDir() {
					continue
				}
				return nil
			}
			if err != nil {
				return err
			}
			if e.fi.IsDir() {
				if err := walkDir(e.fi.meta.Inode, p); err != nil {
					return err
				}
			}
		}
		return nil
	}
	err = walkDir(rootIno.num, root)
	if err == fs.SkipAll {
		return nil
	}
	return err
}

// scanMFT reads every record in use: the information of each base record
// and the names each directory holds (keyed by the directory's record).
func (v *FS) scanMFT() (map[uint64]*fileInfo, map[uint64][]walkName, error) {
	infos := map[uint64]*fileInfo{}
	kids := map[uint64][]walkName{}
	seqs := map[uint64]uint16{}
	type pending struct {
		rec  uint64
		name fileName
	}
	var names []pending
	var deferred []uint64
	perChunk := max(int64(1), walkChunk/v.recSize)
	buf := make([]byte, perChunk*v.recSize)
	for first := uint64(0); first < v.records; first += uint64(perChunk) {
		n := min(uint64(perChunk), v.records-first)
		b := buf[:int64(n)*v.recSize]
		if _, err := v.mft.ReadAt(b, int64(first)*v.recSize); err != nil && err != io.EOF {
			return nil, nil, fmt.Errorf("ntfs: reading $MFT at record %d: %w", first, err)
		}
		for i := uint64(0); i < n; i++ {
			num := first + i
			rb := b[int64(i)*v.recSize : int64(i+1)*v.recSize : int64(i+1)*v.recSize]
			if string(rb[0:4]) != "FILE" || rb[0x16]&recordInUse == 0 {
				continue // never used, or deleted
			}
			rec, err := parseRecord(rb, num, v.clusters)
			if err != nil {
				return nil, nil, err
			}
			if rec.Base != 0 {
				continue // extension records are read with their base
			}
			ino := &inode{num: num, seq: rec.Seq, flags: rec.Flags, v: v}
			hasList := false
			for j := range rec.Attrs {
				ino.attrs = append(ino.attrs, &rec.Attrs[j])
				if rec.Attrs[j].Type == attrAttributeList {
					hasList = true
				}
			}
			seqs[num] = rec.Seq
			if hasList {
				deferred = append(deferred, num)
				continue
			}
			for _, fn := range ino.fileNames() {
				names = append(names, pending{num, fn})
			}
			infos[num] = stripInfo(v.makeInfo(ino, ""))
		}
	}
	for _, num := range deferred {
		ino, err := v.inode(num)
		if err != nil {
			return nil, nil, err
		}
		for _, fn := range ino.fileNames() {
			names = append(names, pending{num, fn})
		}
		infos[num] = stripInfo(v.makeInfo(ino, ""))
	}
	for _, p := range names {
		parent := p.name.Parent.record()
		if s, ok := seqs[parent]; !ok || (p.name.Parent.seq() != 0 && s != p.name.Parent.seq()) {
			continue // orphan: its parent is gone or was reused
		}
		if parent == p.rec && parent != recRoot {
			continue
		}
		kids[parent] = append(kids[parent], walkName{rec: p.rec, name: p.name.Name, ns: p.name.Namespace})
	}
	return infos, kids, nil
}

// stripInfo drops what a walk result need not keep (references into
// record buffers), keeping the metadata.
func stripInfo(fi *fileInfo) *fileInfo {
	fi.ino, fi.data, fi.wof, fi.rp = nil, nil, nil, nil
	if fi.readErr != nil {
		fi.readErr = errors.New(fi.readErr.Error())
	}
	return fi
}
