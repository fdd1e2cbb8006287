package huffman

import (
	"errors"
	"testing"
)

// The canonical code of lengths {A:2, B:1, C:3, D:3} is B=0, A=10, C=110,
// D=111 (the example of RFC 1951 section 3.2.2, which LZX and XPRESS
// share). Each is decoded with every primary table size, so that both the
// lookup and the long-code search are used.
func TestCanonical(t *testing.T) {
	lens := []uint8{2, 1, 3, 3}
	want := []struct {
		window uint32
		sym    uint16
		n      uint8
	}{
		{0b0 << 15, 1, 1}, {0b10 << 14, 0, 2}, {0b110 << 13, 2, 3}, {0b111 << 13, 3, 3},
		{0b0111 << 12, 1, 1},
	}
	for primary := uint8(1); primary <= 3; primary++ {
		var tab Table
		if err := tab.Build(lens, primary, 3); err != nil {
			t.Fatal(err)
		}
		for _, w := range want {
			if sym, n := tab.Decode(w.window); sym != w.sym || n != w.n {
				t.Errorf("primary %d window %016b: got %d/%d, want %d/%d", primary, w.window, sym, n, w.sym, w.n)
			}
		}
	}
}

func TestLongCodes(t *testing.T) {
	// Lengths 1, 2, …, 15, 16, 16: complete, with codes past any table.
	lens := make([]uint8, 17)
	for i := range 16 {
		lens[i] = uint8(i + 1)
	}
	lens[16] = 16
	var tab Table
	if err := tab.Build(lens, 11, 16); err != nil {
		t.Fatal(err)
	}
	// Symbol i (< 16) is i ones then a zero; symbol 16 is sixteen ones.
	for i := range 16 {
		w := uint32(0xffff) << (16 - i) & 0xffff
		if sym, n := tab.Decode(w); int(sym) != i || int(n) != i+1 {
			t.Errorf("symbol %d: got %d/%d", i, sym, n)
		}
	}
	if sym, n := tab.Decode(0xffff); sym != 16 || n != 16 {
		t.Errorf("symbol 16: got %d/%d", sym, n)
	}
}

func TestInvalid(t *testing.T) {
	var tab Table
	for name, c := range map[string]struct {
		lens []uint8
		err  error
	}{
		"over-subscribed": {[]uint8{1, 1, 1}, ErrOversubscribed},
		"incomplete":      {[]uint8{1, 0, 2}, ErrIncomplete},
		"too long":        {[]uint8{1, 16}, ErrLength},
	} {
		if err := tab.Build(c.lens, 8, 15); !errors.Is(err, c.err) {
			t.Errorf("%s: err %v, want %v", name, err, c.err)
		}
	}
	// An empty code builds, but decodes nothing.
	if err := tab.Build(make([]uint8, 20), 8, 15); err != nil {
		t.Fatal(err)
	}
	if _, n := tab.Decode(0); n != 0 {
		t.Error("empty code decoded a symbol")
	}
}
