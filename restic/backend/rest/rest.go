// Package rest stores a restic repository on a server speaking restic's
// REST backend protocol, version 2 (rest-server, `rclone serve restic`):
//
//	POST   /?create=true      create the repository
//	HEAD   /config, /TYPE/ID  size (Content-Length)
//	GET    /config, /TYPE/ID  content, with a Range header for parts
//	POST   /config, /TYPE/ID  upload
//	DELETE /TYPE/ID           remove
//	GET    /TYPE/             list; with Accept: application/vnd.x.restic.rest.v2
//	                          a JSON array of {"name","size"}
//
// TYPE is data, keys, locks, snapshots or index; packs are addressed as
// data/ID (the server keeps them in data/XX/ID). Locations are restic's:
// rest:http://host:port/path/ and rest:https://user:pass@host/path/.
// Version 1 list answers (a JSON array of names) are accepted too.
//
// HTTP status 404 wraps fs.ErrNotExist; other 4xx answers (except 408 and
// 429) are permanent errors for the retry wrapper; 5xx, 408, 429 and
// network errors are transient.
package rest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/grainvm/grain/restic"
	"github.com/grainvm/grain/restic/backend/layout"
)

// Media types of the protocol's list answers.
const (
	ContentTypeV1 = "application/vnd.x.restic.rest.v1"
	ContentTypeV2 = "application/vnd.x.restic.rest.v2"
)

// Config says where the repository is.
type Config struct {
	// URL of the repository, ending in a slash; user and password in it
	// are sent as HTTP basic authentication.
	URL *url.URL
	// Username and Password override the URL's (restic takes them from
	// RESTIC_REST_USERNAME and RESTIC_REST_PASSWORD).
	Username, Password string
	// Client makes the requests (default: a client with
	// http.DefaultTransport's settings).
	Client *http.Client
}

