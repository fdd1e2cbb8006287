package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/grainvm/grain/backup"
	"github.com/grainvm/grain/restic"
	"github.com/grainvm/grain/restic/backend/location"
)

// repoFlags are the repository and password options, named as restic's.
type repoFlags struct {
	repo            string
	passwordFile    string
	passwordCommand string
}

func (rf *repoFlags) add(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVarP(&rf.repo, "repo", "r", "", "restic repository (default $RESTIC_REPOSITORY): FOLDER, local:FOLDER, sftp:…, rest:… or s3:…")
	f.StringVar(&rf.passwordFile, "password-file", "", "read the repository password from this file (default $RESTIC_PASSWORD_FILE)")
	f.StringVar(&rf.passwordCommand, "password-command", "", "run this shell command for the password (default $RESTIC_PASSWORD_COMMAND)")
}

// location is the repository given by --repo or $RESTIC_REPOSITORY.
func (rf *repoFlags) location() (string, error) {
	r := rf.repo
	if r == "" {
		r = os.Getenv("RESTIC_REPOSITORY")
	}
	if r == "" {
		return "", usageError{errors.New("no repository: give --repo or set RESTIC_REPOSITORY")}
	}
	return r, nil
}

// password finds the repository password the way restic does: a
// password command, then a password file, then $RESTIC_PASSWORD.
func (rf *repoFlags) password(ctx context.Context) (string, error) {
	file, command := rf.passwordFile, rf.passwordCommand
	if file == "" {
		file = os.Getenv("RESTIC_PASSWORD_FILE")
	}
	if command == "" {
		command = os.Getenv("RESTIC_PASSWORD_COMMAND")
	}
	if file != "" && command != "" {
		return "", usageError{errors.New("a password file and a password command cannot both be given")}
	}
	if command != "" {
		var cmd *exec.Cmd
		if runtime.GOOS == "windows" {
			cmd = exec.CommandContext(ctx, "cmd", "/c", command)
		} else {
			cmd = exec.CommandContext(ctx, "sh", "-c", command)
		}
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("password command: %w", err)
		}
		return strings.TrimSpace(string(out)), nil
	}
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("password file: %w", err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	if p := os.Getenv("RESTIC_PASSWORD"); p != "" {
		return p, nil
	}
	return "", usageError{errors.New("no repository password: set RESTIC_PASSWORD or RESTIC_PASSWORD_FILE, or give --password-file or --password-command")}
}

// openRepo opens the repository with its password, with clear errors.
// The caller closes the backend with closeRepo.
func (a *app) openRepo(ctx context.Context, rf *repoFlags) (*restic.Repository, error) {
	loc, err := rf.location()
	if err != nil {
		return nil, err
	}
	pw, err := rf.password(ctx)
	if err != nil {
		return nil, err
	}
	be, err := location.Open(ctx, loc, location.Options{})
	if err != nil {
		return nil, err
	}
	repo, err := restic.Open(ctx, be, pw)
	switch {
	case errors.Is(err, restic.ErrNoKey):
		err = fmt.Errorf("repository %s: wrong password or no key found", loc)
	case errors.Is(err, restic.ErrNoRepository):
		err = fmt.Errorf("%s is not a restic repository (no config file); make one with grain init", loc)
	case err != nil:
		err = fmt.Errorf("repository %s: %w", loc, err)
	}
	if err != nil {
		location.Close(be)
		return nil, err
	}
	return repo, nil
}

// closeRepo ends the backend's session (SFTP).
func closeRepo(repo *restic.Repository) { location.Close(repo.Backend()) }

// openRepoForReading opens the repository, takes a shared lock and loads
// its index, as the reading commands need; release undoes it all.
func (a *app) openRepoForReading(ctx context.Context, rf *repoFlags) (repo *restic.Repository, release func(), err error) {
	if repo, err = a.openRepo(ctx, rf); err != nil {
		return nil, nil, err
	}
	unlock, err := lockRepo(ctx, repo)
	if err != nil {
		closeRepo(repo)
		return nil, nil, err
	}
	release = func() { unlock(); closeRepo(repo) }
	if err := repo.LoadIndex(ctx); err != nil {
		release()
		return nil, nil, err
	}
	return repo, release, nil
}

