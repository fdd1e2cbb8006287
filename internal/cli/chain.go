package cli

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/grainvm/grain/vdisk"
)

// chainNode is one disk image found by `grain chain`.
type chainNode struct {
	Path          string   `json:"path"`
	Format        string   `json:"format"`
	Type          string   `json:"type"`
	VirtualSize   int64    `json:"virtual_size"`
	FileSize      int64    `json:"file_size"`
	Modified      string   `json:"mtime"`
	ID            string   `json:"id,omitempty"`
	Parent        string   `json:"parent,omitempty"`
	ParentFoundBy string   `json:"parent_found_by,omitempty"`
	LinkageOK     *bool    `json:"parent_linkage_ok,omitempty"`
	Broken        string   `json:"broken,omitempty"`
	Children      []string `json:"children,omitempty"`
	Root          string   `json:"root"`
	Leaf          bool     `json:"leaf"`
	NewestLeaf    bool     `json:"newest_leaf"`
	Depth         int      `json:"depth"`

	mtime time.Time
	layer *vdisk.Layer
}

func (a *app) chainCommand() *cobra.Command {
	var recursive bool
	cmd := &cobra.Command{
		Use:   "chain DIR...",
		Short: "Show the snapshot trees of the disk images in folders",
		Long: `chain finds the VHD and VHDX files in the folders (by content, whatever
their names) and prints each snapshot tree: every image's parent, found by
the same rules as every other command, its children, which images are
leaves, and per tree the newest leaf: the leaf modified last, which is the
disk a running or last-run VM writes to. Broken links (parent missing, IDs
that do not match) are shown with the reason.`,
		Args: args(1, -1),
		RunE: func(cmd *cobra.Command, args []string) error { return a.chain(args, recursive) },
	}
	cmd.Flags().BoolVarP(&recursive, "recursive", "r", false, "search the folders recursively")
	cmd.Flags().BoolVar(&a.json, "json", false, "print one JSON object per image")
	return cmd
}

