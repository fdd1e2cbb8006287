package ntfs

import (
	"bytes"
	"encoding/binary"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/grainvm/grain/fsys"
	"github.com/grainvm/grain/internal/testutil"
)

// smallVolume returns the bytes of testdata/small.sh's volume, or nil when
// it cannot be built here (fuzzing then runs on synthetic seeds only).
func smallVolume(f *testing.F) []byte {
	return smallBytes(f, false)
}

// buildSmall is smallVolume for tests: it skips (fails in CI) without the
// tools.
func buildSmall(t *testing.T) []byte {
	testutil.RequireTool(t, "mkntfs", "ntfs-3g", "python3")
	testutil.RequireRoot(t)
	return smallBytes(t, true)
}

func smallBytes(f testing.TB, must bool) []byte {
	if !must && os.Geteuid() != 0 {
		return nil
	}
	for _, tool := range []string{"mkntfs", "ntfs-3g", "python3"} {
		if _, err := exec.LookPath(tool); err != nil && !must {
			return nil
		}
	}
	script, err := os.ReadFile("testdata/small.sh")
	if err != nil {
		f.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(testutil.Build(f, "ntfs-small", string(script)), "small.img"))
	if err != nil {
		f.Fatal(err)
	}
	return b
}

// Regions of the small volume the fuzzer may rewrite.
type regions struct {
	mftOff, mftLen int64
	idxOff, idxLen int64
}

func findRegions(vol []byte) (regions, bool) {
	v, err := Open(bytes.NewReader(vol), int64(len(vol)))
	if err != nil {
		return regions{}, false
	}
	rg := regions{mftOff: int64(v.boot.MFTCluster) * v.boot.ClusterSize, mftLen: 40 * v.recSize}
	ino, err := v.lookup(mustInode(v, recRoot), "d")
	if err == nil {
		if s, err := ino.stream(attrIndexAllocation, "$I30"); err == nil && len(s.runs) > 0 && s.runs[0].LCN >= 0 {
			rg.idxOff, rg.idxLen = s.runs[0].LCN*v.boot.ClusterSize, min(s.size, 4096)
		}
	}
	return rg, true
}

func mustInode(v *FS, n uint64) *inode {
	ino, _ := v.inode(n)
	return ino
}

func FuzzBootSector(f *testing.F) {
	if vol := smallVolume(f); vol != nil {
		f.Add(vol[:512])
	}
	b := make([]byte, 512)
	copy(b[3:], "NTFS    ")
	binary.LittleEndian.PutUint16(b[0x0B:], 512)
	b[0x0D], b[0x40], b[0x44] = 0xF4, 0xF6, 1 // 2 MiB clusters, 1 KiB records
	binary.LittleEndian.PutUint64(b[0x28:], 1<<20)
	b[510], b[511] = 0x55, 0xAA
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		bs, err := parseBootSector(b)
		if err != nil {
			return
		}
		if bs.ClusterSize <= 0 || bs.MFTRecordSize < 256 || bs.IndexBlockSize < 256 {
			t.Fatalf("accepted %+v", bs)
		}
		_ = serialString(bs.SerialNumber)
	})
}

func FuzzMFTRecord(f *testing.F) {
	if vol := smallVolume(f); vol != nil {
		if rg, ok := findRegions(vol); ok {
			for i := int64(0); i < 40; i++ {
				f.Add(vol[rg.mftOff+i*1024 : rg.mftOff+(i+1)*1024])
			}
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 4096 {
			return
		}
		b = append([]byte(nil), b...)
		if len(b) >= 512 {
			b = b[:len(b)/512*512]
		}
		r, err := parseRecord(b, 7, 1<<20)
		if err != nil {
			return
		}
		for _, a := range r.Attrs {
			switch a.Type {
			case attrFileName:
				parseFileName(a.Value)
			case attrStandardInformation:
				parseStandardInformation(a.Value)
			case attrAttributeList:
				parseAttrList(a.Value, "fuzz")
			case attrReparsePoint:
				if rp, ok := parseReparse(a.Value); ok {
					_ = rp.target()
				}
			case attrIndexRoot:
				if len(a.Value) > 0x10 {
					parseIndexNode(a.Value[0x10:], "fuzz")
				}
			}
		}
	})
}

