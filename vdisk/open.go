package vdisk

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/grainvm/grain/vdisk/extent"
	"github.com/grainvm/grain/vdisk/raw"
	"github.com/grainvm/grain/vdisk/vhd"
	"github.com/grainvm/grain/vdisk/vhdx"
)

// Format names the container format of an image file.
type Format string

const (
	FormatRaw  Format = "raw"
	FormatVHD  Format = "vhd"
	FormatVHDX Format = "vhdx"
)

// Detect tells an image's format from its content: the VHDX file type
// identifier "vhdxfile" at offset 0, the VHD cookie "conectix" in the
// footer (last 512 bytes; for a damaged footer, the copy at offset 0 of a
// dynamic disk), raw otherwise.
func Detect(r io.ReaderAt, size int64) (Format, error) {
	var sig [8]byte
	if size >= 8 {
		if _, err := r.ReadAt(sig[:], 0); err != nil {
			return "", fmt.Errorf("vdisk: reading the signature: %w", err)
		}
		if string(sig[:]) == "vhdxfile" {
			return FormatVHDX, nil
		}
		if string(sig[:]) == "conectix" {
			return FormatVHD, nil
		}
	}
	if size >= 512 {
		if _, err := r.ReadAt(sig[:], size-512); err != nil {
			return "", fmt.Errorf("vdisk: reading the footer: %w", err)
		}
		if string(sig[:]) == "conectix" {
			return FormatVHD, nil
		}
	}
	// Old VHDs made with a 511-byte footer.
	if size >= 511 {
		if _, err := r.ReadAt(sig[:], size-511); err != nil {
			return "", fmt.Errorf("vdisk: reading the footer: %w", err)
		}
		if string(sig[:]) == "conectix" {
			return FormatVHD, nil
		}
	}
	return FormatRaw, nil
}

// Open opens the image at path and every parent below it, read-only.
func Open(path string, opts *Options) (*Disk, error) {
	layers, err := openChain(path, opts)
	if err != nil {
		closeLayers(layers)
		return nil, err
	}
	return newDisk(layers), nil
}

// Inspect reads the chain from path down as far as it can, for reports:
// it returns the layers it read (their files closed, so only their
// descriptions are usable) and the error that stopped it, if any, such as
// a parent not found.
func Inspect(path string, opts *Options) ([]*Layer, error) {
	layers, err := openChain(path, opts)
	closeLayers(layers)
	return layers, err
}

// OpenLayer reads one image file without its parents, for reports; the
// layer's file is closed, so only its description is usable.
func OpenLayer(path string, opts *Options) (*Layer, error) {
	if opts == nil {
		opts = &Options{}
	}
	l, err := openLayer(path, opts)
	if err != nil {
		return nil, err
	}
	l.closer.Close()
	return l, nil
}

// FindParent resolves a differencing layer's parent file by the rules
// Open uses, filling the layer's ParentFoundBy and ParentTried.
func FindParent(l *Layer, opts *Options) (string, error) {
	if !l.differencing {
		return "", fmt.Errorf("vdisk: %s is not a differencing image", l.Path)
	}
	if opts == nil {
		opts = &Options{}
	}
	return findParent(l, opts)
}

func closeLayers(layers []*Layer) {
	for _, l := range layers {
		if l.closer != nil {
			l.closer.Close()
		}
	}
}

// openChain opens path and its parents; on error it returns the layers
// opened so far, still open.
func openChain(path string, opts *Options) ([]*Layer, error) {
	if opts == nil {
		opts = &Options{}
	}
	var layers []*Layer
	var seen []os.FileInfo
	for {
		if len(layers) == MaxChainDepth {
			return layers, fmt.Errorf("vdisk: %s: chain deeper than %d images", path, MaxChainDepth)
		}
		l, err := openLayer(path, opts)
		if err != nil {
			return layers, err
		}
		fi, err := os.Stat(path)
		if err != nil {
			l.closer.Close()
			return layers, fmt.Errorf("vdisk: %w", err)
		}
		for _, s := range seen {
			if os.SameFile(s, fi) {
				l.closer.Close()
				return layers, fmt.Errorf("vdisk: %s: the chain loops back to this file", path)
			}
		}
		seen = append(seen, fi)
		if n := len(layers); n > 0 {
			child := layers[n-1]
			child.ParentPath = path
			child.ParentLinkageOK = child.parent.matches(l)
			if !child.ParentLinkageOK && !opts.IgnoreLinkage {
				l.closer.Close()
				return layers, fmt.Errorf("vdisk: %s: parent %s has ID %s, the child expects %s: %w (use --ignore-linkage to use it anyway)",
					child.Path, path, l.ID, child.ParentLinkage, ErrLinkage)
			}
		}
		layers = append(layers, l)
		if !l.differencing {
			return layers, nil
		}
		next, err := findParent(l, opts)
		if err != nil {
			return layers, err
		}
		path = next
	}
}

