package cli

import (
	"errors"
	"fmt"
	"github.com/grainvm/grain/fsys"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/grainvm/grain/guest"
	"github.com/grainvm/grain/vdisk"
)

type layerJSON struct {
	Path               string            `json:"path"`
	Format             string            `json:"format"`
	Type               string            `json:"type"`
	VirtualSize        int64             `json:"virtual_size"`
	FileSize           int64             `json:"file_size"`
	LogicalSectorSize  int               `json:"logical_sector_size"`
	PhysicalSectorSize int               `json:"physical_sector_size"`
	BlockSize          int64             `json:"block_size,omitempty"`
	ID                 string            `json:"id,omitempty"`
	IDs                map[string]string `json:"ids,omitempty"`
	Log                string            `json:"log,omitempty"`
	ParentLinkage      string            `json:"parent_linkage,omitempty"`
	ParentLocators     map[string]string `json:"parent_locators,omitempty"`
	ParentPath         string            `json:"parent_path,omitempty"`
	ParentFoundBy      string            `json:"parent_found_by,omitempty"`
	ParentTried        []string          `json:"parent_tried,omitempty"`
	ParentLinkageOK    *bool             `json:"parent_linkage_ok,omitempty"`
	Warnings           []string          `json:"warnings,omitempty"`
}

type volumeJSON struct {
	Name        string `json:"name"`
	Index       int    `json:"index,omitempty"`
	Scheme      string `json:"scheme"`
	Type        string `json:"type"`
	TypeID      string `json:"type_id,omitempty"`
	PartName    string `json:"partition_name,omitempty"`
	GUID        string `json:"guid,omitempty"`
	Offset      int64  `json:"offset"`
	Size        int64  `json:"size"`
	FileSystem  string `json:"file_system,omitempty"`
	Label       string `json:"label,omitempty"`
	Serial      string `json:"serial,omitempty"`
	FSSize      int64  `json:"fs_size,omitempty"`
	FSUsed      int64  `json:"fs_used,omitempty"`
	Unreadable  string `json:"unreadable,omitempty"`
	Unsupported string `json:"unsupported,omitempty"`
	// Warnings are the file system driver's notes (a journal replayed in
	// memory, a checksum that did not match, …).
	Warnings []string `json:"warnings,omitempty"`
}

type infoJSON struct {
	Image              string       `json:"image"`
	VirtualSize        int64        `json:"virtual_size"`
	LogicalSectorSize  int          `json:"logical_sector_size"`
	PhysicalSectorSize int          `json:"physical_sector_size"`
	Chain              []layerJSON  `json:"chain"`
	ChainError         string       `json:"chain_error,omitempty"`
	PartitionTable     string       `json:"partition_table,omitempty"`
	DiskGUID           string       `json:"disk_guid,omitempty"`
	MBRSignature       string       `json:"mbr_signature,omitempty"`
	UsedBackupGPT      bool         `json:"used_backup_gpt,omitempty"`
	TableWarnings      []string     `json:"partition_warnings,omitempty"`
	Volumes            []volumeJSON `json:"volumes"`
}

func (a *app) infoCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "info IMAGE",
		Short: "Describe an image: its chain of layers, partitions and volumes",
		Long: `info describes a disk image: the format and type of every layer of its
differencing chain (IDs, how each parent was found, whether the linkage
matched, the VHDX log state), the partition table and every volume with the
file system found in it. When a parent cannot be found, info still
describes the layers it could read, and says which paths it tried.`,
		Args: args(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error { return a.info(args[0]) },
	}
	cmd.Flags().BoolVar(&a.json, "json", false, "print one JSON object")
	return cmd
}

