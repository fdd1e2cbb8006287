package extract

import (
	"archive/tar"
	"bytes"
	"strings"
	"testing"
	"time"
)

// tarOracle is what archive/tar's Writer writes for h (the header blocks
// only), or its error.
func tarOracle(h *tarHeader) ([]byte, error) {
	hdr := &tar.Header{
		Typeflag: h.typ, Name: h.name, Linkname: h.link, Mode: h.mode,
		Uid: int(h.uid), Gid: int(h.gid), Size: h.size,
		ModTime: h.mtime, AccessTime: h.atime, ChangeTime: h.ctime,
		Format: tar.FormatPAX,
	}
	for _, x := range h.xattrs {
		if hdr.PAXRecords == nil {
			hdr.PAXRecords = map[string]string{}
		}
		hdr.PAXRecords[paxXattr+x.key] = string(x.value)
	}
	var b bytes.Buffer
	err := tar.NewWriter(&b).WriteHeader(hdr)
	return b.Bytes(), err
}

// checkTarHeader compares appendTar with archive/tar for h.
func checkTarHeader(t *testing.T, h *tarHeader) {
	t.Helper()
	want, werr := tarOracle(h)
	cp := *h
	cp.xattrs = append([]tarXattr(nil), h.xattrs...)
	prefix := []byte("xyz")
	got, err := appendTar(prefix, &cp)
	if !bytes.Equal(got[:3], prefix) {
		t.Fatalf("%+v: what came before was changed", h)
	}
	got = got[3:]
	switch {
	case werr != nil && err == nil:
		t.Fatalf("%+v: archive/tar refuses (%v), appendTar wrote %d bytes", h, werr, len(got))
	case werr == nil && err != nil:
		t.Fatalf("%+v: appendTar refuses (%v), archive/tar writes it", h, err)
	case werr != nil:
		if len(got) != 0 {
			t.Fatalf("%+v: refused, yet %d bytes appended", h, len(got))
		}
	case !bytes.Equal(got, want):
		i := 0
		for i < len(got) && i < len(want) && got[i] == want[i] {
			i++
		}
		t.Fatalf("%+v: %d bytes, archive/tar %d; first difference at %d:\n got %q\nwant %q", h, len(got), len(want), i,
			got[max(0, i-16):min(len(got), i+32)], want[max(0, i-16):min(len(want), i+32)])
	}
}

