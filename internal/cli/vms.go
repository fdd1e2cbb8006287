package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/grainvm/grain/hyperv"
)

type vmDiskJSON struct {
	Controller string `json:"controller"`
	Index      int    `json:"controller_index"`
	Location   int    `json:"location"`
	Kind       string `json:"kind"`
	Configured string `json:"configured_path"`
	Found      string `json:"found_path,omitempty"`
}

type vmJSON struct {
	Name       string       `json:"name"`
	ID         string       `json:"id"`
	Generation int          `json:"generation"`
	Version    string       `json:"version,omitempty"`
	Config     string       `json:"config_path"`
	Disks      []vmDiskJSON `json:"disks"`
	Omitted    int          `json:"disks_omitted,omitempty"`
}

func (a *app) vmsCommand() *cobra.Command {
	var recursive bool
	cmd := &cobra.Command{
		Use:   "vms DIR...",
		Short: "List the Hyper-V VMs configured in folders and their disks",
		Long: `vms reads the Hyper-V virtual machine configurations in the folders
(.vmcx files of Windows Server 2016 and later, the XML files of 2008 to
2012 R2) and prints each VM's name, ID and generation, and every disk
attached to it: the path as configured, and the local file grain found for
it (the configured path, else the file name beside the configuration, in
its "Virtual Hard Disks" folder, or in a --parent-dir). Other commands take
--vm NAME (or ID) with a folder instead of an image path.`,
		Args: args(1, -1),
		RunE: func(cmd *cobra.Command, args []string) error { return a.vms(args, recursive) },
	}
	cmd.Flags().BoolVarP(&recursive, "recursive", "r", true, "search the folders recursively")
	cmd.Flags().BoolVar(&a.json, "json", false, "print one JSON object per VM")
	return cmd
}

func (a *app) vms(dirs []string, recursive bool) error {
	vms, errs := hyperv.Scan(dirs, recursive)
	for _, err := range errs {
		fmt.Fprintf(a.stderr, "grain: %v\n", err)
	}
	for _, vm := range vms {
		j := vmJSON{Name: vm.Name, ID: vm.ID, Generation: vm.Generation, Version: vm.Version, Config: vm.ConfigPath, Omitted: vm.DisksOmitted}
		for _, d := range vm.Disks {
			j.Disks = append(j.Disks, vmDiskJSON{
				Controller: d.Controller, Index: d.ControllerIndex, Location: d.Location, Kind: d.Kind,
				Configured: d.Path, Found: hyperv.Locate(d.Path, vm.ConfigPath, append(append([]string{}, a.parentDirs...), dirs...)),
			})
		}
		if a.json {
			if err := a.emit(j); err != nil {
				return err
			}
			continue
		}
		fmt.Fprintf(a.stdout, "%s  (id %s, generation %d", j.Name, j.ID, j.Generation)
		if j.Version != "" {
			fmt.Fprintf(a.stdout, ", version %s", j.Version)
		}
		fmt.Fprintf(a.stdout, ")\n  config: %s\n", j.Config)
		n := 0
		for _, d := range j.Disks {
			found := d.Found
			if found == "" {
				found = "NOT FOUND"
			}
			label := "   "
			if d.Kind == "disk" {
				label = fmt.Sprintf("%2d.", n)
				n++
			}
			fmt.Fprintf(a.stdout, "  %s %s %d:%d %s: %s\n      -> %s\n", label, strings.ToUpper(d.Controller), d.Index, d.Location, d.Kind, d.Configured, found)
		}
		if j.Omitted > 0 {
			fmt.Fprintf(a.stdout, "  (%d more disks not listed)\n", j.Omitted)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("vms: %d configuration files could not be read", len(errs))
	}
	return nil
}

// vmImage resolves --vm NAME with a folder to the VM's disk file: the
// disk numbered --disk (0, the first hard disk, by default) among its
// hard disks, found by hyperv.Locate. The folder is also searched for
// parents.
func (a *app) vmImage(dir string) (string, error) {
	vms, errs := hyperv.Scan([]string{dir}, true)
	var match []*hyperv.VM
	for _, vm := range vms {
		if strings.EqualFold(vm.Name, a.vm) || strings.EqualFold(strings.Trim(vm.ID, "{}"), strings.Trim(a.vm, "{}")) {
			match = append(match, vm)
		}
	}
	switch len(match) {
	case 0:
		msg := fmt.Sprintf("no VM named %q in %s", a.vm, dir)
		if len(errs) > 0 {
			msg += fmt.Sprintf(" (%d configuration files could not be read: %v)", len(errs), errs[0])
		}
		return "", fmt.Errorf("%s", msg)
	case 1:
	default:
		return "", fmt.Errorf("%d VMs are named %q in %s: give the ID instead", len(match), a.vm, dir)
	}
	vm := match[0]
	n := 0
	for _, d := range vm.Disks {
		if d.Kind != "disk" {
			continue
		}
		if n == a.vmDisk {
			p := hyperv.Locate(d.Path, vm.ConfigPath, append(append([]string{}, a.parentDirs...), dir))
			if p == "" {
				return "", fmt.Errorf("VM %s: disk %d (%s) not found in %s", vm.Name, n, d.Path, dir)
			}
			a.parentDirs = append(a.parentDirs, dir)
			return p, nil
		}
		n++
	}
	return "", fmt.Errorf("VM %s has %d hard disks; --disk %d does not exist", vm.Name, n, a.vmDisk)
}

// imagePath is the IMAGE argument, or with --vm the VM's disk in the
// folder given instead.
func (a *app) imagePath(arg string) (string, error) {
	if a.vm == "" {
		return arg, nil
	}
	return a.vmImage(arg)
}
