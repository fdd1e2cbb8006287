package restic

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
)

// ErrFormat is returned (wrapped) for data that is not, or no longer, a
// valid restic repository structure.
var ErrFormat = errors.New("restic: invalid repository data")

// IDSize is the length of an ID in bytes.
const IDSize = sha256.Size

// ID is a SHA-256 hash naming a blob or a repository file.
type ID [IDSize]byte

// Hash returns the ID of data.
func Hash(data []byte) ID { return sha256.Sum256(data) }

// ParseID parses a 64-digit hexadecimal ID.
func ParseID(s string) (ID, error) {
	var id ID
	if len(s) != 2*IDSize {
		return id, fmt.Errorf("restic: ID %q: wrong length %d: %w", truncate(s), len(s), ErrFormat)
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, fmt.Errorf("restic: ID %q: %v: %w", truncate(s), err, ErrFormat)
	}
	return id, nil
}

func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// String returns the ID in hexadecimal.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// Str returns the first 8 hexadecimal digits, as restic shows IDs.
func (id ID) Str() string { return hex.EncodeToString(id[:4]) }

// IsNull reports whether id is all zero.
func (id ID) IsNull() bool { return id == ID{} }

// MarshalJSON encodes the ID as a hexadecimal string.
func (id ID) MarshalJSON() ([]byte, error) {
	buf := make([]byte, 2+2*IDSize)
	buf[0] = '"'
	hex.Encode(buf[1:], id[:])
	buf[len(buf)-1] = '"'
	return buf, nil
}

// UnmarshalJSON decodes a hexadecimal string.
func (id *ID) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("restic: ID: %v: %w", err, ErrFormat)
	}
	v, err := ParseID(s)
	if err != nil {
		return err
	}
	*id = v
	return nil
}

// IDs is a list of IDs (a file's content).
type IDs []ID
