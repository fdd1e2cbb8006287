package extract

import (
	"fmt"
	"runtime"
	"strings"
)

// HostName makes one path element safe to create on the host OS (goos):
// on Windows the characters \ : * ? " < > | and control characters become
// %XX, a trailing dot or space becomes %2E or %20, and the device names
// (CON, PRN, AUX, NUL, COM1-9, LPT1-9, with any extension) get a "%"
// before their extension point; on other systems names pass unchanged,
// since the file-system drivers have already escaped '/' and NUL
// (fsys.SafeName). renamed says whether the name changed.
func HostName(name, goos string) (safe string, renamed bool) {
	if goos != "windows" {
		return name, false
	}
	var b strings.Builder
	for i, r := range name {
		switch {
		case r < 0x20, strings.ContainsRune(`\:*?"<>|`, r):
			fmt.Fprintf(&b, "%%%02X", r)
		case (r == '.' || r == ' ') && i == len(name)-1:
			fmt.Fprintf(&b, "%%%02X", r)
		default:
			b.WriteRune(r)
		}
	}
	safe = b.String()
	base, ext, _ := strings.Cut(safe, ".")
	switch strings.ToUpper(base) {
	case "CON", "PRN", "AUX", "NUL",
		"COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8", "COM9",
		"LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9":
		safe = base + "%"
		if ext != "" || strings.Contains(name, ".") {
			safe += "." + ext
		}
	}
	return safe, safe != name
}

// hostPath applies HostName to every element of a slash-separated path.
func hostPath(rel string) (string, bool) {
	if runtime.GOOS != "windows" {
		return rel, false // names pass unchanged (see HostName)
	}
	parts := strings.Split(rel, "/")
	renamed := false
	for i, p := range parts {
		var r bool
		parts[i], r = HostName(p, runtime.GOOS)
		renamed = renamed || r
	}
	return strings.Join(parts, "/"), renamed
}