func TestTarHeaderMatchesArchiveTar(t *testing.T) {
	ns := time.Date(2023, 4, 5, 6, 7, 8, 123456789, time.UTC)
	sec := time.Date(2023, 4, 5, 6, 7, 8, 0, time.UTC)
	old := time.Date(1601, 1, 1, 0, 0, 0, 100, time.UTC)
	long := strings.Repeat("d/", 60) + "file"
	for _, h := range []tarHeader{
		{typ: tar.TypeReg, name: "a/b.txt", mode: 0o644, size: 5, mtime: sec},
		{typ: tar.TypeReg, name: "a/b.txt", mode: 0o644, size: 5, mtime: ns, atime: ns, ctime: sec},
		{typ: tar.TypeReg, name: "a/b.txt", mode: 0o644, size: 5, mtime: ns},
		{typ: tar.TypeReg, name: "x", mode: 0o644, mtime: old, atime: old},
		{typ: tar.TypeDir, name: "a/", mode: 0o755, mtime: ns, atime: ns, ctime: ns},
		{typ: tar.TypeDir, name: long + "/", mode: 0o755, mtime: sec},
		{typ: tar.TypeDir, name: "é/" + long + "/", mode: 0o755, mtime: sec},
		{typ: tar.TypeReg, name: long, mode: 0o600, uid: 1000, gid: 1000, size: 1 << 33, mtime: sec},
		{typ: tar.TypeReg, name: strings.Repeat("n", 200), mode: 0o600, mtime: sec},
		{typ: tar.TypeReg, name: strings.Repeat("n", 99) + "/" + strings.Repeat("m", 120), mode: 0o600, mtime: sec},
		{typ: tar.TypeReg, name: "unicode ünïcødé 名前/file", mode: 0o644, mtime: ns},
		{typ: tar.TypeReg, name: "u", uid: 1 << 21, gid: 4294967294, mtime: sec},
		{typ: tar.TypeSymlink, name: "l", link: "../docs/hello.txt", mode: 0o777, mtime: sec},
		{typ: tar.TypeSymlink, name: "l", link: strings.Repeat("t/", 80), mode: 0o777, mtime: ns},
		{typ: tar.TypeSymlink, name: "l", link: "C:\\Ünïcode", mode: 0o777, mtime: sec},
		{typ: tar.TypeLink, name: "h", link: "a/b.txt", mode: 0o644, mtime: sec},
		{typ: tar.TypeReg, name: "s", size: 3, mtime: ns, xattrs: []tarXattr{
			{"user.grain.stream.Zone.Identifier", []byte("[ZoneTransfer]\r\nZoneId=3\r\n")},
			{"security.selinux", []byte("system_u:object_r:x\x00")},
			{"user.b", []byte{}}, {"user.a", []byte("first")}, {"user.a", []byte("second")},
		}},
		{typ: tar.TypeReg, name: "bad", xattrs: []tarXattr{{"user.a=b", []byte("v")}}},
		{typ: tar.TypeReg, name: "bad", xattrs: []tarXattr{{"user.\x00", []byte("v")}}},
		{typ: tar.TypeReg, name: "big", xattrs: []tarXattr{{"user.big", make([]byte, 1<<20)}}},
		{typ: tar.TypeReg, name: "nul\x00", mtime: sec},
		{typ: tar.TypeSymlink, name: "l", link: "a\x00b", mtime: sec},
		{typ: tar.TypeReg, name: "slash/", mtime: sec},
		{typ: tar.TypeReg, name: "neg", size: -1, mtime: sec},
		{typ: tar.TypeReg, name: "zero"},
		{typ: tar.TypeReg, name: "", mtime: ns},
		{typ: tar.TypeReg, name: "./a//b/../c", mtime: ns},
	} {
		checkTarHeader(t, &h)
	}
}

// FuzzTarHeader: for any fields, appendTar writes the bytes archive/tar's
// Writer writes, or refuses what it refuses.
func FuzzTarHeader(f *testing.F) {
	f.Add(byte('0'), "a/b.txt", "", int64(0o644), int64(0), int64(0), int64(5), int64(1680674828), int64(123456789), int64(-11644473600), int64(100), "user.a", []byte("v"), "user.b")
	f.Add(byte('5'), strings.Repeat("d/", 60), "", int64(0o755), int64(1<<21), int64(7), int64(0), int64(1<<33), int64(0), int64(0), int64(0), "", []byte(nil), "")
	f.Add(byte('2'), "ünï/名", strings.Repeat("t", 101), int64(0o777), int64(0), int64(0), int64(0), int64(-1), int64(999999999), int64(1), int64(1), "x=y", []byte{0}, "x")
	f.Fuzz(func(t *testing.T, typ byte, name, link string, mode, uid, gid, size, msec, mns, asec, ans int64, k1 string, v1 []byte, k2 string) {
		if len(name) > 400 || len(link) > 400 || len(v1) > 4096 {
			return
		}
		switch typ % 4 {
		case 0:
			typ = tar.TypeReg
		case 1:
			typ = tar.TypeDir
		case 2:
			typ = tar.TypeSymlink
		default:
			typ = tar.TypeLink
		}
		// Fields grain can set: modes of 12 bits, owners of 32, times
		// in range of time.Unix; archive/tar takes int owners.
		h := tarHeader{typ: typ, name: name, link: link, mode: mode & 0o7777,
			uid: uid & 0xffffffff, gid: gid & 0xffffffff, size: size}
		if mns%3 != 0 {
			h.mtime = time.Unix(msec%(1<<40), mns%1e9)
		}
		if ans%3 != 0 {
			h.atime = time.Unix(asec%(1<<40), ans%1e9)
			h.ctime = time.Unix(asec%(1<<36), mns%1e9)
		}
		if k1 != "" {
			h.xattrs = append(h.xattrs, tarXattr{k1, v1})
		}
		if k2 != "" {
			h.xattrs = append(h.xattrs, tarXattr{k2, []byte(name)})
		}
		if headerOnly(typ) {
			h.size = 0
		}
		checkTarHeader(t, &h)
	})
}