func (a *app) info(arg string) error {
	path, err := a.imagePath(arg)
	if err != nil {
		return err
	}
	out := infoJSON{Image: path}
	img, err := guest.Open(path, a.guestOptions())
	var chainErr error
	if err != nil {
		if !errors.Is(err, vdisk.ErrParentNotFound) && !errors.Is(err, vdisk.ErrLinkage) {
			return err
		}
		// Describe what could be read, and why the chain stops.
		layers, _ := vdisk.Inspect(path, a.vdiskOptions())
		if len(layers) == 0 {
			return err
		}
		chainErr = err
		out.ChainError = err.Error()
		for _, l := range layers {
			out.Chain = append(out.Chain, layerOut(l))
		}
		out.VirtualSize = layers[0].Size
		out.LogicalSectorSize = layers[0].LogicalSectorSize
		out.PhysicalSectorSize = layers[0].PhysicalSectorSize
	} else {
		defer img.Close()
		d := img.Disk()
		out.VirtualSize = d.Size()
		out.LogicalSectorSize = d.SectorSize()
		out.PhysicalSectorSize = d.PhysicalSectorSize()
		for _, l := range d.Layers() {
			out.Chain = append(out.Chain, layerOut(l))
		}
		t := img.Table()
		out.PartitionTable = t.Scheme
		out.DiskGUID, out.UsedBackupGPT = t.DiskGUID, t.UsedBackupGPT
		if t.MBRSignature != 0 {
			out.MBRSignature = fmt.Sprintf("%08x", t.MBRSignature)
		}
		out.TableWarnings = t.Warnings
		for _, v := range img.Volumes() {
			out.Volumes = append(out.Volumes, volumeOut(v))
		}
	}
	if a.json {
		if err := a.emit(out); err != nil {
			return err
		}
	} else {
		printInfo(a.stdout, &out)
	}
	if chainErr != nil {
		return chainErr
	}
	return nil
}

func layerOut(l *vdisk.Layer) layerJSON {
	j := layerJSON{
		Path: l.Path, Format: l.Format, Type: l.Type, VirtualSize: l.Size, FileSize: l.FileSize,
		LogicalSectorSize: l.LogicalSectorSize, PhysicalSectorSize: l.PhysicalSectorSize,
		BlockSize: l.BlockSize, ID: l.ID, Log: l.Log, Warnings: l.Warnings,
	}
	if len(l.IDs) > 0 {
		j.IDs = map[string]string{}
		for _, nv := range l.IDs {
			j.IDs[nv.Name] = nv.Value
		}
	}
	if l.Differencing() {
		j.ParentLinkage = l.ParentLinkage
		j.ParentLocators = map[string]string{}
		for _, nv := range l.ParentLocators {
			j.ParentLocators[nv.Name] = nv.Value
		}
		j.ParentPath, j.ParentFoundBy, j.ParentTried = l.ParentPath, l.ParentFoundBy, l.ParentTried
		if l.ParentPath != "" {
			ok := l.ParentLinkageOK
			j.ParentLinkageOK = &ok
		}
	}
	return j
}

func volumeOut(v *guest.Volume) volumeJSON {
	j := volumeJSON{
		Name: v.Name, Index: v.Index, Scheme: v.Scheme, Type: v.Type, TypeID: v.TypeID,
		PartName: v.PartName, GUID: v.GUID, Offset: v.Offset, Size: v.Size, Unsupported: v.Unsupported,
	}
	if v.FS != nil {
		j.FileSystem, j.Label, j.Serial = v.FS.Type(), v.FS.Label(), v.FS.ID()
		if total, used, ok := v.FS.Usage(); ok {
			j.FSSize, j.FSUsed = total, used
		}
		if w, ok := v.FS.(fsys.WarningsFS); ok {
			j.Warnings = w.Warnings()
		}
	} else {
		j.FileSystem = v.Kind.Name
		switch {
		case v.Unsupported != "":
		case v.Kind.Note != "":
			j.Unreadable = v.Kind.Note
		case v.Err != nil:
			j.Unreadable = strings.TrimPrefix(v.Err.Error(), "guest: volume "+v.Name+": ")
		}
	}
	return j
}

