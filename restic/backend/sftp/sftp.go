// Package sftp stores a restic repository on an SFTP server, reached as
// restic reaches it: by running the system's ssh program (or a command of
// the caller's choice, restic's -o sftp.command) and speaking SFTP over its
// standard input and output with github.com/pkg/sftp. The user's ssh
// configuration, keys and agent work as they do for restic.
//
// Locations are restic's: sftp:[user@]host:path and
// sftp://[user@]host[:port]/path, where in the URL form the path is the
// part after the first slash following the host, so sftp://host//srv/repo
// is the absolute path /srv/repo and sftp://host/repo is repo relative to
// the login folder. Paths starting with "~" are refused, as restic does.
//
// The layout is restic's default one (config, keys/, locks/, snapshots/,
// index/, data/XX/); Create makes all folders with mode 0700. Save writes
// NAME-restic-temp-RANDOM, renames it into place (posix-rename@openssh.com
// when the server has it) and makes the file read-only.
package sftp

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/pkg/sftp"

	"github.com/grainvm/grain/restic"
	"github.com/grainvm/grain/restic/backend/layout"
)

// Config says where the repository is and how to reach it.
type Config struct {
	User, Host, Port string
	// Path of the repository on the server (relative paths are relative to
	// the folder the server starts in, usually the login's home).
	Path string
	// Command replaces the ssh command line entirely (restic's
	// -o sftp.command); the program must speak SFTP on stdin/stdout.
	Command []string
	// Args are added to the default ssh command line (restic's
	// -o sftp.args).
	Args []string
	// Stderr receives the command's standard error as well (nil: only the
	// last few KiB are kept, for error messages).
	Stderr io.Writer
}

// ParseConfig parses restic's sftp locations.
func ParseConfig(s string) (Config, error) {
	var cfg Config
	var dir string
	switch {
	case strings.HasPrefix(s, "sftp://"):
		u, err := url.Parse(s)
		if err != nil {
			return Config{}, fmt.Errorf("sftp: %w", err)
		}
		if u.User != nil {
			cfg.User = u.User.Username()
		}
		cfg.Host, cfg.Port = u.Hostname(), u.Port()
		if u.Path == "" {
			return Config{}, fmt.Errorf("sftp: location %q names no directory", s)
		}
		dir = u.Path[1:]
	case strings.HasPrefix(s, "sftp:"):
		rest := s[len("sftp:"):]
		var host string
		var ok bool
		head := rest
		if i := strings.IndexByte(rest, ':'); i >= 0 {
			head = rest[:i]
		}
		if strings.HasPrefix(head, "[") || strings.Contains(head, "@[") {
			// [IPv6]:path, with or without user@ (an extension of
			// restic's form, which cuts at the first colon)
			end := strings.Index(rest, "]:")
			if end < 0 {
				return Config{}, errors.New("sftp: invalid location, expected sftp:[user@]host:path")
			}
			host, dir, ok = rest[:end+1], rest[end+2:], true
		} else {
			host, dir, ok = strings.Cut(rest, ":")
		}
		if !ok {
			return Config{}, errors.New("sftp: invalid location, expected sftp:[user@]host:path")
		}
		// user names may hold "@" once (user@domain@host), as restic allows
		parts := strings.SplitN(host, "@", 3)
		switch len(parts) {
		case 3:
			cfg.User, host = parts[0]+"@"+parts[1], parts[2]
		case 2:
			cfg.User, host = parts[0], parts[1]
		}
		cfg.Host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	default:
		return Config{}, errors.New(`sftp: location does not start with "sftp:"`)
	}
	if cfg.Host == "" {
		return Config{}, fmt.Errorf("sftp: location %q names no host", s)
	}
	if strings.ContainsAny(cfg.Host, " \t/@%[]") || strings.ContainsFunc(cfg.Host+cfg.User, unicode.IsControl) {
		return Config{}, fmt.Errorf("sftp: invalid host name %q", cfg.Host)
	}
	// User names hold at most one "@" (user@domain), never at an end, so
	// that both location forms read them the same way.
	if !utf8.ValidString(cfg.Host+cfg.User) || strings.Count(cfg.User, "@") > 1 || strings.ContainsAny(cfg.User, " \t/[]:%") ||
		strings.HasPrefix(cfg.User, "@") || strings.HasSuffix(cfg.User, "@") {
		return Config{}, fmt.Errorf("sftp: invalid user or host in %q", s)
	}
	// A host with a colon can only be an IPv6 address.
	if strings.Contains(cfg.Host, ":") {
		if _, err := netip.ParseAddr(cfg.Host); err != nil {
			return Config{}, fmt.Errorf("sftp: invalid host name %q: not an IPv6 address", cfg.Host)
		}
	}
	if strings.HasPrefix(cfg.Host, "-") || strings.HasPrefix(cfg.User, "-") {
		return Config{}, fmt.Errorf("sftp: host or user %q would be taken as an ssh option", cfg.User+"@"+cfg.Host)
	}
	p := path.Clean(dir)
	if strings.HasPrefix(p, "~") {
		return Config{}, errors.New("sftp: path starts with ~, which most SFTP servers do not expand; use a path relative to the home folder instead")
	}
	cfg.Path = p
	return cfg, nil
}

