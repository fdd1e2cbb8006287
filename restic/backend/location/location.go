// Package location turns a restic repository location — what restic takes
// in --repo or RESTIC_REPOSITORY — into a backend: a local path (or
// local:PATH), sftp:…, rest:… or s3:…, with restic's syntax for each (see
// the sftp, rest and s3 packages). Locations of restic backends grain does
// not have (b2, azure, gs, swift, rclone) are refused by name; anything
// else without a known scheme is a local path, as in restic (so C:\repo
// stays a Windows path).
//
// Open and Create wrap the network backends in the retry package's
// wrapper.
package location

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"

	"github.com/grainvm/grain/restic"
	"github.com/grainvm/grain/restic/backend/rest"
	"github.com/grainvm/grain/restic/backend/retry"
	"github.com/grainvm/grain/restic/backend/s3"
	"github.com/grainvm/grain/restic/backend/sftp"
)

// Location is a parsed repository location. Exactly the field that
// belongs to Scheme is set.
type Location struct {
	Scheme string // "local", "sftp", "rest" or "s3"
	Local  string // the directory, for "local"
	SFTP   *sftp.Config
	REST   *rest.Config
	S3     *s3.Config
}

// unsupported are restic's other backends.
var unsupported = map[string]bool{"b2": true, "azure": true, "gs": true, "swift": true, "rclone": true, "smb": true}

// Parse parses a repository location.
func Parse(s string) (Location, error) {
	if s == "" {
		return Location{}, errors.New("location: empty repository location")
	}
	scheme, rest0, found := strings.Cut(s, ":")
	if !found {
		return Location{Scheme: "local", Local: s}, nil
	}
	switch scheme {
	case "local":
		if rest0 == "" {
			return Location{}, errors.New("location: local: no directory given")
		}
		return Location{Scheme: "local", Local: rest0}, nil
	case "sftp":
		cfg, err := sftp.ParseConfig(s)
		if err != nil {
			return Location{}, fmt.Errorf("location: %w", err)
		}
		return Location{Scheme: "sftp", SFTP: &cfg}, nil
	case "rest":
		cfg, err := rest.ParseConfig(s)
		if err != nil {
			return Location{}, fmt.Errorf("location: %w", err)
		}
		return Location{Scheme: "rest", REST: &cfg}, nil
	case "s3":
		cfg, err := s3.ParseConfig(s)
		if err != nil {
			return Location{}, fmt.Errorf("location: %w", err)
		}
		return Location{Scheme: "s3", S3: &cfg}, nil
	}
	if unsupported[scheme] {
		return Location{}, fmt.Errorf("location: restic's %s backend is not supported by grain (use local, sftp, rest or s3)", scheme)
	}
	return Location{Scheme: "local", Local: s}, nil
}

// String gives the location back in restic's syntax, without passwords.
func (l Location) String() string {
	switch l.Scheme {
	case "local":
		return "local:" + l.Local
	case "sftp":
		if l.SFTP == nil {
			break
		}
		host := l.SFTP.Host
		if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
		if l.SFTP.Port == "" {
			// restic's short form: sftp:[user@]host:path
			user := ""
			if l.SFTP.User != "" {
				user = l.SFTP.User + "@"
			}
			return "sftp:" + user + host + ":" + l.SFTP.Path
		}
		u := url.URL{Scheme: "sftp", Host: host + ":" + l.SFTP.Port, Path: "/" + l.SFTP.Path}
		if l.SFTP.User != "" {
			u.User = url.User(l.SFTP.User)
		}
		return u.String()
	case "rest":
		if l.REST == nil || l.REST.URL == nil {
			break
		}
		return "rest:" + l.REST.URL.Redacted()
	case "s3":
		if l.S3 == nil {
			break
		}
		p := l.S3.Bucket
		if l.S3.Prefix != "" {
			p += "/" + l.S3.Prefix
		}
		if !l.S3.UseHTTP {
			return "s3:" + l.S3.Endpoint + "/" + p
		}
		u := url.URL{Scheme: "http", Host: l.S3.Endpoint, Path: "/" + p}
		return "s3:" + u.String()
	}
	return l.Scheme + ":?"
}

// Options tune Open and Create.
type Options struct {
	// SFTPCommand replaces the ssh command line (restic's -o sftp.command);
	// SFTPArgs are added to ssh's (-o sftp.args).
	SFTPCommand, SFTPArgs []string
	// Getenv reads AWS_* and RESTIC_REST_* settings (default os.Getenv).
	Getenv func(string) string
	// Retry is the retry policy for network backends (zero: the default).
	Retry retry.Policy
	// NoRetry turns the retry wrapper off.
	NoRetry bool
}

// Open uses an existing repository at the location.
func Open(ctx context.Context, s string, opts Options) (restic.Backend, error) {
	return open(ctx, s, opts, false)
}

// Create makes a new repository's place at the location (folders, bucket
// or the REST server's repository); restic.Init then writes its files.
func Create(ctx context.Context, s string, opts Options) (restic.Backend, error) {
	return open(ctx, s, opts, true)
}

// Close closes a backend that Open or Create returned (ending an SFTP
// session); it does nothing for backends that hold no resources.
func Close(be restic.Backend) error {
	if c, ok := be.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

func open(ctx context.Context, s string, opts Options, create bool) (restic.Backend, error) {
	loc, err := Parse(s)
	if err != nil {
		return nil, err
	}
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	var be restic.Backend
	switch loc.Scheme {
	case "local":
		if create {
			return restic.CreateLocal(loc.Local)
		}
		return restic.OpenLocal(loc.Local)
	case "sftp":
		cfg := *loc.SFTP
		cfg.Command, cfg.Args = opts.SFTPCommand, opts.SFTPArgs
		if create {
			be, err = sftp.Create(ctx, cfg)
		} else {
			be, err = sftp.Open(ctx, cfg)
		}
	case "rest":
		cfg := *loc.REST
		if u := getenv("RESTIC_REST_USERNAME"); u != "" {
			cfg.Username = u
		}
		if p := getenv("RESTIC_REST_PASSWORD"); p != "" {
			cfg.Password = p
		}
		if create {
			be, err = retryCreate(ctx, opts, "create "+loc.String(), func() (restic.Backend, error) { return rest.Create(ctx, cfg) })
		} else {
			be, err = rest.Open(ctx, cfg)
		}
	case "s3":
		cfg := *loc.S3
		cfg.FromEnv(getenv)
		if create {
			be, err = retryCreate(ctx, opts, "create "+loc.String(), func() (restic.Backend, error) { return s3.Create(ctx, cfg) })
		} else {
			be, err = s3.Open(ctx, cfg)
		}
	default:
		return nil, fmt.Errorf("location: unknown scheme %q", loc.Scheme)
	}
	if err != nil {
		return nil, err
	}
	if opts.NoRetry {
		return be, nil
	}
	return retry.Wrap(be, opts.Retry), nil
}

// retryCreate retries the requests a network backend's Create makes.
func retryCreate(ctx context.Context, opts Options, op string, fn func() (restic.Backend, error)) (restic.Backend, error) {
	if opts.NoRetry {
		return fn()
	}
	var be restic.Backend
	err := retry.Do(ctx, opts.Retry, op, func() error {
		var err error
		be, err = fn()
		return err
	})
	return be, err
}