// findImages lists the VHD and VHDX files in dirs.
func findImages(dirs []string, recursive bool) ([]string, error) {
	var out []string
	for _, dir := range dirs {
		fi, err := os.Stat(dir)
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			return nil, usageError{fmt.Errorf("chain: %s is not a folder", dir)}
		}
		err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if p != dir && !recursive {
					return fs.SkipDir
				}
				return nil
			}
			if !d.Type().IsRegular() {
				return nil
			}
			f, err := os.Open(p)
			if err != nil {
				return nil // unreadable files are not images we can report on
			}
			defer f.Close()
			st, err := f.Stat()
			if err != nil {
				return nil
			}
			if format, err := vdisk.Detect(f, st.Size()); err == nil && format != vdisk.FormatRaw {
				out = append(out, p)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func canonical(p string) string {
	if abs, err := filepath.Abs(p); err == nil {
		p = abs
	}
	if real, err := filepath.EvalSymlinks(p); err == nil {
		p = real
	}
	return p
}

func (a *app) chain(dirs []string, recursive bool) error {
	paths, err := findImages(dirs, recursive)
	if err != nil {
		return err
	}
	opts := a.vdiskOptions()
	opts.ParentDirs = append(append([]string{}, opts.ParentDirs...), dirs...)
	nodes := map[string]*chainNode{}
	var order []string
	var add func(p string, depth int) *chainNode
	add = func(p string, depth int) *chainNode {
		key := canonical(p)
		if n, ok := nodes[key]; ok {
			return n
		}
		n := &chainNode{Path: p}
		nodes[key] = n
		order = append(order, key)
		if st, err := os.Stat(p); err == nil {
			n.mtime = st.ModTime()
			n.Modified = timeJSON(st.ModTime())
		}
		l, err := vdisk.OpenLayer(p, opts)
		if err != nil {
			n.Broken = err.Error()
			return n
		}
		n.layer = l
		n.Format, n.Type, n.VirtualSize, n.FileSize, n.ID = l.Format, l.Type, l.Size, l.FileSize, l.ID
		if !l.Differencing() {
			return n
		}
		parent, err := vdisk.FindParent(l, opts)
		if err != nil {
			n.Broken = err.Error()
			return n
		}
		if depth >= vdisk.MaxChainDepth {
			n.Broken = fmt.Sprintf("chain deeper than %d images", vdisk.MaxChainDepth)
			return n
		}
		pn := add(parent, depth+1)
		n.Parent, n.ParentFoundBy = pn.Path, l.ParentFoundBy
		ok := pn.layer != nil && l.LinkageMatches(pn.layer)
		n.LinkageOK = &ok
		if !ok {
			n.Broken = fmt.Sprintf("parent %s has ID %s, this image expects %s: %v", pn.Path, pn.ID, l.ParentLinkage, vdisk.ErrLinkage)
		}
		return n
	}
	for _, p := range paths {
		add(p, 0)
	}
	byPath := map[string]*chainNode{}
	for _, k := range order {
		byPath[nodes[k].Path] = nodes[k]
	}
	for _, k := range order {
		n := nodes[k]
		if n.Parent != "" {
			if pn := byPath[n.Parent]; pn != nil {
				pn.Children = append(pn.Children, n.Path)
			}
		}
	}
	// Roots, depths and the newest leaf of each tree.
	var roots []*chainNode
	for _, k := range order {
		n := nodes[k]
		if n.Parent == "" || byPath[n.Parent] == nil {
			roots = append(roots, n)
		}
	}
	sort.Slice(roots, func(i, j int) bool { return roots[i].Path < roots[j].Path })
	for _, r := range roots {
		var newest *chainNode
		visited := map[*chainNode]bool{}
		var walk func(n *chainNode, depth int)
		walk = func(n *chainNode, depth int) {
			if visited[n] {
				return
			}
			visited[n] = true
			n.Root, n.Depth = r.Path, depth
			sort.Strings(n.Children)
			n.Leaf = len(n.Children) == 0
			if n.Leaf && (newest == nil || n.mtime.After(newest.mtime)) {
				newest = n
			}
			for _, c := range n.Children {
				walk(byPath[c], depth+1)
			}
		}
		walk(r, 0)
		if newest != nil {
			newest.NewestLeaf = true
		}
	}
	if a.json {
		for _, r := range roots {
			if err := a.emitTree(r, byPath, map[*chainNode]bool{}); err != nil {
				return err
			}
		}
		return nil
	}
	for i, r := range roots {
		if i > 0 {
			fmt.Fprintln(a.stdout)
		}
		printTree(a.stdout, r, byPath, "", "", map[*chainNode]bool{})
	}
	return nil
}

func (a *app) emitTree(n *chainNode, byPath map[string]*chainNode, seen map[*chainNode]bool) error {
	if seen[n] {
		return nil
	}
	seen[n] = true
	if err := a.emit(n); err != nil {
		return err
	}
	for _, c := range n.Children {
		if err := a.emitTree(byPath[c], byPath, seen); err != nil {
			return err
		}
	}
	return nil
}

func printTree(w io.Writer, n *chainNode, byPath map[string]*chainNode, first, rest string, seen map[*chainNode]bool) {
	if seen[n] {
		return
	}
	seen[n] = true
	desc := fmt.Sprintf("%s %s, %s on disk", n.Format, n.Type, humanBytes(n.FileSize))
	if n.Format == "" {
		desc = "unreadable"
	}
	var tags []string
	if n.Leaf {
		tags = append(tags, "leaf")
	}
	if n.NewestLeaf {
		tags = append(tags, "NEWEST")
	}
	line := fmt.Sprintf("%s%s  (%s)", first, n.Path, desc)
	if len(tags) > 0 {
		line += " [" + strings.Join(tags, ", ") + "]"
	}
	fmt.Fprintln(w, line)
	if n.Broken != "" {
		fmt.Fprintf(w, "%s    broken: %s\n", rest, n.Broken)
	}
	for i, c := range n.Children {
		if i == len(n.Children)-1 {
			printTree(w, byPath[c], byPath, rest+"└── ", rest+"    ", seen)
		} else {
			printTree(w, byPath[c], byPath, rest+"├── ", rest+"│   ", seen)
		}
	}
}
