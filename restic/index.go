package restic

import (
	"encoding/json"
	"fmt"
	"math"
	"sync"
)

// IndexJSON is an index file: which blobs each pack holds.
type IndexJSON struct {
	Supersedes IDs        `json:"supersedes,omitempty"`
	Packs      []PackJSON `json:"packs"`
}

// PackJSON lists the blobs of one pack in an index file.
type PackJSON struct {
	ID    ID         `json:"id"`
	Blobs []BlobJSON `json:"blobs"`
}

// BlobJSON is one blob of a pack in an index file.
type BlobJSON struct {
	ID                 ID       `json:"id"`
	Type               BlobType `json:"type"`
	Offset             uint64   `json:"offset"`
	Length             uint64   `json:"length"`
	UncompressedLength uint64   `json:"uncompressed_length,omitempty"`
}

// ParseIndex decodes a decrypted, decompressed index file, in the current
// format or the legacy one (a bare list of packs).
func ParseIndex(b []byte) (*IndexJSON, error) {
	var idx IndexJSON
	i := 0
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t') {
		i++
	}
	if fast, ok := parseIndexFast(b[i:]); ok {
		idx = *fast
	} else if i < len(b) && b[i] == '[' {
		if err := json.Unmarshal(b, &idx.Packs); err != nil {
			return nil, fmt.Errorf("restic: legacy index: %v: %w", err, ErrFormat)
		}
	} else if err := json.Unmarshal(b, &idx); err != nil {
		return nil, fmt.Errorf("restic: index: %v: %w", err, ErrFormat)
	}
	for _, p := range idx.Packs {
		for _, bl := range p.Blobs {
			if bl.Type != DataBlob && bl.Type != TreeBlob {
				return nil, fmt.Errorf("restic: index: pack %v: blob %v without type: %w", p.ID.Str(), bl.ID.Str(), ErrFormat)
			}
			if bl.Offset > math.MaxUint32 || bl.Length > math.MaxUint32 || bl.UncompressedLength > math.MaxUint32 ||
				bl.Length < CiphertextOverhead {
				return nil, fmt.Errorf("restic: index: pack %v: blob %v: offset %d length %d out of range: %w",
					p.ID.Str(), bl.ID.Str(), bl.Offset, bl.Length, ErrFormat)
			}
		}
	}
	return &idx, nil
}

// Index maps blobs to where they are stored. It is safe for concurrent use.
type Index struct {
	mu    sync.RWMutex
	blobs map[BlobHandle]PackedBlob
	packs map[ID]struct{}
}

// NewIndex returns an empty index.
func NewIndex() *Index {
	return &Index{blobs: map[BlobHandle]PackedBlob{}, packs: map[ID]struct{}{}}
}

// Merge adds the blobs of an index file. The first location of a blob
// stays when a blob is listed twice.
func (x *Index) Merge(idx *IndexJSON) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, p := range idx.Packs {
		x.packs[p.ID] = struct{}{}
		for _, b := range p.Blobs {
			h := BlobHandle{ID: b.ID, Type: b.Type}
			if _, ok := x.blobs[h]; ok {
				continue
			}
			x.blobs[h] = PackedBlob{PackID: p.ID, Blob: Blob{
				BlobHandle: h, Offset: uint32(b.Offset), Length: uint32(b.Length),
				UncompressedLength: uint32(b.UncompressedLength),
			}}
		}
	}
}

// reserve sizes an empty index for n blobs.
func (x *Index) reserve(n int) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if len(x.blobs) == 0 {
		x.blobs = make(map[BlobHandle]PackedBlob, n)
	}
}

// AddPack adds the blobs of one pack.
func (x *Index) AddPack(id ID, blobs []Blob) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.packs[id] = struct{}{}
	for _, b := range blobs {
		if _, ok := x.blobs[b.BlobHandle]; !ok {
			x.blobs[b.BlobHandle] = PackedBlob{Blob: b, PackID: id}
		}
	}
}

// Lookup returns where a blob is stored.
func (x *Index) Lookup(h BlobHandle) (PackedBlob, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	pb, ok := x.blobs[h]
	return pb, ok
}

// Has reports whether the index knows the blob.
func (x *Index) Has(h BlobHandle) bool {
	_, ok := x.Lookup(h)
	return ok
}

// Len returns the number of blobs.
func (x *Index) Len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.blobs)
}

// Packs returns the number of packs.
func (x *Index) Packs() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.packs)
}

// Each calls fn for every blob (in no particular order) until it returns
// false. fn must not change the index.
func (x *Index) Each(fn func(PackedBlob) bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	for _, pb := range x.blobs {
		if !fn(pb) {
			return
		}
	}
}

func packJSON(id ID, blobs []Blob) PackJSON {
	p := PackJSON{ID: id, Blobs: make([]BlobJSON, len(blobs))}
	for i, b := range blobs {
		p.Blobs[i] = BlobJSON{ID: b.ID, Type: b.Type, Offset: uint64(b.Offset), Length: uint64(b.Length),
			UncompressedLength: uint64(b.UncompressedLength)}
	}
	return p
}