// ParseConfig parses restic's "rest:URL" location. As restic does, a slash
// is added to the URL's end when missing.
func ParseConfig(s string) (Config, error) {
	rest, ok := strings.CutPrefix(s, "rest:")
	if !ok {
		return Config{}, errors.New(`rest: location does not start with "rest:"`)
	}
	if !strings.HasSuffix(rest, "/") {
		rest += "/"
	}
	u, err := url.Parse(rest)
	if err != nil {
		return Config{}, fmt.Errorf("rest: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return Config{}, fmt.Errorf("rest: URL scheme %q is not http or https", u.Scheme)
	}
	if u.Host == "" {
		return Config{}, errors.New("rest: URL has no host")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return Config{}, errors.New("rest: URL must not have a query or fragment")
	}
	return Config{URL: u}, nil
}

// Backend is a repository on a REST server.
type Backend struct {
	base       *url.URL // without user info
	user, pass string
	auth       bool
	client     *http.Client
}

// StatusError is an HTTP answer other than success.
type StatusError struct {
	Method, URL string
	StatusCode  int
	Status      string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s %s: %s", e.Method, e.URL, e.Status)
}

// Is makes 404 match fs.ErrNotExist and 401/403 fs.ErrPermission.
func (e *StatusError) Is(target error) bool {
	switch target {
	case fs.ErrNotExist:
		return e.StatusCode == http.StatusNotFound
	case fs.ErrPermission:
		return e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusForbidden
	}
	return false
}

// Permanent reports whether retrying cannot help: client errors other
// than 408 (timeout) and 429 (too many requests).
func (e *StatusError) Permanent() bool {
	c := e.StatusCode
	return c >= 400 && c < 500 && c != http.StatusRequestTimeout && c != http.StatusTooManyRequests
}

// permanent marks local mistakes (bad names, bad ranges).
type permanent struct{ error }

func (p permanent) Permanent() bool { return true }
func (p permanent) Unwrap() error   { return p.error }

// Open uses an existing repository. It sends no request.
func Open(ctx context.Context, cfg Config) (*Backend, error) {
	if cfg.URL == nil {
		return nil, errors.New("rest: no URL")
	}
	u := *cfg.URL
	b := &Backend{client: cfg.Client}
	if u.User != nil {
		b.user = u.User.Username()
		b.pass, _ = u.User.Password()
		b.auth = true
		u.User = nil
	}
	if cfg.Username != "" || cfg.Password != "" {
		b.user, b.pass, b.auth = cfg.Username, cfg.Password, true
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
		if u.RawPath != "" {
			u.RawPath += "/"
		}
	}
	b.base = &u
	if b.client == nil {
		b.client = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	return b, nil
}

// Create makes a new repository: it refuses a location that has a config
// file, then asks the server to create the repository (POST /?create=true).
func Create(ctx context.Context, cfg Config) (*Backend, error) {
	b, err := Open(ctx, cfg)
	if err != nil {
		return nil, err
	}
	_, err = b.Stat(ctx, restic.Handle{Type: restic.ConfigFile})
	if err == nil {
		return nil, permanent{fmt.Errorf("rest: %s: config file already exists", b.base.Redacted())}
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	u := *b.base
	u.RawQuery = "create=true"
	resp, err := b.do(ctx, http.MethodPost, &u, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("rest: create repository: %w", err)
	}
	drain(resp)
	return b, nil
}

// URL returns the repository's URL without user information.
func (b *Backend) URL() string { return b.base.String() }

func (b *Backend) fileURL(h restic.Handle) (*url.URL, error) {
	if err := layout.CheckName(h); err != nil {
		return nil, permanent{fmt.Errorf("rest: %w", err)}
	}
	name := "config"
	if h.Type != restic.ConfigFile {
		name = h.Type.Dir() + "/" + url.PathEscape(h.Name)
	}
	return b.base.Parse(name)
}

// do sends a request and returns the response when its status is 2xx.
func (b *Backend) do(ctx context.Context, method string, u *url.URL, body []byte, hdr http.Header) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, permanent{err}
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("Accept", ContentTypeV2)
	if body != nil {
		req.ContentLength = int64(len(body))
		req.Header.Set("Content-Type", "application/octet-stream")
	}
	if b.auth {
		req.SetBasicAuth(b.user, b.pass)
	}
	resp, err := b.client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		drain(resp)
		return nil, &StatusError{Method: method, URL: u.Redacted(), StatusCode: resp.StatusCode, Status: resp.Status}
	}
	return resp, nil
}

// drain reads a little of the body so the connection can be reused.
func drain(resp *http.Response) {
	io.CopyN(io.Discard, resp.Body, 64<<10)
	resp.Body.Close()
}

// Save uploads a file.
func (b *Backend) Save(ctx context.Context, h restic.Handle, data []byte) error {
	u, err := b.fileURL(h)
	if err != nil {
		return err
	}
	resp, err := b.do(ctx, http.MethodPost, u, data, nil)
	if err != nil {
		return fmt.Errorf("rest: save %v: %w", h, err)
	}
	drain(resp)
	return nil
}

type bodyReader struct {
	io.Reader
	c io.Closer
}

func (r bodyReader) Close() error { return r.c.Close() }

// Load fetches a range of a file (Range: bytes=OFF-END).
func (b *Backend) Load(ctx context.Context, h restic.Handle, offset int64, length int) (io.ReadCloser, error) {
	if offset < 0 || length < 0 {
		return nil, permanent{fmt.Errorf("rest: load %v: invalid range offset %d length %d", h, offset, length)}
	}
	u, err := b.fileURL(h)
	if err != nil {
		return nil, err
	}
	hdr := http.Header{}
	if length > 0 {
		hdr.Set("Range", fmt.Sprintf("bytes=%d-%d", offset, offset+int64(length)-1))
	} else if offset > 0 {
		hdr.Set("Range", fmt.Sprintf("bytes=%d-", offset))
	}
	resp, err := b.do(ctx, http.MethodGet, u, nil, hdr)
	if err != nil {
		return nil, fmt.Errorf("rest: load %v: %w", h, err)
	}
	var rd io.Reader = resp.Body
	if resp.StatusCode != http.StatusPartialContent && offset > 0 {
		// the server sent the whole file: skip to the offset
		if _, err := io.CopyN(io.Discard, resp.Body, offset); err != nil {
			resp.Body.Close()
			return nil, fmt.Errorf("rest: load %v: skipping to offset %d: %w", h, offset, err)
		}
	}
	if length > 0 {
		rd = io.LimitReader(rd, int64(length))
	}
	return bodyReader{rd, resp.Body}, nil
}

// Stat asks for the size with HEAD.
func (b *Backend) Stat(ctx context.Context, h restic.Handle) (restic.FileInfo, error) {
	u, err := b.fileURL(h)
	if err != nil {
		return restic.FileInfo{}, err
	}
	resp, err := b.do(ctx, http.MethodHead, u, nil, nil)
	if err != nil {
		return restic.FileInfo{}, fmt.Errorf("rest: stat %v: %w", h, err)
	}
	drain(resp)
	if resp.ContentLength < 0 {
		return restic.FileInfo{}, fmt.Errorf("rest: stat %v: server sent no Content-Length", h)
	}
	return restic.FileInfo{Name: h.Name, Size: resp.ContentLength}, nil
}

// Remove deletes a file.
func (b *Backend) Remove(ctx context.Context, h restic.Handle) error {
	u, err := b.fileURL(h)
	if err != nil {
		return err
	}
	resp, err := b.do(ctx, http.MethodDelete, u, nil, nil)
	if err != nil {
		return fmt.Errorf("rest: remove %v: %w", h, err)
	}
	drain(resp)
	return nil
}

// List streams the server's list answer, one entry at a time.
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
		return permanent{fmt.Errorf("rest: list: unknown file type %v", t)}
	}
	u, err := b.base.Parse(t.Dir() + "/")
	if err != nil {
		return permanent{err}
	}
	resp, err := b.do(ctx, http.MethodGet, u, nil, nil)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // folder not there: nothing to list
	}
	if err != nil {
		return fmt.Errorf("rest: list %v: %w", t, err)
	}
	defer resp.Body.Close()
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	v2 := mt == ContentTypeV2
	dec := json.NewDecoder(resp.Body)
	if tok, err := dec.Token(); err != nil {
		return fmt.Errorf("rest: list %v: %w", t, err)
	} else if d, ok := tok.(json.Delim); !ok || d != '[' {
		return permanent{fmt.Errorf("rest: list %v: answer is not a JSON array", t)}
	}
	for dec.More() {
		var fi restic.FileInfo
		if v2 {
			var e struct {
				Name string `json:"name"`
				Size int64  `json:"size"`
			}
			if err := dec.Decode(&e); err != nil {
				return fmt.Errorf("rest: list %v: %w", t, err)
			}
			fi = restic.FileInfo{Name: e.Name, Size: e.Size}
		} else {
			var name string
			if err := dec.Decode(&name); err != nil {
				return fmt.Errorf("rest: list %v: %w", t, err)
			}
			if layout.CheckName(restic.Handle{Type: t, Name: name}) != nil {
				continue
			}
			fi, err = b.Stat(ctx, restic.Handle{Type: t, Name: name})
			if errors.Is(err, fs.ErrNotExist) {
				continue
			} else if err != nil {
				return err
			}
		}
		if fi.Size < 0 || layout.CheckName(restic.Handle{Type: t, Name: fi.Name}) != nil || layout.IsTemp(fi.Name) {
			continue
		}
		if err := fn(fi); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil {
		return fmt.Errorf("rest: list %v: %w", t, err)
	}
	return nil
}

// Close releases idle connections.
func (b *Backend) Close() error {
	b.client.CloseIdleConnections()
	return nil
}

var _ restic.Backend = (*Backend)(nil)

// String is the location without the password.
func (b *Backend) String() string { return "rest:" + b.base.String() }
