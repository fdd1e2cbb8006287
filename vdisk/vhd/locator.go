package vhd

import (
	"encoding/binary"
	"fmt"
	"io"
	"net/url"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// ParentLocator is one used parent locator entry of a differencing disk,
// with its data decoded.
type ParentLocator struct {
	Code       string // platform code: "W2ku", "W2ru", "Wi2k", "Wi2r", "Mac ", "MacX", …
	Path       string // the decoded path; "" when the code's data is not decodable
	DataOffset int64  // where the locator data lies in the file
	DataLength int64  // its length in bytes
}

// readLocators reads and decodes the used parent locator entries. Every
// offset and length is checked against the file size and MaxLocatorLength.
func readLocators(r io.ReaderAt, fileSize int64, h *DynamicHeader) ([]ParentLocator, error) {
	var out []ParentLocator
	for i, e := range h.ParentLocators {
		code := e.Code()
		if code == PlatformNone {
			continue
		}
		if e.PlatformDataLength > MaxLocatorLength {
			return nil, fmt.Errorf("vhd: parent locator %d (%q): data length %d exceeds %d: %w", i, code, e.PlatformDataLength, MaxLocatorLength, ErrFormat)
		}
		off, n := e.PlatformDataOffset, int64(e.PlatformDataLength)
		if off > uint64(fileSize) || int64(off)+n > fileSize {
			return nil, fmt.Errorf("vhd: parent locator %d (%q): data [0x%x, +%d) beyond end of file (%d bytes): %w", i, code, off, n, fileSize, ErrFormat)
		}
		data := make([]byte, n)
		if _, err := r.ReadAt(data, int64(off)); err != nil {
			return nil, fmt.Errorf("vhd: parent locator %d (%q): reading data at 0x%x: %w", i, code, off, err)
		}
		out = append(out, ParentLocator{
			Code:       code,
			Path:       decodeLocator(code, data),
			DataOffset: int64(off),
			DataLength: n,
		})
	}
	return out, nil
}

// decodeLocator turns locator data into a path, or "" if it cannot.
func decodeLocator(code string, data []byte) string {
	switch code {
	case PlatformW2ku, PlatformW2ru:
		u := make([]uint16, 0, len(data)/2)
		for i := 0; i+1 < len(data); i += 2 {
			c := binary.LittleEndian.Uint16(data[i:])
			if c == 0 {
				break
			}
			u = append(u, c)
		}
		return string(utf16.Decode(u))
	case PlatformWi2k, PlatformWi2r:
		// Deprecated single-byte paths in the Windows code page: decoded
		// when they are ASCII (or UTF-8), otherwise left undecoded.
		s := trimNUL(data)
		if !utf8.ValidString(s) {
			return ""
		}
		return s
	case PlatformMacX:
		s := trimNUL(data)
		u, err := url.Parse(s)
		if err != nil || u.Scheme != "file" {
			return ""
		}
		return u.Path
	}
	return ""
}

func trimNUL(b []byte) string {
	if i := strings.IndexByte(string(b), 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}
