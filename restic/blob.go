package restic

import (
	"encoding/json"
	"fmt"
)

// BlobType tells data blobs (file content) from tree blobs (directories).
type BlobType uint8

// Blob types. The zero value is invalid.
const (
	InvalidBlob BlobType = iota
	DataBlob
	TreeBlob
)

func (t BlobType) String() string {
	switch t {
	case DataBlob:
		return "data"
	case TreeBlob:
		return "tree"
	}
	return fmt.Sprintf("blobtype(%d)", uint8(t))
}

// MarshalJSON encodes "data" or "tree".
func (t BlobType) MarshalJSON() ([]byte, error) {
	switch t {
	case DataBlob:
		return []byte(`"data"`), nil
	case TreeBlob:
		return []byte(`"tree"`), nil
	}
	return nil, fmt.Errorf("restic: invalid blob type %d", uint8(t))
}

// UnmarshalJSON decodes "data" or "tree".
func (t *BlobType) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("restic: blob type: %v: %w", err, ErrFormat)
	}
	switch s {
	case "data":
		*t = DataBlob
	case "tree":
		*t = TreeBlob
	default:
		return fmt.Errorf("restic: unknown blob type %q: %w", truncate(s), ErrFormat)
	}
	return nil
}

// BlobHandle names a blob: its ID (SHA-256 of the plaintext, uncompressed
// content) and type.
type BlobHandle struct {
	ID   ID
	Type BlobType
}

func (h BlobHandle) String() string { return h.Type.String() + " blob " + h.ID.Str() }

// Blob is one entry of a pack: where the encrypted (and in version 2 maybe
// compressed) blob lies in its pack. UncompressedLength is 0 for a blob
// stored uncompressed.
type Blob struct {
	BlobHandle
	Offset             uint32
	Length             uint32
	UncompressedLength uint32
}

// IsCompressed reports whether the blob is stored compressed.
func (b Blob) IsCompressed() bool { return b.UncompressedLength != 0 }

// DataLength is the blob's plaintext length.
func (b Blob) DataLength() uint32 {
	if b.UncompressedLength != 0 {
		return b.UncompressedLength
	}
	if b.Length < CiphertextOverhead {
		return 0
	}
	return b.Length - CiphertextOverhead
}

// PackedBlob is a blob and the pack that holds it.
type PackedBlob struct {
	Blob
	PackID ID
}
