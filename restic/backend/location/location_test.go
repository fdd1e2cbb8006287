package location_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/grainvm/grain/internal/testutil"
	"github.com/grainvm/grain/restic"
	"github.com/grainvm/grain/restic/backend/internal/backendtest"
	"github.com/grainvm/grain/restic/backend/location"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"/srv/repo", "local:/srv/repo"},
		{"local:/srv/repo", "local:/srv/repo"},
		{"relative/repo", "local:relative/repo"},
		{`C:\Users\me\repo`, `local:C:\Users\me\repo`},
		{"sftp:user@host:/srv/restic-repo", "sftp:user@host:/srv/restic-repo"},
		{"sftp:host:repo", "sftp:host:repo"},
		{"sftp:user@domain@host:/r", "sftp:user@domain@host:/r"},
		{"sftp://user@host:2222//srv/repo", "sftp://user@host:2222//srv/repo"},
		{"sftp://user@host/repo", "sftp:user@host:repo"},
		{"sftp:[::1]:/srv/r", "sftp:[::1]:/srv/r"},
		{"sftp://[::1]:22//r", "sftp://[::1]:22//r"},
		{"rest:http://127.0.0.1:8000", "rest:http://127.0.0.1:8000/"},
		{"rest:https://u:secret@host/r/", "rest:https://u:xxxxx@host/r/"},
		{"s3:s3.amazonaws.com/bucket/prefix", "s3:s3.amazonaws.com/bucket/prefix"},
		{"s3:https://h:9000/b/p", "s3:h:9000/b/p"},
		{"s3:http://127.0.0.1:9000/b", "s3:http://127.0.0.1:9000/b"},
	} {
		l, err := location.Parse(tc.in)
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		if got := l.String(); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.in, got, tc.want)
		}
	}
	for _, tc := range []struct{ in, err string }{
		{"", "empty"},
		{"b2:bucket:path", "not supported"},
		{"rclone:remote:path", "not supported"},
		{"sftp:host:~/repo", "~"},
		{"sftp:host", "invalid location"},
		{"sftp://host", "no directory"},
		{"sftp:-oProxyCommand=x:/r", "ssh option"},
		{"rest:ftp://h/", "scheme"},
		{"s3:host", "bucket"},
		{"local:", "no directory"},
	} {
		_, err := location.Parse(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: err = %v, want %q", tc.in, err, tc.err)
		}
	}
}

// TestLocal: local paths go to restic's local backend, without a retry
// wrapper.
func TestLocal(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "repo")
	be, err := location.Create(context.Background(), dir, location.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := be.(*restic.LocalBackend); !ok {
		t.Fatalf("backend is %T", be)
	}
	backendtest.WriteSnapshot(t, be)
	be, err = location.Open(context.Background(), "local:"+dir, location.Options{})
	if err != nil {
		t.Fatal(err)
	}
	backendtest.Compare(t, "local", backendtest.ReadSnapshot(t, be), prefixed(backendtest.Files(), "data/"))
	if err := location.Close(be); err != nil {
		t.Fatal(err)
	}
}

// TestSFTP reaches OpenSSH's sftp-server through an sftp: location.
func TestSFTP(t *testing.T) {
	const server = "/usr/lib/openssh/sftp-server"
	if _, err := os.Stat(server); err != nil {
		testutil.Unavailable(t, "OpenSSH's sftp-server: %v", err)
	}
	dir := filepath.Join(t.TempDir(), "repo")
	opts := location.Options{SFTPCommand: []string{server}}
	be, err := location.Create(context.Background(), "sftp:localhost:"+dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer location.Close(be)
	backendtest.Conformance(t, be)
}

func prefixed(m map[string][]byte, p string) map[string][]byte {
	out := map[string][]byte{}
	for k, v := range m {
		out[p+k] = v
	}
	return out
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"/srv/repo", "local:/x", `C:\r`, "sftp:user@host:/srv/r", "sftp://u@h:22//abs", "sftp://h/rel",
		"sftp:[::1]:/r", "sftp:a@b@c:/d", "rest:http://127.0.0.1:8000", "rest:https://u:p@h/r/",
		"s3:s3.amazonaws.com/bucket/prefix", "s3:http://127.0.0.1:9000/b/p", "s3://h/b", "b2:b:p", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > 4096 {
			return
		}
		l, err := location.Parse(s)
		if err != nil {
			return
		}
		out := l.String()
		if l.Scheme == "sftp" && (strings.HasPrefix(l.SFTP.Host, "-") || strings.HasPrefix(l.SFTP.User, "-")) {
			t.Fatalf("%q: host or user taken as an ssh option", s)
		}
		if l.Scheme == "sftp" && l.SFTP.Host == "" {
			t.Fatalf("%q: sftp location without host", s)
		}
		// the canonical form parses to the same location
		l2, err := location.Parse(out)
		if err != nil {
			t.Fatalf("%q → %q: %v", s, out, err)
		}
		if out2 := l2.String(); out2 != out {
			t.Fatalf("%q → %q → %q", s, out, out2)
		}
	})
}
