// Package s3 stores a restic repository in an S3 bucket through
// github.com/minio/minio-go/v7, laid out as restic lays it out (restic's
// "default" layout: PREFIX/config, PREFIX/keys/ID, …, PREFIX/data/XX/ID).
//
// Locations are restic's: s3:https://host[:port]/bucket[/prefix] and
// s3:http://… (the endpoint is the URL's host; plain HTTP only when the
// URL says http), and s3:host[:port]/bucket[/prefix] or s3://host/… (HTTPS).
// Credentials come from Config or, as restic takes them, from
// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN and the region
// from AWS_DEFAULT_REGION (Config.FromEnv); without them minio-go's chain
// (MinIO variables, credential files, EC2 role) is tried.
//
// minio-go's own retries are turned off: the retry package does that job.
// A missing key wraps fs.ErrNotExist; 4xx answers other than 408 and 429,
// and refused credentials, are permanent errors.
package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"
	"unicode"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/grainvm/grain/restic"
	"github.com/grainvm/grain/restic/backend/layout"
)

// Config says where the repository is and how to sign requests.
type Config struct {
	Endpoint string // host[:port]
	UseHTTP  bool   // plain HTTP instead of HTTPS
	Bucket   string
	Prefix   string // folder in the bucket, without slashes at either end
	Region   string

	KeyID, Secret, SessionToken string

	// BucketLookup is "auto" (default), "path" or "dns", as restic's
	// -o s3.bucket-lookup.
	BucketLookup string
	// Transport makes the requests (default: http.DefaultTransport's
	// settings).
	Transport http.RoundTripper
}

// ParseConfig parses restic's s3 locations.
func ParseConfig(s string) (Config, error) {
	var endpoint, rest string
	useHTTP := false
	switch {
	case strings.HasPrefix(s, "s3:http"):
		u, err := url.Parse(s[len("s3:"):])
		if err != nil {
			return Config{}, fmt.Errorf("s3: %w", err)
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			return Config{}, fmt.Errorf("s3: URL scheme %q is not http or https", u.Scheme)
		}
		if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return Config{}, errors.New("s3: URL must not have user, query or fragment")
		}
		if u.Path == "" || u.Path == "/" {
			return Config{}, errors.New("s3: bucket name not found in location")
		}
		endpoint, rest, useHTTP = u.Host, u.Path[1:], u.Scheme == "http"
	case strings.HasPrefix(s, "s3://"):
		endpoint, rest, _ = strings.Cut(s[len("s3://"):], "/")
	case strings.HasPrefix(s, "s3:"):
		endpoint, rest, _ = strings.Cut(s[len("s3:"):], "/")
	default:
		return Config{}, errors.New(`s3: location does not start with "s3:"`)
	}
	bucket, prefix, _ := strings.Cut(rest, "/")
	if endpoint == "" || bucket == "" {
		return Config{}, errors.New("s3: invalid location, endpoint or bucket name not found")
	}
	if u, err := url.Parse("http://" + endpoint + "/"); err != nil || u.Host != endpoint || u.User != nil {
		return Config{}, fmt.Errorf("s3: invalid endpoint %q", endpoint)
	}
	if strings.ContainsFunc(bucket+prefix, unicode.IsControl) {
		return Config{}, errors.New("s3: control character in bucket or prefix")
	}
	if prefix != "" {
		prefix = path.Clean(prefix)
		prefix = strings.Trim(prefix, "/")
		if prefix == "." {
			prefix = ""
		}
		for _, el := range strings.Split(prefix, "/") {
			if el == ".." {
				return Config{}, fmt.Errorf("s3: prefix %q leaves the bucket", prefix)
			}
		}
	}
	return Config{Endpoint: endpoint, UseHTTP: useHTTP, Bucket: bucket, Prefix: prefix}, nil
}

// FromEnv fills the credentials and region that are not set from the
// variables restic reads (getenv is os.Getenv or a test's stand-in).
func (c *Config) FromEnv(getenv func(string) string) {
	if c.KeyID == "" && c.Secret == "" {
		c.KeyID = getenv("AWS_ACCESS_KEY_ID")
		c.Secret = getenv("AWS_SECRET_ACCESS_KEY")
		c.SessionToken = getenv("AWS_SESSION_TOKEN")
	}
	if c.Region == "" {
		c.Region = getenv("AWS_DEFAULT_REGION")
	}
}

// Backend is a repository in an S3 bucket.
type Backend struct {
	cfg    Config
	client *minio.Client
}

