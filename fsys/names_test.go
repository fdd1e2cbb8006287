package fsys

import (
	"io/fs"
	"testing"
)

// SafeName's escaping is a rule grain documents, so its cases are written
// here; every result must be a valid io/fs path element.
func TestSafeName(t *testing.T) {
	for in, want := range map[string]string{
		"":          "%00",
		".":         "%2E",
		"..":        "%2E%2E",
		"a/b":       "a%2Fb",
		"a\x00b":    "a%00b",
		"/\x00/":    "%2F%00%2F",
		"50%":       "50%",
		"report.tx": "report.tx",
		"...":       "...",
	} {
		got := SafeName(in)
		if got != want {
			t.Errorf("SafeName(%q) = %q, want %q", in, got, want)
		}
		if !fs.ValidPath(got) || got == "." {
			t.Errorf("SafeName(%q) = %q is not a valid path element", in, got)
		}
	}
}