func printInfo(w io.Writer, in *infoJSON) {
	fmt.Fprintf(w, "image:        %s\n", in.Image)
	fmt.Fprintf(w, "virtual size: %s (%d bytes)\n", humanBytes(in.VirtualSize), in.VirtualSize)
	fmt.Fprintf(w, "sectors:      %d logical, %d physical\n", in.LogicalSectorSize, in.PhysicalSectorSize)
	fmt.Fprintf(w, "chain:        %d layer(s), newest first\n", len(in.Chain))
	for i, l := range in.Chain {
		fmt.Fprintf(w, "  [%d] %s\n", i, l.Path)
		fmt.Fprintf(w, "      %s %s, file %s", l.Format, l.Type, humanBytes(l.FileSize))
		if l.BlockSize > 0 {
			fmt.Fprintf(w, ", blocks of %s", humanBytes(l.BlockSize))
		}
		fmt.Fprintln(w)
		for _, k := range sortedKeys(l.IDs) {
			fmt.Fprintf(w, "      %-15s %s\n", k+":", l.IDs[k])
		}
		if l.Log != "" {
			fmt.Fprintf(w, "      log:            %s\n", l.Log)
		}
		if l.ParentLinkage != "" || len(l.ParentLocators) > 0 {
			fmt.Fprintf(w, "      parent linkage: %s\n", l.ParentLinkage)
			for _, k := range sortedKeys(l.ParentLocators) {
				fmt.Fprintf(w, "      locator %-18s %s\n", k+":", l.ParentLocators[k])
			}
			if l.ParentPath != "" {
				ok := "matches"
				if l.ParentLinkageOK != nil && !*l.ParentLinkageOK {
					ok = "DOES NOT MATCH (used because of --ignore-linkage)"
				}
				fmt.Fprintf(w, "      parent:         %s (found by %s; linkage %s)\n", l.ParentPath, l.ParentFoundBy, ok)
			} else if len(l.ParentTried) > 0 {
				fmt.Fprintf(w, "      parent:         NOT FOUND; tried %s\n", strings.Join(l.ParentTried, ", "))
			}
		}
		for _, wmsg := range l.Warnings {
			fmt.Fprintf(w, "      warning: %s\n", wmsg)
		}
	}
	if in.ChainError != "" {
		fmt.Fprintf(w, "chain error:  %s\n", in.ChainError)
		return
	}
	fmt.Fprintf(w, "partitions:   %s", in.PartitionTable)
	if in.DiskGUID != "" {
		fmt.Fprintf(w, ", disk GUID %s", in.DiskGUID)
	}
	if in.MBRSignature != "" {
		fmt.Fprintf(w, ", disk signature %s", in.MBRSignature)
	}
	if in.UsedBackupGPT {
		fmt.Fprintf(w, " (primary GPT damaged: read the backup)")
	}
	fmt.Fprintln(w)
	for _, wmsg := range in.TableWarnings {
		fmt.Fprintf(w, "  warning: %s\n", wmsg)
	}
	fmt.Fprintf(w, "volumes:\n")
	for _, v := range in.Volumes {
		fmt.Fprintf(w, "  %-8s %-28s offset %d, %s", v.Name, v.Type, v.Offset, humanBytes(v.Size))
		if v.PartName != "" {
			fmt.Fprintf(w, ", name %q", v.PartName)
		}
		fmt.Fprintln(w)
		switch {
		case v.Unsupported != "":
			fmt.Fprintf(w, "           not readable: %s\n", v.Unsupported)
		case v.Unreadable != "":
			fmt.Fprintf(w, "           no files: %s\n", v.Unreadable)
		default:
			fmt.Fprintf(w, "           %s", v.FileSystem)
			if v.Label != "" {
				fmt.Fprintf(w, " %q", v.Label)
			}
			if v.Serial != "" {
				fmt.Fprintf(w, ", serial %s", v.Serial)
			}
			if v.FSSize > 0 {
				fmt.Fprintf(w, ", %s used of %s", humanBytes(v.FSUsed), humanBytes(v.FSSize))
			}
			fmt.Fprintln(w)
		}
		for _, wmsg := range v.Warnings {
			fmt.Fprintf(w, "           warning: %s\n", wmsg)
		}
	}
}