// lockRepo takes a non-exclusive lock, as restic's reading commands do.
func lockRepo(ctx context.Context, repo *restic.Repository) (func(), error) {
	l, err := repo.Lock(ctx, false)
	if err != nil {
		return nil, err
	}
	return func() { l.Unlock(context.WithoutCancel(ctx)) }, nil
}

func (a *app) initCommand() *cobra.Command {
	var rf repoFlags
	cmd := &cobra.Command{
		Use:   "init --repo REPO",
		Short: "Create a new restic repository (format version 2)",
		Args:  args(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			loc, err := rf.location()
			if err != nil {
				return err
			}
			pw, err := rf.password(ctx)
			if err != nil {
				return err
			}
			if pw == "" {
				return usageError{errors.New("an empty password is not allowed")}
			}
			be, err := location.Create(ctx, loc, location.Options{})
			if err != nil {
				return err
			}
			defer location.Close(be)
			repo, err := restic.Init(ctx, be, pw, restic.InitOptions{})
			if err != nil {
				return err
			}
			if a.json {
				return a.emit(map[string]any{"message_type": "initialized", "id": repo.Config().ID, "repository": loc})
			}
			fmt.Fprintf(a.stdout, "created restic repository %s at %s\n", repo.Config().ID[:10], loc)
			fmt.Fprintln(a.stdout, "Please note that knowledge of your password is required to access the repository.")
			return nil
		},
	}
	rf.add(cmd)
	cmd.Flags().BoolVar(&a.json, "json", false, "print a JSON object")
	return cmd
}

func (a *app) backupCommand() *cobra.Command {
	var rf repoFlags
	var o backup.Options
	var excludeFiles []string
	var parent, name string
	var force bool
	cmd := &cobra.Command{
		Use:   "backup --repo REPO [--vm NAME] IMAGE [PATH...]",
		Short: "Back up the files of an image (or a VM's disk) into a restic repository",
		Long: `backup stores the files of the image (default: every volume; or the PATHs
given, such as /p3/Users) as one restic snapshot, straight from the image,
read-only. Inside the snapshot the files are below /NAME: the VM's name
with --vm (IMAGE is then the folder holding its configuration), else the
base image's file name without extension, or --name. The hostname is NAME
too, or --host. The snapshot's tags record the image chain's layer IDs
(grain-layer:ID): the next backup reads only files that changed or whose
data lies in a layer that changed since.`,
		Args: args(1, -1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if parent != "" && force {
				return usageError{errors.New("--parent and --force cannot both be given")}
			}
			for _, f := range excludeFiles {
				globs, err := readExcludeFile(f)
				if err != nil {
					return err
				}
				o.Excludes = append(o.Excludes, globs...)
			}
			o.NoParent = force
			return a.backup(cmd.Context(), &rf, args[0], args[1:], name, parent, &o)
		},
	}
	rf.add(cmd)
	f := cmd.Flags()
	f.StringArrayVarP(&o.Excludes, "exclude", "e", nil, "leave out entries whose name or image path matches this glob (repeatable)")
	f.StringArrayVar(&excludeFiles, "exclude-file", nil, "read exclude globs from a file, one per line (repeatable)")
	f.StringArrayVar(&o.Tags, "tag", nil, "add a tag to the snapshot (repeatable)")
	f.StringVar(&o.Host, "host", "", "the snapshot's hostname (default: the name)")
	f.StringVar(&name, "name", "", "the snapshot's top folder (default: the VM's or base image's name)")
	f.StringVar(&parent, "parent", "", "compare with this snapshot (ID prefix or latest) instead of the latest of the same host and paths")
	f.BoolVarP(&force, "force", "f", false, "read every file, as if there were no parent snapshot")
	f.IntVar(&o.Workers, "workers", 0, "files read in parallel (default 3)")
	f.BoolVar(&a.json, "json", false, "print status and summary lines as JSON, as restic does")
	return cmd
}

