package hyperv

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

const maxFuzzInput = 1 << 20

func FuzzVMCX(f *testing.F) {
	b := sampleBytes(f, "test.vmcx")
	f.Add(b)
	f.Add(sampleBytes(f, "test.VMRS"))
	f.Add(b[:0x3000])
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxFuzzInput {
			return
		}
		for _, verify := range []bool{true, false} {
			root, _, err := readVMCXTree(bytes.NewReader(data), int64(len(data)), verify)
			if err != nil {
				if !errors.Is(err, ErrFormat) {
					t.Fatalf("error %v is not ErrFormat", err)
				}
				continue
			}
			if vm, err := vmFromTree(root, "vmcx"); err == nil && len(vm.Disks) > MaxDisks {
				t.Fatalf("%d disks kept", len(vm.Disks))
			}
		}
	})
}

func FuzzXML(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.xml")
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(manyDisksXML(2, 3)))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxFuzzInput {
			return
		}
		vm, err := ReadXML(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error %v is not ErrFormat", err)
			}
			return
		}
		if len(vm.Disks) > MaxDisks {
			t.Fatalf("%d disks kept", len(vm.Disks))
		}
	})
}
