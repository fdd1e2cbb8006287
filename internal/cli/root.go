// Package cli is grain's command line: cobra commands over the guest,
// vdisk and fsys packages, with human and --json output.
package cli

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"github.com/grainvm/grain/guest"
	"github.com/grainvm/grain/vdisk"
)

// usageError marks a misuse of the command line (exit status 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// app holds one invocation's streams and common flags.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	// rawStdout is stdout unbuffered, for streams of gigabytes (tar);
	// stdout (a bufio.Writer over it) must be flushed before it is used.
	rawStdout io.Writer

	parentDirs    []string
	ignoreLinkage bool
	ignoreLog     bool
	ignoreJournal bool
	progress      string
	json          bool
	jsonBuf       []byte     // reused by emitEntry
	outMu         sync.Mutex // serialises emit
	vm            string
	vmDisk        int
}

// Main runs grain with args and returns the exit status: 0, 1 for errors,
// 2 for misuse of the command line.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	// Listings print many short lines: buffer them.
	out := bufio.NewWriterSize(stdout, 64<<10)
	a := &app{stdin: stdin, stdout: out, stderr: stderr, rawStdout: stdout}
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.Execute()
	if ferr := out.Flush(); err == nil && ferr != nil {
		err = ferr
	}
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "grain: %s\n", strings.TrimPrefix(err.Error(), "grain: "))
	var ue usageError
	if errors.As(err, &ue) || strings.HasPrefix(err.Error(), "unknown command") {
		return 2
	}
	return 1
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "grain",
		Short: "Read the files inside virtual machine disk images, read-only",
		Long: `grain reads VHD, VHDX and raw disk images and whole differencing chains
(.avhdx/.avhd checkpoints), their partitions, volumes and file systems,
read-only and in user space: no mount, no root, no Windows.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{err} })
	pf := root.PersistentFlags()
	pf.StringArrayVar(&a.parentDirs, "parent-dir", nil, "folder to search for parent images (repeatable)")
	pf.BoolVar(&a.ignoreLinkage, "ignore-linkage", false, "use a parent image even if its ID does not match the child's record")
	pf.BoolVar(&a.ignoreLog, "ignore-log", false, "read VHDX files without replaying a dirty log (the view may be inconsistent)")
	pf.BoolVar(&a.ignoreJournal, "ignore-journal", false, "read ext3/ext4 volumes without replaying a journal that needs recovery (the view may be inconsistent)")
	pf.StringVar(&a.progress, "progress", "auto", "progress bar: auto (on a terminal), always, never")
	pf.StringVar(&a.vm, "vm", "", "the Hyper-V VM (name or ID) whose disk to read; IMAGE is then a folder holding its configuration")
	pf.IntVar(&a.vmDisk, "disk", 0, "with --vm: which of the VM's hard disks (0 is the first, as grain vms numbers them)")
	root.AddCommand(
		a.infoCommand(),
		a.convertCommand(),
		a.lsCommand(),
		a.statCommand(),
		a.catCommand(),
		a.findCommand(),
		a.chainCommand(),
		a.cpCommand(),
		a.tarCommand(),
		a.vmsCommand(),
		a.initCommand(),
		a.backupCommand(),
		a.snapshotsCommand(),
		a.restoreCommand(),
	)
	return root
}

// args checks the number of positional arguments as a usage error.
func args(min, max int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < min || (max >= 0 && len(args) > max) {
			return usageError{fmt.Errorf("%s: wrong number of arguments; usage: %s", cmd.Name(), cmd.UseLine())}
		}
		return nil
	}
}

func (a *app) vdiskOptions() *vdisk.Options {
	return &vdisk.Options{ParentDirs: a.parentDirs, IgnoreLinkage: a.ignoreLinkage, IgnoreLog: a.ignoreLog}
}

func (a *app) guestOptions() *guest.Options {
	return &guest.Options{Options: *a.vdiskOptions(), IgnoreJournal: a.ignoreJournal}
}

func (a *app) openImage(arg string) (*guest.Image, error) {
	path, err := a.imagePath(arg)
	if err != nil {
		return nil, err
	}
	return guest.Open(path, a.guestOptions())
}

// emit writes one JSON object on one line, at once: status lines may come
// from progress callbacks on other goroutines and are read as they come.
func (a *app) emit(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	a.outMu.Lock()
	defer a.outMu.Unlock()
	if _, err = a.stdout.Write(b); err != nil {
		return err
	}
	if f, ok := a.stdout.(interface{ Flush() error }); ok {
		return f.Flush()
	}
	return nil
}

// emitEntry writes one file's metadata as one JSON line.
func (a *app) emitEntry(e entryJSON) error {
	a.jsonBuf = append(appendEntryJSON(a.jsonBuf[:0], &e), '\n')
	_, err := a.stdout.Write(a.jsonBuf)
	return err
}

// isTerminal reports whether f is a character device (a terminal).
func isTerminal(f any) bool {
	file, ok := f.(*os.File)
	if !ok {
		return false
	}
	fi, err := file.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// showProgress decides on a progress bar for a long job.
func (a *app) showProgress() (bool, error) {
	switch a.progress {
	case "always":
		return true, nil
	case "never":
		return false, nil
	case "auto", "":
		return isTerminal(a.stderr), nil
	}
	return false, usageError{fmt.Errorf("--progress must be auto, always or never, not %q", a.progress)}
}

// humanBytes prints a size the way administrators read them.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	v := float64(n) / float64(div)
	s := fmt.Sprintf("%.1f", v)
	s = strings.TrimSuffix(s, ".0")
	return s + " " + "KMGTPE"[exp:exp+1] + "iB"
}

// flushStdout writes out what Main's buffer over stdout holds, before a
// command writes to rawStdout.
func (a *app) flushStdout() error {
	if f, ok := a.stdout.(interface{ Flush() error }); ok {
		return f.Flush()
	}
	return nil
}
