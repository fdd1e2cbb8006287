package cli

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/grainvm/grain/extract"
)

// extractFlags are the selection flags cp and tar share.
type extractFlags struct {
	include, exclude []string
	newer            string
	dereference      bool
	streams          bool
}

func (f *extractFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringArrayVar(&f.include, "include", nil, "copy only files whose name or path matches this glob (repeatable)")
	fl.StringArrayVar(&f.exclude, "exclude", nil, "skip entries whose name or path matches this glob (repeatable)")
	fl.StringVar(&f.newer, "newer", "", "copy only files modified after this time (a date, a time, or an age such as 7d)")
	fl.BoolVarP(&f.dereference, "dereference", "L", false, "copy what symbolic links point to (resolved inside the image) instead of the links")
	fl.BoolVar(&f.streams, "streams", false, "copy NTFS named data streams (xattrs user.grain.stream.NAME, or FILE%3ASTREAM side files)")
}

func (f *extractFlags) options() (*extract.Options, error) {
	o := &extract.Options{Include: f.include, Exclude: f.exclude, Dereference: f.dereference, Streams: f.streams}
	for _, g := range append(append([]string{}, f.include...), f.exclude...) {
		if _, err := filepath.Match(g, ""); err != nil {
			return nil, usageError{fmt.Errorf("bad glob %q: %w", g, err)}
		}
	}
	var err error
	if o.Newer, err = parseWhen(f.newer, time.Now()); err != nil {
		return nil, usageError{fmt.Errorf("--newer: %w", err)}
	}
	return o, nil
}

// attachProgress wires a progress bar, sized once the selection is
// listed, and one-line failure reports into o.
func (a *app) attachProgress(o *extract.Options, name string) (*lazyBar, error) {
	show, err := a.showProgress()
	if err != nil {
		return nil, err
	}
	bar := &lazyBar{w: a.stderr, show: show, name: name}
	if show {
		// The total costs a listing pass of its own: only for a bar.
		o.Planned = func(files int, bytes int64) { bar.start(bytes) }
		o.Progress = bar.add
	}
	fails := &failures{w: a.stderr}
	o.Report = fails.report
	return bar, nil
}

// failures prints each failed or renamed entry as one line.
type failures struct {
	mu sync.Mutex
	w  io.Writer
}

func (f *failures) report(p string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fmt.Fprintf(f.w, "grain: %s: %v\n", p, err)
}

func (a *app) cpCommand() *cobra.Command {
	var ef extractFlags
	var recursive, overwrite, atime bool
	cmd := &cobra.Command{
		Use:   "cp [-r] IMAGE PATH... DEST",
		Short: "Copy files and trees out of an image, keeping times",
		Long: `cp copies files (with -r, whole trees) from the image into the folder DEST,
each under its own name, as cp -r does. Modification times are kept (and
access times with --atime), Unix modes always and owners when run as root,
symbolic links as links, hard links as hard links, sparse files sparse.
Nothing is ever written outside DEST, existing files are kept unless
--overwrite, and a file that fails is reported while the copy goes on.`,
		Args: args(3, -1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o, err := ef.options()
			if err != nil {
				return err
			}
			o.Recursive, o.Overwrite, o.Atime = recursive, overwrite, atime
			o.Owners = os.Geteuid() == 0
			return a.cp(args[0], args[1:len(args)-1], args[len(args)-1], o)
		},
	}
	cmd.Flags().BoolVarP(&recursive, "recursive", "r", false, "copy directories and everything below them")
	cmd.Flags().BoolVar(&overwrite, "overwrite", false, "replace files that exist in DEST")
	cmd.Flags().BoolVar(&atime, "atime", false, "set access times too")
	ef.add(cmd)
	return cmd
}