func readExcludeFile(name string) ([]string, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("--exclude-file: %w", err)
	}
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if _, err := path.Match(l, ""); err != nil {
			return nil, usageError{fmt.Errorf("--exclude-file %s: bad glob %q: %w", name, l, err)}
		}
		out = append(out, l)
	}
	return out, nil
}

// imageName is the snapshot's top folder for an image: the base image's
// file name without its extension.
func imageName(layers []string) string {
	if len(layers) == 0 {
		return "image"
	}
	base := filepath.Base(layers[len(layers)-1])
	if ext := filepath.Ext(base); ext != "" && ext != base {
		base = strings.TrimSuffix(base, ext)
	}
	base = strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == 0 {
			return '_'
		}
		return r
	}, base)
	if base == "" || base == "." || base == ".." {
		return "image"
	}
	return base
}

type backupStatusJSON struct {
	MessageType    string   `json:"message_type"`
	SecondsElapsed int64    `json:"seconds_elapsed"`
	PercentDone    float64  `json:"percent_done"`
	TotalFiles     int64    `json:"total_files"`
	FilesDone      int64    `json:"files_done"`
	TotalBytes     int64    `json:"total_bytes"`
	BytesDone      int64    `json:"bytes_done"`
	BytesRead      int64    `json:"bytes_read"`
	ErrorCount     int64    `json:"error_count,omitempty"`
	CurrentFiles   []string `json:"current_files,omitempty"`
}

type backupSummaryJSON struct {
	MessageType         string    `json:"message_type"`
	FilesNew            int       `json:"files_new"`
	FilesChanged        int       `json:"files_changed"`
	FilesUnmodified     int       `json:"files_unmodified"`
	DirsNew             int       `json:"dirs_new"`
	DirsChanged         int       `json:"dirs_changed"`
	DirsUnmodified      int       `json:"dirs_unmodified"`
	DataBlobs           int       `json:"data_blobs"`
	TreeBlobs           int       `json:"tree_blobs"`
	DataAdded           int64     `json:"data_added"`
	DataAddedPacked     int64     `json:"data_added_packed"`
	TotalFilesProcessed int       `json:"total_files_processed"`
	TotalBytesProcessed int64     `json:"total_bytes_processed"`
	TotalDuration       float64   `json:"total_duration"`
	BackupStart         time.Time `json:"backup_start"`
	BackupEnd           time.Time `json:"backup_end"`
	SnapshotID          string    `json:"snapshot_id"`
	Parent              string    `json:"parent,omitempty"`
	FilesRead           int       `json:"files_read"`
	BytesRead           int64     `json:"bytes_read"`
	ChangedLayers       []string  `json:"changed_layers,omitempty"`
	ChangedBytes        int64     `json:"changed_bytes"`
	AllChanged          bool      `json:"all_changed"`
	OrphanPacksIndexed  int       `json:"orphan_packs_indexed,omitempty"`
	Errors              int       `json:"errors,omitempty"`
}

// backupMemoryLimit is the soft heap limit of a backup (runtime/debug)
// for selections of up to about 200,000 files; for larger ones it grows to
// backupMemoryPerFile for each file listed (about 2.5 times what a listed
// file holds), so that the collector never runs without pause.
const (
	backupMemoryLimit   = 400 << 20
	backupMemoryPerFile = 2 << 10
)