// Error is an S3 error answer or a failed request.
type Error struct {
	Op         string
	StatusCode int    // 0 when no answer came
	Code       string // S3 error code, e.g. NoSuchKey, AccessDenied
	Err        error
}

func (e *Error) Error() string { return "s3: " + e.Op + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Is makes NoSuchKey match fs.ErrNotExist.
func (e *Error) Is(target error) bool {
	switch target {
	case fs.ErrNotExist:
		return e.Code == "NoSuchKey" || (e.StatusCode == http.StatusNotFound && e.Code == "")
	case fs.ErrPermission:
		return e.Code == "AccessDenied" || e.StatusCode == http.StatusForbidden
	}
	return false
}

// Permanent reports whether retrying cannot help.
func (e *Error) Permanent() bool {
	switch e.Code {
	case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "NoSuchBucket", "InvalidBucketName", "InvalidArgument":
		return true
	}
	c := e.StatusCode
	return c >= 400 && c < 500 && c != http.StatusRequestTimeout && c != http.StatusTooManyRequests
}

func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	var er minio.ErrorResponse
	if errors.As(err, &er) && (er.StatusCode != 0 || er.Code != "") {
		return &Error{Op: op, StatusCode: er.StatusCode, Code: er.Code, Err: err}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("s3: %s: %w", op, err)
	}
	return &Error{Op: op, Err: err}
}

type permanent struct{ error }

func (p permanent) Permanent() bool { return true }
func (p permanent) Unwrap() error   { return p.error }

// Open makes the client; it sends no request.
func Open(ctx context.Context, cfg Config) (*Backend, error) {
	if cfg.KeyID == "" && cfg.Secret != "" {
		return nil, errors.New("s3: key ID ($AWS_ACCESS_KEY_ID) is empty but a secret is set")
	}
	if cfg.KeyID != "" && cfg.Secret == "" {
		return nil, errors.New("s3: secret ($AWS_SECRET_ACCESS_KEY) is empty but a key ID is set")
	}
	var creds *credentials.Credentials
	if cfg.KeyID != "" {
		creds = credentials.NewStaticV4(cfg.KeyID, cfg.Secret, cfg.SessionToken)
	} else {
		creds = credentials.NewChainCredentials([]credentials.Provider{
			&credentials.EnvMinio{},
			&credentials.FileAWSCredentials{},
			&credentials.FileMinioClient{},
			&credentials.IAM{Client: &http.Client{Transport: http.DefaultTransport}},
		})
	}
	opts := &minio.Options{
		Creds:      creds,
		Secure:     !cfg.UseHTTP,
		Region:     cfg.Region,
		Transport:  cfg.Transport,
		MaxRetries: 1, // retries are the retry package's job
	}
	switch strings.ToLower(cfg.BucketLookup) {
	case "", "auto":
		opts.BucketLookup = minio.BucketLookupAuto
	case "dns":
		opts.BucketLookup = minio.BucketLookupDNS
	case "path":
		opts.BucketLookup = minio.BucketLookupPath
	default:
		return nil, fmt.Errorf("s3: bucket lookup %q is not auto, path or dns", cfg.BucketLookup)
	}
	if opts.Transport == nil {
		opts.Transport = http.DefaultTransport.(*http.Transport).Clone()
	}
	c, err := minio.New(cfg.Endpoint, opts)
	if err != nil {
		return nil, fmt.Errorf("s3: %w", err)
	}
	return &Backend{cfg: cfg, client: c}, nil
}

