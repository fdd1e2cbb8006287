package hyperv

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

const maxFuzzInput = 32 << 10 // larger inputs make the fuzzer spend its time minimizing

// FuzzVMCX takes a HyperVStorage file in compact form (the first header,
// then everything from 0x2000 on; see expandFuzz). The seeds are the real
// keys of test.vmcx that grain reads, re-encoded compactly (the sample
// itself, 80 KB of mostly free key space, makes the fuzzer spend all its
// time minimizing), once with long strings in file objects.
func FuzzVMCX(f *testing.F) {
	b := sampleBytes(f, "test.vmcx")
	root, _, err := readVMCXTree(bytes.NewReader(b), int64(len(b)), true)
	if err != nil {
		f.Fatal(err)
	}
	small := sampleSubset(root)
	f.Add(compactFuzz(buildVMCX(small, 0)))
	f.Add(compactFuzz(buildVMCX(small, 100)))
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) > maxFuzzInput {
			return
		}
		data := expandFuzz(in)
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

// sampleSubset keeps properties, the IDE section, the SCSI controller's
// section and the manifest entries of both controllers.
func sampleSubset(root *node) *node {
	cfg := root.child("configuration")
	keep := &node{name: "configuration", kind: kindNode}
	man := &node{name: "manifest", kind: kindNode}
	for _, v := range cfg.child("manifest").children {
		if d := v.child("device").text(); d == ideControllerGUID || d == scsiControllerGUID {
			man.children = append(man.children, v)
		}
	}
	keep.children = append(keep.children, cfg.child("properties"), man, cfg.child("_"+ideControllerGUID+"_"))
	for _, inst := range scsiInstances(cfg) {
		keep.children = append(keep.children, cfg.child("_"+inst+"_"))
	}
	return &node{kind: kindNode, children: []*node{keep}}
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