func (a *app) backup(ctx context.Context, rf *repoFlags, image string, paths []string, name, parent string, o *backup.Options) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()
	// The listing of the whole selection stays in memory until its trees
	// are written; a soft limit on the heap keeps the collector from
	// letting it double on top of that (GOMEMLIMIT overrides).
	growLimit := func(files int64) {}
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
		old := debug.SetMemoryLimit(backupMemoryLimit)
		defer debug.SetMemoryLimit(old)
		limit := int64(backupMemoryLimit) // used by the progress calls only, one at a time
		growLimit = func(files int64) {
			if want := files * backupMemoryPerFile; want > limit {
				limit = want
				debug.SetMemoryLimit(limit)
			}
		}
	}
	imgPath, err := a.imagePath(image)
	if err != nil {
		return err
	}
	img, err := a.openImage(image)
	if err != nil {
		return err
	}
	defer img.Close()
	if name == "" {
		if a.vm != "" {
			name = a.vm
			if a.vmDisk > 0 {
				name = fmt.Sprintf("%s-disk%d", a.vm, a.vmDisk)
			}
		} else {
			var layers []string
			if d := img.Disk(); d != nil {
				for _, l := range d.Layers() {
					layers = append(layers, l.Path)
				}
			}
			if len(layers) == 0 {
				layers = []string{imgPath}
			}
			name = imageName(layers)
		}
	}
	if strings.ContainsAny(name, "/\\") || name == "." || name == ".." {
		return usageError{fmt.Errorf("--name %q: must be one path element", name)}
	}
	o.Name = name
	for _, p := range paths {
		q, err := treePath(p)
		if err != nil {
			return err
		}
		o.Paths = append(o.Paths, q)
	}
	repo, err := a.openRepo(ctx, rf)
	if err != nil {
		return err
	}
	defer closeRepo(repo)
	if parent != "" {
		if err := repo.LoadIndex(ctx); err != nil {
			return err
		}
		sn, err := backup.FindSnapshot(ctx, repo, parent, "")
		if err != nil {
			return err
		}
		id := sn.ID
		o.Parent = &id
	}
	o.ProgramVersion = "grain"
	show, err := a.showProgress()
	if err != nil {
		return err
	}
	bar := &lazyBar{w: a.stderr, show: show && !a.json, name: "backup"}
	var lastDone int64
	o.Progress = func(s backup.Status) {
		growLimit(s.FilesTotal)
		if a.json {
			pct := 0.0
			if s.BytesTotal > 0 {
				pct = float64(s.BytesDone) / float64(s.BytesTotal)
			}
			a.emit(backupStatusJSON{MessageType: "status", SecondsElapsed: int64(s.Elapsed.Seconds()), PercentDone: pct,
				TotalFiles: s.FilesTotal, FilesDone: s.FilesDone, TotalBytes: s.BytesTotal, BytesDone: s.BytesDone,
				BytesRead: s.BytesRead, ErrorCount: s.Errors, CurrentFiles: s.Current})
			return
		}
		bar.start(s.BytesTotal)
		bar.add(s.BytesDone - lastDone)
		lastDone = s.BytesDone
	}
	o.Report = func(p string, err error) {
		if a.json {
			a.emit(map[string]any{"message_type": "error", "error": map[string]string{"message": err.Error()}, "during": "archival", "item": "/" + name + p})
			return
		}
		fmt.Fprintf(a.stderr, "grain: %s: %v\n", "/"+name+p, err)
	}
	sum, err := backup.Run(ctx, repo, img, o)
	bar.done(err == nil || errors.Is(err, backup.ErrPartial))
	if sum == nil {
		return err
	}
	if a.json {
		j := backupSummaryJSON{MessageType: "summary", FilesNew: sum.FilesNew, FilesChanged: sum.FilesChanged,
			FilesUnmodified: sum.FilesUnmodified, DirsNew: sum.DirsNew, DirsChanged: sum.DirsChanged, DirsUnmodified: sum.DirsUnmodified,
			DataBlobs: sum.DataBlobs, TreeBlobs: sum.TreeBlobs, DataAdded: sum.DataAdded, DataAddedPacked: sum.DataAddedPacked,
			TotalFilesProcessed: sum.TotalFiles, TotalBytesProcessed: sum.TotalBytes, TotalDuration: sum.Duration().Seconds(),
			BackupStart: sum.Start, BackupEnd: sum.End, SnapshotID: sum.SnapshotID.String(), FilesRead: sum.FilesRead,
			BytesRead: sum.BytesRead, ChangedLayers: sum.ChangedLayers, ChangedBytes: sum.ChangedBytes, AllChanged: sum.AllChanged,
			OrphanPacksIndexed: sum.OrphanPacksIndexed, Errors: sum.Errors}
		if sum.Parent != nil {
			j.Parent = sum.Parent.String()
		}
		if e := a.emit(j); e != nil {
			return e
		}
		return err
	}
	w := a.stdout
	if sum.Parent != nil {
		fmt.Fprintf(w, "using parent snapshot %s", sum.Parent.Str())
		switch {
		case sum.AllChanged:
			fmt.Fprintf(w, " (its image chain is not this one: every file is read)\n")
		case len(sum.ChangedLayers) == 0:
			fmt.Fprintf(w, " (no layer changed)\n")
		default:
			fmt.Fprintf(w, " (%d layer(s) changed, holding %s)\n", len(sum.ChangedLayers), humanBytes(sum.ChangedBytes))
		}
	}
	if sum.OrphanPacksIndexed > 0 {
		fmt.Fprintf(w, "indexed %d pack(s) left by an interrupted backup\n", sum.OrphanPacksIndexed)
	}
	fmt.Fprintf(w, "Files:       %5d new, %5d changed, %5d unmodified\n", sum.FilesNew, sum.FilesChanged, sum.FilesUnmodified)
	fmt.Fprintf(w, "Dirs:        %5d new, %5d changed, %5d unmodified\n", sum.DirsNew, sum.DirsChanged, sum.DirsUnmodified)
	fmt.Fprintf(w, "Read from the image: %s in %d file(s)\n", humanBytes(sum.BytesRead), sum.FilesRead)
	fmt.Fprintf(w, "Added to the repository: %s (%s stored)\n", humanBytes(sum.DataAdded), humanBytes(sum.DataAddedPacked))
	fmt.Fprintf(w, "processed %d files, %s in %s\n", sum.TotalFiles, humanBytes(sum.TotalBytes), sum.Duration().Round(time.Millisecond))
	fmt.Fprintf(w, "snapshot %s saved\n", sum.SnapshotID.Str())
	return err
}

