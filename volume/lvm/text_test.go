package lvm_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/grainvm/grain/volume/lvm"
)

func TestParseTextHostile(t *testing.T) {
	deep := strings.Repeat("a {\n", 10000) + strings.Repeat("}\n", 10000)
	for name, text := range map[string]string{
		"deep":             deep,
		"truncated":        "vg {\nid = \"abc\"\nseqno = 3\nphysical_volumes {\npv0 {\n",
		"truncated string": "vg { id = \"abc",
		"truncated list":   "vg { s = [\"a\", ",
		"stray brace":      "}",
		"bad number":       "x = 1.2.3.4e",
	} {
		_, err := lvm.ParseText([]byte(text))
		if err == nil || !errors.Is(err, lvm.ErrFormat) {
			t.Errorf("%s: error %v, want an ErrFormat", name, err)
		}
	}
	s, err := lvm.ParseText([]byte("vg {\n# comment\nid = \"a\\\"b\"\nlist = [\"x\", 1]\nn = -5\nsub { k = 1 }\n}\n"))
	if err != nil {
		t.Fatal(err)
	}
	vg := s.Section("vg")
	if id, _ := vg.String("id"); id != `a"b` {
		t.Errorf("id %q", id)
	}
	if n, _ := vg.Int("n"); n != -5 {
		t.Errorf("n %d", n)
	}
	if l, _ := vg.List("list"); len(l) != 2 || vg.Section("sub") == nil {
		t.Errorf("list %v", l)
	}
}
