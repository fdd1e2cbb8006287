package gpt_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/grainvm/grain/internal/testutil"
	"github.com/grainvm/grain/volume/gpt"
)

func FuzzGPT(f *testing.F) {
	testutil.RequireTool(f, "sfdisk")
	dir := testutil.Build(f, "gpt-fuzz-seed", `
truncate -s 64K d.img
printf 'label: gpt\nfirst-lba: 34\nsize=20, type=L, name="a"\nsize=20, type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7, name="b"\n' | sfdisk -q d.img
`)
	b, err := os.ReadFile(filepath.Join(dir, "d.img"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<20 {
			return
		}
		gpt.Read(bytes.NewReader(data), int64(len(data)), 512)
	})
}