type snapshotJSON struct {
	*restic.Snapshot
	ID      string `json:"id"`
	ShortID string `json:"short_id"`
}

func (a *app) snapshotsCommand() *cobra.Command {
	var rf repoFlags
	var host string
	cmd := &cobra.Command{
		Use:   "snapshots --repo REPO",
		Short: "List the snapshots of a restic repository",
		Args:  args(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			repo, err := a.openRepo(ctx, &rf)
			if err != nil {
				return err
			}
			defer closeRepo(repo)
			unlock, err := lockRepo(ctx, repo)
			if err != nil {
				return err
			}
			defer unlock()
			sns, err := repo.ListSnapshots(ctx)
			if err != nil {
				return err
			}
			out := []snapshotJSON{}
			for _, sn := range sns {
				if host == "" || sn.Hostname == host {
					out = append(out, snapshotJSON{Snapshot: sn, ID: sn.ID.String(), ShortID: sn.ID.Str()})
				}
			}
			if a.json {
				b, err := json.Marshal(out)
				if err != nil {
					return err
				}
				_, err = fmt.Fprintf(a.stdout, "%s\n", b)
				return err
			}
			fmt.Fprintf(a.stdout, "%-8s  %-19s  %-16s  %-24s  %s\n", "ID", "Time", "Host", "Tags", "Paths")
			for _, s := range out {
				var tags []string
				for _, t := range s.Tags {
					if !strings.HasPrefix(t, backup.LayerTagPrefix) {
						tags = append(tags, t)
					}
				}
				fmt.Fprintf(a.stdout, "%-8s  %-19s  %-16s  %-24s  %s\n", s.ShortID, s.Time.Local().Format("2006-01-02 15:04:05"),
					s.Hostname, strings.Join(tags, ","), strings.Join(s.Paths, " "))
			}
			fmt.Fprintf(a.stdout, "%d snapshots\n", len(out))
			return nil
		},
	}
	rf.add(cmd)
	cmd.Flags().StringVar(&host, "host", "", "only snapshots of this host")
	cmd.Flags().BoolVar(&a.json, "json", false, "print a JSON list, as restic snapshots --json does")
	return cmd
}

