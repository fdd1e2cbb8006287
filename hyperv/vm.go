package hyperv

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
)

// MaxDisks is the most disks a VM's description keeps; a configuration
// naming more (Hyper-V allows 4 IDE and 4×64 SCSI locations) is hostile or
// corrupt, and the rest are counted in VM.DisksOmitted.
const MaxDisks = 256

// Device class GUIDs of the storage controllers, as named in the
// configuration's manifest (vdevNNN/device).
const (
	ideControllerGUID  = "83f8638b-8dca-4152-9eda-2ca8b33039b4" // Microsoft Emulated IDE Controller
	scsiControllerGUID = "d422512d-2bf2-4752-809d-7b82b5fcb1b4" // Synthetic SCSI Controller
)

// Limits of the names controllerN and driveN that are taken for disks.
const (
	maxControllerNumber = 4
	maxDriveNumber      = 64
	maxSCSIControllers  = 16
)

// VM is what grain knows of one virtual machine from its configuration.
type VM struct {
	Name       string // configuration/properties/name
	ID         string // properties/global_id (else settings/global/logical_id, else the file's GUID name)
	Generation int    // 1 or 2 (properties/subtype 0 or 1); 1 when absent
	Version    string // configuration version "major.minor" from properties/version (e.g. "5.0", "9.0"), "" if absent
	TypeID     string // properties/type_id: "Virtual Machines" for a VM (checkpoints carry another value)
	ConfigPath string // the file it was read from (set by Scan; empty from ReadVMCX/ReadXML)
	Disks      []Disk // IDE disks first, then SCSI, each by controller and location

	// DisksOmitted counts attached disks beyond MaxDisks that were left out.
	DisksOmitted int
}

// Disk is one attached drive that names a file.
type Disk struct {
	Controller      string // "ide" or "scsi"
	ControllerIndex int    // IDE: 0 or 1; SCSI: the controller's order in the manifest, from 0
	Location        int    // driveN: 0 or 1 on IDE, 0–63 on SCSI
	Path            string // as configured (a Windows path)
	Kind            string // "disk" (type VHD), "dvd" (type ISO), else the configured type in lower case
}

// ReadVMCX reads a binary VM configuration (.vmcx, Windows Server 2016
// and later).
func ReadVMCX(r io.ReaderAt, size int64) (*VM, error) {
	root, _, err := readVMCXTree(r, size, true)
	if err != nil {
		return nil, err
	}
	return vmFromTree(root, "vmcx")
}

// vmFromTree picks the VM out of a configuration tree, the same for XML
// and VMCX.
func vmFromTree(root *node, format string) (*VM, error) {
	cfg := root.child("configuration")
	if cfg == nil || cfg.kind != kindNode {
		return nil, fmt.Errorf("hyperv: %s: no configuration key: %w", format, ErrFormat)
	}
	props := cfg.child("properties")
	vm := &VM{
		Name:       props.child("name").text(),
		ID:         props.child("global_id").text(),
		TypeID:     props.child("type_id").text(),
		Generation: 1,
	}
	if vm.ID == "" {
		vm.ID = cfg.lookup("settings", "global", "logical_id").text()
	}
	if st, ok := props.child("subtype").integer(); ok && st == 1 {
		vm.Generation = 2
	}
	if v, ok := props.child("version").integer(); ok && v > 0 && v <= 0xffff {
		vm.Version = fmt.Sprintf("%d.%d", v>>8, v&0xff)
	}
	if props == nil || (vm.Name == "" && vm.ID == "") {
		return nil, fmt.Errorf("hyperv: %s: no properties/name or global_id: not a VM configuration: %w", format, ErrFormat)
	}

	// IDE: one device instance (named as its class) holding controller0
	// and controller1.
	var disks []Disk
	omitted := 0
	add := func(d Disk) {
		if len(disks) < MaxDisks {
			disks = append(disks, d)
		} else {
			omitted++
		}
	}
	if ide := cfg.child("_" + ideControllerGUID + "_"); ide != nil {
		addDrives(ide, "ide", -1, add)
	}

	// SCSI: one device instance per controller, each listed in the
	// manifest with its own instance GUID; its section holds controller0.
	for i, inst := range scsiInstances(cfg) {
		if sec := cfg.child("_" + inst + "_"); sec != nil {
			addDrives(sec, "scsi", i, add)
		}
	}
	slices.SortStableFunc(disks, func(a, b Disk) int {
		return cmp.Or(
			cmp.Compare(controllerRank(a.Controller), controllerRank(b.Controller)),
			cmp.Compare(a.ControllerIndex, b.ControllerIndex),
			cmp.Compare(a.Location, b.Location))
	})
	vm.Disks, vm.DisksOmitted = disks, omitted
	return vm, nil
}

func controllerRank(c string) int {
	if c == "ide" {
		return 0
	}
	return 1
}

// addDrives adds the drives of a controller device section: its
// controllerN/driveM children. For SCSI, index is the controller's number
// and the section's own controllerN (always controller0) is ignored.
func addDrives(sec *node, controller string, index int, add func(Disk)) {
	for _, c := range sec.children {
		cn, ok := indexed(c.name, "controller", maxControllerNumber)
		if !ok || c.kind != kindNode {
			continue
		}
		ci := cn
		if index >= 0 {
			ci = index
		}
		for _, d := range c.children {
			loc, ok := indexed(d.name, "drive", maxDriveNumber)
			if !ok || d.kind != kindNode {
				continue
			}
			path := strings.TrimSpace(d.child("pathname").text())
			typ := strings.TrimSpace(d.child("type").text())
			if path == "" || typ == "" || strings.EqualFold(typ, "NONE") {
				continue // an empty drive slot or an empty DVD drive
			}
			add(Disk{Controller: controller, ControllerIndex: ci, Location: loc, Path: path, Kind: driveKind(typ)})
		}
	}
}

func driveKind(typ string) string {
	switch strings.ToUpper(typ) {
	case "VHD":
		return "disk"
	case "ISO":
		return "dvd"
	}
	return strings.ToLower(typ)
}

// scsiInstances lists the instance GUIDs of the SCSI controllers in
// manifest order (vdev001, vdev002, …). A configuration without a manifest
// entry for a section named after the SCSI class GUID still gets that
// section read, last.
func scsiInstances(cfg *node) []string {
	type inst struct {
		n    int
		guid string
	}
	var list []inst
	seen := map[string]bool{}
	for _, v := range cfg.child("manifest").childrenOrNil() {
		n, ok := indexed(v.name, "vdev", 10000)
		if !ok || v.kind != kindNode {
			continue
		}
		if !strings.EqualFold(strings.Trim(v.child("device").text(), "{}"), scsiControllerGUID) {
			continue
		}
		g := strings.ToLower(strings.Trim(v.child("instance").text(), "{}"))
		if g == "" || seen[g] {
			continue
		}
		seen[g] = true
		list = append(list, inst{n, g})
		if len(list) >= maxSCSIControllers {
			break // Hyper-V allows 4; bound the section lookups
		}
	}
	slices.SortStableFunc(list, func(a, b inst) int { return cmp.Compare(a.n, b.n) })
	out := make([]string, 0, len(list)+1)
	for _, i := range list {
		out = append(out, i.guid)
	}
	if !seen[scsiControllerGUID] && cfg.child("_"+scsiControllerGUID+"_") != nil {
		out = append(out, scsiControllerGUID)
	}
	return out
}

func (n *node) childrenOrNil() []*node {
	if n == nil {
		return nil
	}
	return n.children
}
