package fsys

import "strings"

// SafeName turns a name as stored on a volume into a valid io/fs path
// element. Names that are empty, "." or "..", or that contain '/' or NUL
// cannot be path elements: those characters are written as %2F and %00,
// a name "." or ".." gets a '%2E' for each dot, and an empty name becomes
// "%00". Every other name, including one containing '%', is returned as it
// is, so ordinary names are never altered. Drivers call it on every name
// they list; docs/FORMATS.md documents the escaping for users.
func SafeName(name string) string {
	switch name {
	case "":
		return "%00"
	case ".":
		return "%2E"
	case "..":
		return "%2E%2E"
	}
	// Two byte scans: cheaper than ContainsAny, and this runs for every
	// name of every listing.
	if strings.IndexByte(name, '/') < 0 && strings.IndexByte(name, 0) < 0 {
		return name
	}
	r := strings.NewReplacer("/", "%2F", "\x00", "%00")
	return r.Replace(name)
}