func FuzzRunlist(f *testing.F) {
	f.Add([]byte{0x21, 0x10, 0x00, 0x01, 0x11, 0x05, 0xF0, 0x01, 0x08, 0x00})
	f.Add([]byte{0x31, 0x40, 0x20, 0x30, 0x02, 0x21, 0x10, 0xF0, 0xFF, 0x00})
	f.Add([]byte{0x48, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0x01, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 4096 {
			return
		}
		runs, err := decodeRunlist(b, 3, 1<<40, 1<<20)
		if err != nil {
			return
		}
		vcn := int64(3)
		for _, r := range runs {
			if r.VCN != vcn || r.Length <= 0 || r.LCN != sparseLCN && (r.LCN < 0 || r.LCN+r.Length > 1<<20) {
				t.Fatalf("bad run %+v", r)
			}
			vcn += r.Length
		}
	})
}

func FuzzIndexBlock(f *testing.F) {
	if vol := smallVolume(f); vol != nil {
		if rg, ok := findRegions(vol); ok && rg.idxLen > 0 {
			f.Add(vol[rg.idxOff : rg.idxOff+rg.idxLen])
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < 0x28 || len(b) > 8192 {
			return
		}
		b = append([]byte(nil), b[:len(b)/512*512]...)
		if len(b) == 0 || applyFixups(b, "fuzz") != nil {
			return
		}
		parseIndexNode(b[0x18:], "fuzz")
	})
}

// FuzzVolume opens the small volume with its boot sector, first MFT records
// and first index block replaced by the input, then lists, walks and reads
// everything.
func FuzzVolume(f *testing.F) {
	vol := smallVolume(f)
	if vol == nil {
		f.Skip("small volume not available (needs root, mkntfs, ntfs-3g)")
	}
	rg, ok := findRegions(vol)
	if !ok {
		f.Fatal("small volume does not open")
	}
	seed := append(append(append([]byte(nil), vol[:512]...), vol[rg.mftOff:rg.mftOff+rg.mftLen]...), vol[rg.idxOff:rg.idxOff+rg.idxLen]...)
	f.Add(seed)
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) > len(seed) {
			return
		}
		img := append([]byte(nil), vol...)
		n := copy(img[:512], in)
		in = in[n:]
		n = copy(img[rg.mftOff:rg.mftOff+rg.mftLen], in)
		in = in[n:]
		copy(img[rg.idxOff:rg.idxOff+rg.idxLen], in)
		v, err := Open(bytes.NewReader(img), int64(len(img)))
		if err != nil {
			return
		}
		v.Label()
		v.Usage()
		buf := make([]byte, 8192)
		_ = v.Walk(".", func(p string, info fs.FileInfo) error {
			// OpenInfo of what the walk lists: a bad record fails, it
			// does not panic; what it reads (from the walk's extents for
			// ordinary files) is what the record read again gives (an
			// info of another type takes that path).
			file, err := v.OpenInfo(p, info)
			if err != nil {
				return nil
			}
			n, err := file.ReadAt(buf, 0)
			file.Close()
			if info.Mode().IsRegular() {
				if o, oerr := v.OpenInfo(p, struct{ fs.FileInfo }{info}); oerr == nil {
					b2 := make([]byte, len(buf))
					n2, err2 := o.ReadAt(b2, 0)
					o.Close()
					if n != n2 || (err == nil) != (err2 == nil) || !bytes.Equal(buf[:n], b2[:n2]) {
						t.Errorf("%s: OpenInfo read %d bytes (%v), from the record read again %d (%v)", p, n, err, n2, err2)
					}
				}
			}
			return nil
		})
		checkScanFast(t, v)
		_ = fs.WalkDir(v, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil
			}
			if d.Type()&fs.ModeSymlink != 0 {
				v.ReadLink(p)
				return nil
			}
			file, err := v.Open(p)
			if err != nil {
				return nil
			}
			defer file.Close()
			for {
				if _, err := file.Read(buf); err != nil {
					break
				}
			}
			if st, err := v.Stat(p); err == nil {
				for _, s := range metaOf(st).Streams {
					if sf, err := v.OpenStream(p, s.Name); err == nil {
						io.Copy(io.Discard, sf)
						sf.Close()
					}
				}
			}
			return nil
		})
	})
}

func metaOf(info fs.FileInfo) *fsysMeta {
	m, _ := info.Sys().(*fsysMeta)
	if m == nil {
		return &fsysMeta{}
	}
	return m
}

type fsysMeta = fsys.Meta