func treePaths(ps []string) ([]string, error) {
	out := make([]string, len(ps))
	for i, p := range ps {
		var err error
		if out[i], err = treePath(p); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (a *app) cp(image string, paths []string, dest string, o *extract.Options) error {
	names, err := treePaths(paths)
	if err != nil {
		return err
	}
	img, err := a.openImage(image)
	if err != nil {
		return err
	}
	defer img.Close()
	bar, err := a.attachProgress(o, "cp")
	if err != nil {
		return err
	}
	start := time.Now()
	sum, err := extract.Copy(img, names, dest, o)
	bar.done(err == nil)
	a.summary(sum, time.Since(start))
	return err
}

func (a *app) summary(s extract.Summary, d time.Duration) {
	rate := ""
	if secs := d.Seconds(); secs > 0 {
		rate = fmt.Sprintf(", %s/s", humanBytes(int64(float64(s.Bytes)/secs)))
	}
	fmt.Fprintf(a.stderr, "%d files, %d folders, %d links, %s in %s%s", s.Files, s.Dirs, s.Symlinks+s.HardLinks, humanBytes(s.Bytes), d.Round(time.Millisecond), rate)
	if s.Failed > 0 {
		fmt.Fprintf(a.stderr, "; %d FAILED", s.Failed)
	}
	if s.Renamed > 0 {
		fmt.Fprintf(a.stderr, "; %d renamed", s.Renamed)
	}
	fmt.Fprintln(a.stderr)
}

func (a *app) tarCommand() *cobra.Command {
	var ef extractFlags
	var out, format string
	cmd := &cobra.Command{
		Use:   "tar IMAGE [PATH...] [-o FILE]",
		Short: "Write files of an image as a PAX tar stream (or a zip)",
		Long: `tar writes the selected files and trees (default: the whole image) as a
PAX tar stream to standard output or FILE: nanosecond times, long names,
symbolic and hard links, Unix modes and owners, extended attributes and,
with --streams, NTFS named streams as PAX records. --format zip writes a
zip file instead (ZIP64 where needed).`,
		Args: args(1, -1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o, err := ef.options()
			if err != nil {
				return err
			}
			if format != "tar" && format != "zip" {
				return usageError{fmt.Errorf("--format must be tar or zip, not %q", format)}
			}
			paths := args[1:]
			if len(paths) == 0 {
				paths = []string{"/"}
			}
			return a.tar(args[0], paths, out, format, o)
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "-", "write to FILE instead of standard output")
	cmd.Flags().StringVar(&format, "format", "tar", "tar or zip")
	ef.add(cmd)
	return cmd
}

func (a *app) tar(image string, paths []string, out, format string, o *extract.Options) error {
	names, err := treePaths(paths)
	if err != nil {
		return err
	}
	img, err := a.openImage(image)
	if err != nil {
		return err
	}
	defer img.Close()
	// The stream goes to stdout itself, not through Main's buffer.
	if err := a.flushStdout(); err != nil {
		return err
	}
	w := a.rawStdout
	var file *os.File
	if out != "-" {
		if err := refuseSource(out, img.Disk()); err != nil {
			return err
		}
		if file, err = os.Create(out); err != nil {
			return err
		}
		defer file.Close()
		w = file
	} else {
		widenPipe(w)
	}
	// Tar writes a file or pipe straight from its read buffers (see
	// extract.Tar); zip, and any other writer, is buffered.
	dst, bw := w, (*bufio.Writer)(nil)
	if _, ok := w.(*os.File); !ok || format == "zip" {
		bw = bufio.NewWriterSize(w, 1<<20)
		dst = bw
	}
	bar, err := a.attachProgress(o, format)
	if err != nil {
		return err
	}
	start := time.Now()
	var sum extract.Summary
	if format == "zip" {
		sum, err = extract.Zip(dst, img, names, o)
	} else {
		sum, err = extract.Tar(dst, img, names, o)
	}
	if bw != nil {
		if ferr := bw.Flush(); err == nil && ferr != nil {
			err = ferr
		}
	}
	bar.done(err == nil)
	if file != nil {
		if cerr := file.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}
	a.summary(sum, time.Since(start))
	if err != nil && strings.Contains(err.Error(), "broken pipe") {
		return fmt.Errorf("%s: output closed early", format)
	}
	return err
}