func (a *app) restoreCommand() *cobra.Command {
	var rf repoFlags
	var target string
	var include, exclude []string
	var overwrite bool
	cmd := &cobra.Command{
		Use:   "restore --repo REPO SNAPSHOT[:PATH] --target DIR",
		Short: "Restore a snapshot (or a folder or file of it) into a folder",
		Long: `restore writes the snapshot's files (SNAPSHOT is an ID prefix or latest; PATH
a folder or file inside it, such as /web01/p3/Users/alice) into DIR with the
rules of grain cp: nothing is written outside DIR, modes and times are
kept, sparse files stay sparse, hard links are links, NTFS named streams
come back as extended attributes user.grain.stream.NAME, the extended
attributes of ext4 and XFS files are set again on Linux (user.* always,
other namespaces as root), and existing files are kept unless --overwrite. As with restic restore, the contents of
a folder land directly in DIR.`,
		Args: args(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if target == "" {
				return usageError{errors.New("restore: --target is required")}
			}
			for _, g := range append(append([]string{}, include...), exclude...) {
				if _, err := path.Match(g, ""); err != nil {
					return usageError{fmt.Errorf("bad glob %q: %w", g, err)}
				}
			}
			return a.restore(cmd.Context(), &rf, args[0], target, &backup.RestoreOptions{Include: include, Exclude: exclude,
				Overwrite: overwrite, Owners: os.Geteuid() == 0})
		},
	}
	rf.add(cmd)
	f := cmd.Flags()
	f.StringVarP(&target, "target", "t", "", "the folder to restore into")
	f.StringArrayVarP(&include, "include", "i", nil, "restore only files whose name or path matches this glob (repeatable)")
	f.StringArrayVarP(&exclude, "exclude", "e", nil, "skip entries whose name or path matches this glob (repeatable)")
	f.BoolVar(&overwrite, "overwrite", false, "replace files that exist in the target")
	f.BoolVar(&a.json, "json", false, "print a JSON summary")
	return cmd
}

func (a *app) restore(ctx context.Context, rf *repoFlags, sel, target string, o *backup.RestoreOptions) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()
	snap, sub, _ := strings.Cut(sel, ":")
	repo, release, err := a.openRepoForReading(ctx, rf)
	if err != nil {
		return err
	}
	defer release()
	sn, err := backup.FindSnapshot(ctx, repo, snap, "")
	if err != nil {
		return err
	}
	show, err := a.showProgress()
	if err != nil {
		return err
	}
	bar := &lazyBar{w: a.stderr, show: show && !a.json, name: "restore"}
	o.Planned = func(files int, bytes int64) { bar.start(bytes) }
	o.Progress = bar.add
	fails := &failures{w: a.stderr}
	o.Report = fails.report
	start := time.Now()
	sum, err := backup.Restore(ctx, repo, sn, sub, target, o)
	bar.done(err == nil)
	if a.json {
		if e := a.emit(map[string]any{"message_type": "summary", "snapshot_id": sn.ID.String(), "files_restored": sum.Files,
			"dirs_restored": sum.Dirs, "symlinks_restored": sum.Symlinks, "hardlinks_restored": sum.HardLinks,
			"bytes_restored": sum.Bytes, "failed": sum.Failed, "seconds_elapsed": time.Since(start).Seconds()}); e != nil {
			return e
		}
		return err
	}
	if sum.Files+sum.Dirs+sum.Symlinks+sum.HardLinks > 0 || err == nil {
		fmt.Fprintf(a.stdout, "restored snapshot %s to %s: %d files (%s), %d folders, %d links\n", sn.ID.Str(), target,
			sum.Files, humanBytes(sum.Bytes), sum.Dirs, sum.Symlinks+sum.HardLinks)
	}
	return err
}