// SSHCommand is the command line that Open runs: cfg.Command when set,
// else "ssh host [-p port] [-l user] [args…] -s sftp" as restic builds it.
func (cfg Config) SSHCommand() []string {
	if len(cfg.Command) > 0 {
		return append([]string(nil), cfg.Command...)
	}
	args := []string{"ssh", cfg.Host}
	if cfg.Port != "" {
		args = append(args, "-p", cfg.Port)
	}
	if cfg.User != "" {
		args = append(args, "-l", cfg.User)
	}
	args = append(args, cfg.Args...)
	return append(args, "-s", "sftp")
}

// Backend is a repository on an SFTP server.
type Backend struct {
	cfg     Config
	dir     string
	c       *sftp.Client
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	stderr  *tailBuffer
	exited  chan struct{} // closed when the command has ended
	waitErr error         // set before exited is closed
	posix   bool
	close   sync.Once
}

// tailBuffer keeps the last few KiB written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
	w   io.Writer
}

const tailMax = 4 << 10

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.w != nil {
		t.w.Write(p)
	}
	t.buf = append(t.buf, p...)
	if len(t.buf) > tailMax {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-tailMax:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(bytes.ToValidUTF8(t.buf, []byte("?"))))
}

// permanent marks errors that retrying cannot cure.
type permanent struct{ error }

func (p permanent) Permanent() bool { return true }
func (p permanent) Unwrap() error   { return p.error }

// Open starts the ssh command and uses an existing repository at cfg.Path.
func Open(ctx context.Context, cfg Config) (*Backend, error) {
	argv := cfg.SSHCommand()
	if argv[0] == "" {
		return nil, errors.New("sftp: empty command")
	}
	b := &Backend{cfg: cfg, dir: cfg.Path, stderr: &tailBuffer{w: cfg.Stderr}, exited: make(chan struct{})}
	if b.dir == "" {
		b.dir = "."
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stderr = b.stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("sftp: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("sftp: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, permanent{fmt.Errorf("sftp: starting %s: %w", argv[0], err)}
	}
	b.cmd, b.stdin = cmd, stdin
	go func() {
		b.waitErr = cmd.Wait()
		close(b.exited)
	}()
	type result struct {
		c   *sftp.Client
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, err := sftp.NewClientPipe(stdout, stdin, sftp.UseConcurrentWrites(true), sftp.UseConcurrentReads(true))
		done <- result{c, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			b.kill()
			return nil, permanent{fmt.Errorf("sftp: %s: no SFTP session: %w%s", strings.Join(argv, " "), r.err, b.stderrNote())}
		}
		b.c = r.c
	case <-ctx.Done():
		b.kill()
		return nil, ctx.Err()
	}
	_, b.posix = b.c.HasExtension("posix-rename@openssh.com")
	return b, nil
}

// Create opens the connection, refuses a location with a config file and
// makes the repository's folders (mode 0700).
func Create(ctx context.Context, cfg Config) (*Backend, error) {
	b, err := Open(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if _, err := b.c.Stat(path.Join(b.dir, "config")); err == nil {
		b.Close()
		return nil, permanent{fmt.Errorf("sftp: %s: config file already exists", b.dir)}
	}
	for _, d := range layout.Dirs(b.dir) {
		if err := ctx.Err(); err != nil {
			b.Close()
			return nil, err
		}
		if err := b.c.MkdirAll(d); err != nil {
			b.Close()
			return nil, b.wrap(fmt.Sprintf("create folder %s", d), err)
		}
		if err := b.c.Chmod(d, 0o700); err != nil {
			b.Close()
			return nil, b.wrap(fmt.Sprintf("chmod folder %s", d), err)
		}
	}
	return b, nil
}

func (b *Backend) kill() {
	if b.stdin != nil {
		b.stdin.Close()
	}
	select {
	case <-b.exited:
		return
	case <-time.After(2 * time.Second):
	}
	if b.cmd != nil && b.cmd.Process != nil {
		b.cmd.Process.Kill()
	}
	<-b.exited
}

func (b *Backend) stderrNote() string {
	if s := b.stderr.String(); s != "" {
		return " (ssh said: " + s + ")"
	}
	return ""
}

// wrap adds context and marks errors after the command ended as permanent.
func (b *Backend) wrap(op string, err error) error {
	select {
	case <-b.exited:
		msg := "command ended"
		if b.waitErr != nil {
			msg = "command ended: " + b.waitErr.Error()
		}
		return permanent{fmt.Errorf("sftp: %s: %w (%s)%s", op, err, msg, b.stderrNote())}
	default:
	}
	return fmt.Errorf("sftp: %s: %w", op, err)
}

// Close ends the SFTP session and waits for the command.
func (b *Backend) Close() error {
	var err error
	b.close.Do(func() {
		if b.c != nil {
			err = b.c.Close()
		}
		b.kill()
	})
	return err
}

func (b *Backend) filename(h restic.Handle) (string, error) {
	fn, err := layout.Filename(b.dir, h)
	if err != nil {
		return "", permanent{fmt.Errorf("sftp: %w", err)}
	}
	return fn, nil
}

func tempSuffix() string {
	var r [8]byte
	rand.Read(r[:])
	return "-restic-temp-" + hex.EncodeToString(r[:])
}

// Save writes a temporary file, renames it into place and makes it
// read-only.
func (b *Backend) Save(ctx context.Context, h restic.Handle, data []byte) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	fn, err := b.filename(h)
	if err != nil {
		return err
	}
	tmp := fn + tempSuffix()
	f, err := b.c.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY)
	if errors.Is(err, fs.ErrNotExist) {
		if err := b.c.MkdirAll(path.Dir(fn)); err != nil {
			return b.wrap("save "+h.String()+": create folder", err)
		}
		f, err = b.c.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY)
	}
	if err != nil {
		return b.wrap("save "+h.String(), err)
	}
	defer func() {
		if err != nil {
			f.Close()
			b.c.Remove(tmp)
		}
	}()
	n, err := f.Write(data)
	if err != nil {
		return b.wrap("save "+h.String(), err)
	}
	if n != len(data) {
		return b.wrap("save "+h.String(), io.ErrShortWrite)
	}
	if err = f.Close(); err != nil {
		return b.wrap("save "+h.String(), err)
	}
	if b.posix {
		err = b.c.PosixRename(tmp, fn)
	} else {
		err = b.c.Rename(tmp, fn)
	}
	if err != nil {
		return b.wrap("save "+h.String()+": rename", err)
	}
	fi, serr := b.c.Stat(fn)
	if serr != nil {
		return b.wrap("save "+h.String()+": stat", serr)
	}
	if cerr := b.c.Chmod(fn, fi.Mode().Perm()&^0o222); cerr != nil {
		return b.wrap("save "+h.String()+": chmod", cerr)
	}
	return nil
}

