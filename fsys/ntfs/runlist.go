package ntfs

import (
	"fmt"
	"sort"
)

// run is one mapping pair of a runlist: Length clusters from VCN are at
// LCN, or sparse when LCN is -1.
type run struct {
	VCN, LCN, Length int64
}

const sparseLCN = -1

// decodeRunlist decodes the mapping pairs of a non-resident attribute
// whose VCNs are [start, last]. Runs beyond clusters (the volume's cluster
// count; 0 = unchecked) are an error.
func decodeRunlist(b []byte, start, last, clusters int64) ([]run, error) {
	return appendRunlist(nil, b, start, last, clusters)
}

// appendRunlist is decodeRunlist appending to runs (a reused buffer); the
// decoded runs are runs[len(runs):] of the result.
func appendRunlist(runs []run, b []byte, start, last, clusters int64) ([]run, error) {
	base := len(runs)
	vcn, lcn := start, int64(0)
	for i := 0; i < len(b); {
		h := b[i]
		if h == 0 {
			break
		}
		ln, on := int(h&0x0F), int(h>>4)
		if ln == 0 || ln > 8 || on > 8 {
			return nil, fmt.Errorf("runlist byte %d: header 0x%02x invalid", i, h)
		}
		if i+1+ln+on > len(b) {
			return nil, fmt.Errorf("runlist byte %d: run truncated", i)
		}
		var length int64
		for k := ln - 1; k >= 0; k-- {
			length = length<<8 | int64(b[i+1+k])
		}
		if ln == 8 && length < 0 || length <= 0 {
			return nil, fmt.Errorf("runlist byte %d: run length %d invalid", i, length)
		}
		r := run{VCN: vcn, Length: length, LCN: sparseLCN}
		if on > 0 {
			var delta int64
			for k := on - 1; k >= 0; k-- {
				delta = delta<<8 | int64(b[i+1+ln+k])
			}
			if on < 8 { // sign-extend
				shift := uint(64 - 8*on)
				delta = delta << shift >> shift
			}
			nl := lcn + delta
			if (delta > 0 && nl < lcn) || (delta < 0 && nl > lcn) {
				return nil, fmt.Errorf("runlist byte %d: LCN overflow", i)
			}
			lcn = nl
			if lcn < 0 {
				return nil, fmt.Errorf("runlist byte %d: negative LCN %d", i, lcn)
			}
			if clusters > 0 && (lcn >= clusters || length > clusters-lcn) {
				return nil, fmt.Errorf("runlist byte %d: clusters [%d, +%d) beyond the volume's %d clusters", i, lcn, length, clusters)
			}
			r.LCN = lcn
		}
		if vcn+length-1 > last || vcn+length < vcn {
			return nil, fmt.Errorf("runlist byte %d: VCN %d+%d beyond last VCN %d", i, vcn, length, last)
		}
		vcn += length
		// Merge adjacent runs to keep the list small.
		if n := len(runs); n > base && runs[n-1].VCN+runs[n-1].Length == r.VCN &&
			((runs[n-1].LCN == sparseLCN && r.LCN == sparseLCN) ||
				(runs[n-1].LCN != sparseLCN && runs[n-1].LCN+runs[n-1].Length == r.LCN)) {
			runs[n-1].Length += r.Length
		} else {
			runs = append(runs, r)
		}
		i += 1 + ln + on
	}
	return runs, nil
}

// findRun returns the index of the run holding vcn, or -1.
func findRun(runs []run, vcn int64) int {
	i := sort.Search(len(runs), func(i int) bool { return runs[i].VCN+runs[i].Length > vcn })
	if i < len(runs) && runs[i].VCN <= vcn {
		return i
	}
	return -1
}