// Create opens the bucket, making it when it does not exist (as restic
// does; a refused existence check counts as existing), and refuses a
// location that already holds a config file.
func Create(ctx context.Context, cfg Config) (*Backend, error) {
	b, err := Open(ctx, cfg)
	if err != nil {
		return nil, err
	}
	found, err := b.client.BucketExists(ctx, cfg.Bucket)
	if err != nil {
		var er minio.ErrorResponse
		if errors.As(err, &er) && er.Code == "AccessDenied" {
			found, err = true, nil
		}
	}
	if err != nil {
		return nil, wrap("bucket "+cfg.Bucket, err)
	}
	if !found {
		if err := b.client.MakeBucket(ctx, cfg.Bucket, minio.MakeBucketOptions{Region: cfg.Region}); err != nil {
			return nil, wrap("make bucket "+cfg.Bucket, err)
		}
	}
	_, err = b.Stat(ctx, restic.Handle{Type: restic.ConfigFile})
	if err == nil {
		return nil, permanent{fmt.Errorf("s3: %s: config file already exists", b.Location())}
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	return b, nil
}

// Location is bucket/prefix.
func (b *Backend) Location() string { return path.Join(b.cfg.Bucket, b.cfg.Prefix) }

func (b *Backend) key(h restic.Handle) (string, error) {
	k, err := layout.Filename(b.cfg.Prefix, h)
	if err != nil {
		return "", permanent{fmt.Errorf("s3: %w", err)}
	}
	return k, nil
}

// Save uploads the file with its MD5 (single PUT for files below 200 MiB).
func (b *Backend) Save(ctx context.Context, h restic.Handle, data []byte) error {
	k, err := b.key(h)
	if err != nil {
		return err
	}
	opts := minio.PutObjectOptions{ContentType: "application/octet-stream", SendContentMd5: true, PartSize: 200 << 20}
	info, err := b.client.PutObject(ctx, b.cfg.Bucket, k, bytes.NewReader(data), int64(len(data)), opts)
	if err != nil {
		return wrap("save "+h.String(), err)
	}
	if info.Size != int64(len(data)) {
		return fmt.Errorf("s3: save %v: stored %d bytes, not %d", h, info.Size, len(data))
	}
	return nil
}

// Load fetches a range of the object.
func (b *Backend) Load(ctx context.Context, h restic.Handle, offset int64, length int) (io.ReadCloser, error) {
	if offset < 0 || length < 0 {
		return nil, permanent{fmt.Errorf("s3: load %v: invalid range offset %d length %d", h, offset, length)}
	}
	k, err := b.key(h)
	if err != nil {
		return nil, err
	}
	opts := minio.GetObjectOptions{}
	if length > 0 {
		err = opts.SetRange(offset, offset+int64(length)-1)
	} else if offset > 0 {
		err = opts.SetRange(offset, 0)
	}
	if err != nil {
		return nil, permanent{fmt.Errorf("s3: load %v: %w", h, err)}
	}
	core := minio.Core{Client: b.client}
	rc, _, _, err := core.GetObject(ctx, b.cfg.Bucket, k, opts)
	if err != nil {
		return nil, wrap("load "+h.String(), err)
	}
	if length > 0 {
		return limitReadCloser{io.LimitReader(rc, int64(length)), rc}, nil
	}
	return rc, nil
}

type limitReadCloser struct {
	io.Reader
	c io.Closer
}

func (l limitReadCloser) Close() error { return l.c.Close() }

// Stat asks for the object's size (HEAD).
func (b *Backend) Stat(ctx context.Context, h restic.Handle) (restic.FileInfo, error) {
	k, err := b.key(h)
	if err != nil {
		return restic.FileInfo{}, err
	}
	oi, err := b.client.StatObject(ctx, b.cfg.Bucket, k, minio.StatObjectOptions{})
	if err != nil {
		return restic.FileInfo{}, wrap("stat "+h.String(), err)
	}
	return restic.FileInfo{Name: h.Name, Size: oi.Size}, nil
}

// Remove deletes the object (S3 reports success for a missing key).
func (b *Backend) Remove(ctx context.Context, h restic.Handle) error {
	k, err := b.key(h)
	if err != nil {
		return err
	}
	return wrap("remove "+h.String(), b.client.RemoveObject(ctx, b.cfg.Bucket, k, minio.RemoveObjectOptions{}))
}

// List calls fn for each object of type t (recursively below data/ for
// packs).
func (b *Backend) List(ctx context.Context, t restic.FileType, fn func(restic.FileInfo) error) error {
	if t == restic.ConfigFile {
		fi, err := b.Stat(ctx, restic.Handle{Type: restic.ConfigFile})
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		} else if err != nil {
			return err
		}
		fi.Name = "config"
		return fn(fi)
	}
	if t.Dir() == "" {
		return permanent{fmt.Errorf("s3: list: unknown file type %v", t)}
	}
	prefix := layout.Dir(b.cfg.Prefix, t) + "/"
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops minio's listing goroutine
	for obj := range b.client.ListObjects(ctx, b.cfg.Bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: t == restic.PackFile}) {
		if obj.Err != nil {
			return wrap("list "+t.String(), obj.Err)
		}
		m := strings.TrimPrefix(obj.Key, prefix)
		if m == "" || strings.HasSuffix(m, "/") {
			continue
		}
		name := path.Base(m)
		if obj.Size < 0 || layout.IsTemp(name) || layout.CheckName(restic.Handle{Type: t, Name: name}) != nil {
			continue
		}
		if err := fn(restic.FileInfo{Name: name, Size: obj.Size}); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// Close releases nothing; it exists for symmetry with the other backends.
func (b *Backend) Close() error { return nil }

var _ restic.Backend = (*Backend)(nil)