// lsRepo is ls --repo: SNAPSHOT [PATH].
func (a *app) lsRepo(ctx context.Context, rf *repoFlags, args []string, long, recursive bool) error {
	repo, release, err := a.openRepoForReading(ctx, rf)
	if err != nil {
		return err
	}
	defer release()
	sn, err := backup.FindSnapshot(ctx, repo, args[0], "")
	if err != nil {
		return err
	}
	p := "."
	if len(args) > 1 {
		if p, err = treePath(args[1]); err != nil {
			return err
		}
	}
	src := backup.NewSnapshotFS(ctx, repo, sn)
	return src.Walk(p, func(q string, info fs.FileInfo) error {
		if q == p && info.IsDir() {
			return nil
		}
		n := backup.NodeOf(info)
		if a.json {
			if err := a.emit(lsNodeJSON(q, n, info)); err != nil {
				return err
			}
		} else if long {
			line := fmt.Sprintf("%-11s %12d %s /%s", info.Mode().String(), info.Size(), info.ModTime().UTC().Format("2006-01-02 15:04:05"), q)
			if n.LinkTarget != "" {
				line += " -> " + n.LinkTarget
			}
			if _, err := fmt.Fprintln(a.stdout, line); err != nil {
				return err
			}
		} else {
			s := "/" + q
			if info.IsDir() {
				s += "/"
			}
			if _, err := fmt.Fprintln(a.stdout, s); err != nil {
				return err
			}
		}
		if info.IsDir() && !recursive {
			return fs.SkipDir
		}
		return nil
	})
}

type lsNode struct {
	Name        string    `json:"name"`
	Type        string    `json:"type"`
	Path        string    `json:"path"`
	UID         uint32    `json:"uid"`
	GID         uint32    `json:"gid"`
	Size        uint64    `json:"size,omitempty"`
	Mode        uint32    `json:"mode"`
	Permissions string    `json:"permissions"`
	ModTime     time.Time `json:"mtime"`
	AccessTime  time.Time `json:"atime"`
	ChangeTime  time.Time `json:"ctime"`
	Inode       uint64    `json:"inode,omitempty"`
	LinkTarget  string    `json:"linktarget,omitempty"`
	StructType  string    `json:"struct_type"`
}

func lsNodeJSON(p string, n *restic.Node, info fs.FileInfo) lsNode {
	return lsNode{Name: n.Name, Type: n.Type, Path: "/" + p, UID: n.UID, GID: n.GID, Size: n.Size, Mode: uint32(info.Mode()),
		Permissions: info.Mode().String(), ModTime: n.ModTime, AccessTime: n.AccessTime, ChangeTime: n.ChangeTime,
		Inode: n.Inode, LinkTarget: n.LinkTarget, StructType: "node"}
}

type findMatchJSON struct {
	Snapshot string    `json:"snapshot"`
	Time     time.Time `json:"time"`
	Hostname string    `json:"hostname"`
	Path     string    `json:"path"`
	Type     string    `json:"type"`
	Size     uint64    `json:"size"`
	ModTime  time.Time `json:"mtime"`
}

// findRepo is find --repo: which snapshots hold files matching a glob.
func (a *app) findRepo(ctx context.Context, rf *repoFlags, glob string, ignoreCase bool) error {
	repo, release, err := a.openRepoForReading(ctx, rf)
	if err != nil {
		return err
	}
	defer release()
	var rows []findMatchJSON
	err = backup.Find(ctx, repo, glob, ignoreCase, func(m backup.Match) error {
		j := findMatchJSON{Snapshot: m.Snapshot.ID.String(), Time: m.Snapshot.Time, Hostname: m.Snapshot.Hostname,
			Path: m.Path, Type: m.Node.Type, Size: m.Node.Size, ModTime: m.Node.ModTime}
		if a.json {
			return a.emit(j)
		}
		rows = append(rows, j)
		return nil
	})
	if err != nil || a.json {
		return err
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].Path < rows[j].Path })
	for _, r := range rows {
		size := ""
		if r.Type == restic.NodeTypeFile {
			size = humanBytes(int64(r.Size))
		} else {
			size = r.Type
		}
		fmt.Fprintf(a.stdout, "%s  %s  %-10s  modified %s  %s\n", r.Snapshot[:8], r.Time.Local().Format("2006-01-02 15:04:05"),
			size, r.ModTime.UTC().Format("2006-01-02 15:04:05"), r.Path)
	}
	if len(rows) == 0 {
		return fmt.Errorf("find: no snapshot holds a file named %s", glob)
	}
	return nil
}
