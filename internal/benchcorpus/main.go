// Command benchcorpus builds the inputs of `make bench` (scripts/bench):
// a file tree like a Windows user profile and system folder, and
// differencing chains over a base image. It is not part of grain.
package main

import (
	"flag"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/grainvm/grain/fsys"
	"github.com/grainvm/grain/guest"
	"github.com/grainvm/grain/vdisk"
	"github.com/grainvm/grain/vdisk/vhdx/vhdxtest"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: benchcorpus tree|chain|touch [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "tree":
		err = tree(os.Args[2:])
	case "chain":
		err = chain(os.Args[2:])
	case "touch":
		err = touch(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchcorpus:", err)
		os.Exit(1)
	}
}

// tree writes files files spread over folders of perDir files each, with
// sizes drawn so that most are small and a few are large, totalling about
// bytes. Content is pseudo-random (seeded: the same tree every time).
func tree(args []string) error {
	fl := flag.NewFlagSet("tree", flag.ExitOnError)
	out := fl.String("out", "", "folder to fill")
	files := fl.Int("files", 200000, "number of files")
	perDir := fl.Int("per-dir", 100, "files per folder")
	total := fl.Int64("bytes", 3<<30, "approximate total size")
	fl.Parse(args)
	if *out == "" {
		return fmt.Errorf("tree: -out is required")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	mean := *total / int64(*files)
	buf := make([]byte, 64<<20)
	for i := range buf {
		buf[i] = byte(rng.Uint32())
	}
	mtime := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	for i := 0; i < *files; i++ {
		dir := filepath.Join(*out, fmt.Sprintf("d%03d", i/(*perDir*100)), fmt.Sprintf("sub%04d", i / *perDir))
		if i%*perDir == 0 {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
		}
		// Exponential sizes around the mean; one file in 2000 is large
		// (10 MiB), together about a third of the bytes.
		size := int64(rng.ExpFloat64() * float64(mean) * 0.65)
		if i%2000 == 0 {
			size = 10 << 20
		}
		off := rng.Int64N(int64(len(buf)) - min(size, int64(len(buf))-1))
		p := filepath.Join(dir, fmt.Sprintf("file%06d.dat", i))
		if err := writeFile(p, buf, off, size); err != nil {
			return err
		}
		os.Chtimes(p, mtime, mtime)
	}
	return nil
}

func writeFile(p string, buf []byte, off, size int64) error {
	f, err := os.Create(p)
	if err != nil {
		return err
	}
	for size > 0 {
		n := min(size, int64(len(buf))-off)
		if _, err := f.Write(buf[off : off+n]); err != nil {
			f.Close()
			return err
		}
		size -= n
		off = 0
	}
	return f.Close()
}

// chain writes chain1.avhdx … chainN.avhdx in out, each a differencing
// VHDX over the one before (the first over base, which must be in out),
// each holding random writes over percent of the disk.
func chain(args []string) error {
	fl := flag.NewFlagSet("chain", flag.ExitOnError)
	base := fl.String("base", "", "base VHDX, in the -out folder")
	out := fl.String("out", "", "folder")
	layers := fl.Int("layers", 3, "differencing layers")
	percent := fl.Float64("percent", 5, "share of the disk each layer writes")
	fl.Parse(args)
	parent := *base
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 1; i <= *layers; i++ {
		l, err := vdisk.OpenLayer(parent, nil)
		if err != nil {
			return err
		}
		size := l.Size
		var writes []vhdxtest.Write
		for held := int64(0); float64(held) < float64(size)*(*percent)/100; {
			n := int64(64<<10) << rng.IntN(5) // 64 KiB … 1 MiB
			off := rng.Int64N(size/n) * n
			data := make([]byte, n)
			for j := range data {
				data[j] = byte(rng.Uint32())
			}
			writes = append(writes, vhdxtest.Write{Offset: off, Data: data})
			held += n
		}
		child := filepath.Join(*out, fmt.Sprintf("chain%d.avhdx", i))
		if err := vhdxtest.WriteDifferencing(child, parent, l.ID, size, l.LogicalSectorSize, 32<<20, writes); err != nil {
			return err
		}
		parent = child
	}
	return nil
}

// touch writes a differencing VHDX over base whose writes replace the data
// of randomly chosen files of the volume until about percent of the disk
// is written: a checkpoint in which users changed some files, and nothing
// else (file-system metadata stays as it was, so the files keep their
// places and sizes).
func touch(args []string) error {
	fl := flag.NewFlagSet("touch", flag.ExitOnError)
	base := fl.String("base", "", "base image")
	out := fl.String("out", "", "the differencing VHDX to write, in the base's folder")
	percent := fl.Float64("percent", 1, "share of the disk to rewrite")
	fl.Parse(args)
	img, err := guest.Open(*base, nil)
	if err != nil {
		return err
	}
	defer img.Close()
	d := img.Disk()
	type file struct {
		vol  *guest.Volume
		exts []fsys.Extent
	}
	var files []file
	for _, v := range img.Volumes() {
		if v.FS == nil {
			continue
		}
		err := img.Walk(v.Name, func(p string, info fs.FileInfo) error {
			if m := fsys.MetaOf(info); m != nil && info.Mode().IsRegular() && len(m.Extents) > 0 && !m.Compressed {
				files = append(files, file{v, m.Extents})
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	rng := rand.New(rand.NewPCG(5, 6))
	rng.Shuffle(len(files), func(i, j int) { files[i], files[j] = files[j], files[i] })
	sector := int64(d.SectorSize())
	var writes []vhdxtest.Write
	var held int64
	for _, f := range files {
		if float64(held) >= float64(d.Size())*(*percent)/100 {
			break
		}
		for _, e := range f.exts {
			off := f.vol.Offset + e.Physical
			// Whole sectors inside the extent only.
			start := (off + sector - 1) / sector * sector
			end := (off + e.Length) / sector * sector
			if end <= start {
				continue
			}
			data := make([]byte, end-start)
			for i := range data {
				data[i] = byte(rng.Uint32())
			}
			writes = append(writes, vhdxtest.Write{Offset: start, Data: data})
			held += end - start
		}
	}
	top := d.Layers()[0]
	return vhdxtest.WriteDifferencing(*out, *base, top.ID, d.Size(), d.SectorSize(), 32<<20, writes)
}
