package hyperv

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// maxScanFiles bounds how many configuration files one Scan reads.
const maxScanFiles = 100000

// Scan finds VM configurations in dirs and reads them: every *.vmcx, and
// every <GUID>.xml inside a folder named "Virtual Machines". Without
// recursive it looks in each dir and in its "Virtual Machines" subfolder
// only; with recursive, in the whole tree (symbolic links to folders are
// not followed). A dir that is itself a configuration file is read as one.
// A file that cannot be read or parsed is an error naming the file, and
// scanning goes on. VMs come in the order their files were found (lexical
// within each folder).
func Scan(dirs []string, recursive bool) ([]*VM, []error) {
	var vms []*VM
	var errs []error
	files := 0
	visit := func(path string) {
		if files >= maxScanFiles {
			return
		}
		files++
		vm, err := ReadFile(path)
		if err != nil {
			errs = append(errs, err)
			return
		}
		vms = append(vms, vm)
	}
	for _, dir := range dirs {
		st, err := os.Stat(dir)
		if err != nil {
			errs = append(errs, fmt.Errorf("hyperv: %w", err))
			continue
		}
		if !st.IsDir() {
			if isConfigName(dir) {
				visit(dir)
			} else {
				errs = append(errs, fmt.Errorf("hyperv: %s: not a folder or a VM configuration file", dir))
			}
			continue
		}
		if recursive {
			err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
				if err != nil {
					errs = append(errs, fmt.Errorf("hyperv: %w", err))
					if d != nil && d.IsDir() {
						return fs.SkipDir
					}
					return nil
				}
				if d.Type().IsRegular() && isConfigName(path) {
					visit(path)
				}
				if files >= maxScanFiles {
					return fs.SkipAll
				}
				return nil
			})
			if err != nil {
				errs = append(errs, fmt.Errorf("hyperv: %w", err))
			}
			continue
		}
		for _, sub := range []string{dir, filepath.Join(dir, "Virtual Machines")} {
			ents, err := os.ReadDir(sub)
			if err != nil {
				if sub == dir || !os.IsNotExist(err) {
					errs = append(errs, fmt.Errorf("hyperv: %w", err))
				}
				continue
			}
			for _, e := range ents {
				p := filepath.Join(sub, e.Name())
				if e.Type().IsRegular() && isConfigName(p) {
					visit(p)
				}
			}
		}
	}
	if files >= maxScanFiles {
		errs = append(errs, fmt.Errorf("hyperv: stopped after %d configuration files", maxScanFiles))
	}
	return vms, errs
}

// isConfigName tells a VM configuration by its path: *.vmcx, or <GUID>.xml
// in a folder named "Virtual Machines".
func isConfigName(path string) bool {
	base := filepath.Base(path)
	ext := strings.ToLower(filepath.Ext(base))
	switch ext {
	case ".vmcx":
		return true
	case ".xml":
		return strings.EqualFold(filepath.Base(filepath.Dir(path)), "Virtual Machines") &&
			isGUID(strings.TrimSuffix(base, filepath.Ext(base)))
	}
	return false
}

// isGUID accepts xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx, with or without
// braces.
func isGUID(s string) bool {
	s = strings.TrimSuffix(strings.TrimPrefix(s, "{"), "}")
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// ReadFile reads one configuration file, VMCX or XML by its content, and
// sets ConfigPath; a VM without an ID takes it from a GUID file name.
// Errors name the file.
func ReadFile(path string) (*VM, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("hyperv: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("hyperv: %w", err)
	}
	var head [4]byte
	n, _ := f.ReadAt(head[:], 0)
	var vm *VM
	if n == 4 && head == [4]byte{0x14, 0x20, 0x28, 0x01} {
		vm, err = ReadVMCX(f, st.Size())
	} else if strings.EqualFold(filepath.Ext(path), ".vmcx") {
		// Still read it as VMCX, for the error saying why it is not one.
		vm, err = ReadVMCX(f, st.Size())
	} else {
		vm, err = ReadXML(f)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	vm.ConfigPath = path
	if name := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path)); vm.ID == "" && isGUID(name) {
		vm.ID = strings.Trim(name, "{}")
	}
	return vm, nil
}

// Locate maps a configured Windows path to a local file: the path as is
// (only if it is absolute on this system), then its file name beside the
// configuration file's folder tree (<dir>, <dir>/Virtual Hard Disks,
// <dir>/.., <dir>/../Virtual Hard Disks, where <dir> holds configPath: the
// usual layout is <VM>/Virtual Machines/<id>.vmcx beside <VM>/Virtual Hard
// Disks/x.vhdx), then in each of dirs. Names are matched exactly, then
// ignoring case as Windows does. Only the file name of the configured path
// is used in those folders, so nothing outside them is reached (a symbolic
// link leading out of its folder is not followed). It returns "" when no
// regular file is found.
func Locate(configuredPath, configPath string, dirs []string) string {
	if configuredPath == "" {
		return ""
	}
	if filepath.IsAbs(configuredPath) && isRegular(configuredPath) {
		return configuredPath
	}
	name := windowsBase(configuredPath)
	if name == "" || name == "." || name == ".." {
		return ""
	}
	var folders []string
	if configPath != "" {
		d := filepath.Dir(configPath)
		up := filepath.Dir(d)
		folders = append(folders, d, filepath.Join(d, "Virtual Hard Disks"), up, filepath.Join(up, "Virtual Hard Disks"))
	}
	folders = append(folders, dirs...)
	for _, dir := range folders {
		if p := findIn(dir, name); p != "" {
			return p
		}
	}
	return ""
}

// windowsBase is the last element of a Windows (or slash) path.
func windowsBase(p string) string {
	p = strings.TrimRight(p, `\/`)
	if i := strings.LastIndexAny(p, `\/`); i >= 0 {
		p = p[i+1:]
	}
	if i := strings.LastIndexByte(p, ':'); i >= 0 { // C:name
		p = p[i+1:]
	}
	return p
}

// findIn looks for name in dir, exactly and then ignoring case, and
// returns the path if it is a regular file that resolves inside dir.
func findIn(dir, name string) string {
	p := filepath.Join(dir, name)
	if filepath.Dir(p) != filepath.Clean(dir) {
		return ""
	}
	if isRegular(p) && inside(p, dir) {
		return p
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return ""
	}
	for _, e := range ents {
		if strings.EqualFold(e.Name(), name) {
			q := filepath.Join(dir, e.Name())
			if isRegular(q) && inside(q, dir) {
				return q
			}
		}
	}
	return ""
}

func isRegular(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// inside reports whether p, with symbolic links resolved, lies in dir.
func inside(p, dir string) bool {
	rp, err := filepath.EvalSymlinks(p)
	if err != nil {
		return false
	}
	rd, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return false
	}
	rel, err := filepath.Rel(rd, rp)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}