// openLayer opens one image file read-only and reads its format.
func openLayer(path string, opts *Options) (*Layer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("vdisk: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("vdisk: %w", err)
	}
	if fi.IsDir() {
		f.Close()
		return nil, fmt.Errorf("vdisk: %s is a directory", path)
	}
	size := fi.Size()
	if size == 0 && !fi.Mode().IsRegular() {
		// A block device: its size comes from seeking to the end.
		if end, err := f.Seek(0, 2); err == nil {
			size = end
		}
	}
	format, err := Detect(f, size)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var m extent.Mapper
	switch format {
	case FormatVHDX:
		m, err = vhdx.NewImage(f, size, &vhdx.Options{IgnoreLog: opts.IgnoreLog})
	case FormatVHD:
		m, err = vhd.NewImage(f, size)
	default:
		m, err = raw.NewImage(f, size)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	l := describe(m)
	l.Path = path
	l.FileSize = size
	l.closer = f
	if fi.Mode().IsRegular() {
		l.file = f
	}
	return l, nil
}

// describe fills a Layer from a format package's image.
func describe(m extent.Mapper) *Layer {
	l := &Layer{Image: m, Size: m.Size(), LogicalSectorSize: 512, PhysicalSectorSize: 512}
	switch img := m.(type) {
	case *vhdx.Image:
		describeVHDX(l, img)
	case *vhd.Image:
		describeVHD(l, img)
	case *raw.Image:
		l.Format, l.Type = string(FormatRaw), "fixed"
	default:
		l.Format, l.Type = fmt.Sprintf("%T", m), "unknown"
	}
	return l
}

// parentRef is what a differencing image records of its parent.
type parentRef struct {
	absolute []string // stored absolute paths, in the order to try
	relative []string // stored relative paths
	names    []string // the parent's file name
	linkage  []string // IDs the parent may have (lower-case GUIDs)
}

func (p parentRef) matches(parent *Layer) bool {
	for _, id := range p.linkage {
		if strings.EqualFold(normalizeGUID(id), parent.ID) {
			return true
		}
	}
	return false
}

// findParent tries, in order: each stored absolute path, each stored
// relative path (from the child's folder), the parent's file name in the
// child's folder, then in each Options.ParentDirs folder. Candidates that
// exist but carry another identity are passed over while a later one might
// match; if none matches, the first existing one is returned and the
// linkage check reports the mismatch.
func findParent(child *Layer, opts *Options) (string, error) {
	type candidate struct{ path, how string }
	var cands []candidate
	childDir := filepath.Dir(child.Path)
	for _, p := range child.parent.absolute {
		cands = append(cands, candidate{hostPath(p), "absolute path"})
	}
	for _, p := range child.parent.relative {
		cands = append(cands, candidate{filepath.Join(childDir, hostPath(p)), "relative path"})
	}
	names := child.parent.names
	for _, n := range names {
		cands = append(cands, candidate{filepath.Join(childDir, n), "file name beside the child"})
	}
	for _, dir := range opts.ParentDirs {
		for _, n := range names {
			cands = append(cands, candidate{filepath.Join(dir, n), "parent dir " + dir})
		}
	}
	var tried []string
	var firstExisting *candidate
	for i := range cands {
		c := &cands[i]
		if contains(tried, c.path) {
			continue
		}
		tried = append(tried, c.path)
		fi, err := os.Stat(c.path)
		if err != nil || fi.IsDir() {
			continue
		}
		if firstExisting == nil {
			firstExisting = c
		}
		if len(child.parent.linkage) == 0 || opts.IgnoreLinkage || linkageMatches(c.path, child, opts) {
			child.ParentFoundBy, child.ParentTried = c.how, tried
			return c.path, nil
		}
	}
	child.ParentTried = tried
	if firstExisting != nil {
		child.ParentFoundBy = firstExisting.how
		return firstExisting.path, nil
	}
	if len(tried) == 0 {
		return "", fmt.Errorf("vdisk: %s: differencing image records no parent location: %w", child.Path, ErrParentNotFound)
	}
	return "", fmt.Errorf("vdisk: %s: %w; tried %s (add --parent-dir DIR)", child.Path, ErrParentNotFound, strings.Join(tried, ", "))
}

// linkageMatches opens a candidate just far enough to compare identities.
func linkageMatches(path string, child *Layer, opts *Options) bool {
	l, err := openLayer(path, opts)
	if err != nil {
		return false
	}
	defer l.closer.Close()
	return child.parent.matches(l)
}

// hostPath turns a path stored by Windows into one for this host: on
// other systems backslashes become slashes and a drive letter stays as a
// plain first element (such a path rarely exists, but it is tried).
func hostPath(p string) string {
	if runtime.GOOS == "windows" {
		return p
	}
	p = strings.ReplaceAll(p, `\`, "/")
	return filepath.FromSlash(p)
}

// baseName is the last element of a Windows or Unix path.
func baseName(p string) string {
	if i := strings.LastIndexAny(p, `\/`); i >= 0 {
		p = p[i+1:]
	}
	return p
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// normalizeGUID gives the lower-case form without braces.
func normalizeGUID(s string) string {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "{")
	s = strings.TrimSuffix(s, "}")
	return strings.ToLower(s)
}

// guidString formats a GUID stored in Microsoft's mixed-endian layout
// (Data1-3 little-endian) in its usual text form.
func guidString(b [16]byte) string {
	return fmt.Sprintf("%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15])
}
