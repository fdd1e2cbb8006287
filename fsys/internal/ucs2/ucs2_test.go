package ucs2

import (
	"testing"
	"unicode/utf16"
)

func TestAppend(t *testing.T) {
	cases := [][]uint16{
		{'a', 'b'}, {0xD83D, 0xDE00}, {0xD83D}, {0xDE00}, {0xDE00, 0xD83D}, {0xD83D, 'x'},
		{0xD800, 0xD800, 0xDC00}, {0x00E9, 0x540D, 0xFFFF}, {},
	}
	for _, u := range cases {
		if got, want := string(Append(nil, u)), string(utf16.Decode(u)); got != want {
			t.Errorf("%04x: %q, utf16.Decode %q", u, got, want)
		}
	}
}

// FuzzAppend checks Append against utf16.Decode on any units.
func FuzzAppend(f *testing.F) {
	f.Add([]byte{0x3D, 0xD8, 0x00, 0xDE, 'a', 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 4096 {
			return
		}
		u := make([]uint16, len(b)/2)
		for i := range u {
			u[i] = uint16(b[2*i]) | uint16(b[2*i+1])<<8
		}
		if got, want := string(Append(nil, u)), string(utf16.Decode(u)); got != want {
			t.Fatalf("%04x: %q, utf16.Decode %q", u, got, want)
		}
	})
}