type fileReader struct {
	io.Reader
	f *sftp.File
}

func (r fileReader) Close() error { return r.f.Close() }

// Load opens a range of the file.
func (b *Backend) Load(ctx context.Context, h restic.Handle, offset int64, length int) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if offset < 0 || length < 0 {
		return nil, permanent{fmt.Errorf("sftp: load %v: invalid range offset %d length %d", h, offset, length)}
	}
	fn, err := b.filename(h)
	if err != nil {
		return nil, err
	}
	f, err := b.c.Open(fn)
	if err != nil {
		return nil, b.wrap("load "+h.String(), err)
	}
	if offset > 0 {
		if _, err := f.Seek(offset, io.SeekStart); err != nil {
			f.Close()
			return nil, b.wrap("load "+h.String(), err)
		}
	}
	if length > 0 {
		return fileReader{io.LimitReader(f, int64(length)), f}, nil
	}
	return f, nil
}

// Stat returns the file's size.
func (b *Backend) Stat(ctx context.Context, h restic.Handle) (restic.FileInfo, error) {
	fn, err := b.filename(h)
	if err != nil {
		return restic.FileInfo{}, err
	}
	fi, err := b.c.Stat(fn)
	if err != nil {
		return restic.FileInfo{}, b.wrap("stat "+h.String(), err)
	}
	return restic.FileInfo{Name: h.Name, Size: fi.Size()}, nil
}

// Remove deletes a file.
func (b *Backend) Remove(ctx context.Context, h restic.Handle) error {
	fn, err := b.filename(h)
	if err != nil {
		return err
	}
	if err := b.c.Remove(fn); err != nil {
		return b.wrap("remove "+h.String(), err)
	}
	return nil
}

// List calls fn for each file of type t (for packs, in every data/XX
// folder), skipping folders and unfinished uploads.
func (b *Backend) List(ctx context.Context, t restic.FileType, fn func(restic.FileInfo) error) error {
	if t == restic.ConfigFile {
		fi, err := b.c.Stat(path.Join(b.dir, "config"))
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		} else if err != nil {
			return b.wrap("list config", err)
		}
		return fn(restic.FileInfo{Name: "config", Size: fi.Size()})
	}
	if t.Dir() == "" {
		return permanent{fmt.Errorf("sftp: list: unknown file type %v", t)}
	}
	base := layout.Dir(b.dir, t)
	dirs := []string{base}
	if t == restic.PackFile {
		entries, err := b.c.ReadDirContext(ctx, base)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		} else if err != nil {
			return b.wrap("list "+t.String(), err)
		}
		dirs = dirs[:0]
		for _, e := range entries {
			if e.IsDir() {
				dirs = append(dirs, path.Join(base, e.Name()))
			}
		}
	}
	for _, d := range dirs {
		entries, err := b.c.ReadDirContext(ctx, d)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		} else if err != nil {
			return b.wrap("list "+t.String(), err)
		}
		for _, e := range entries {
			if err := ctx.Err(); err != nil {
				return err
			}
			if !e.Mode().IsRegular() || layout.IsTemp(e.Name()) {
				continue
			}
			if err := fn(restic.FileInfo{Name: e.Name(), Size: e.Size()}); err != nil {
				return err
			}
		}
	}
	return nil
}

var _ restic.Backend = (*Backend)(nil)
