package restic

import (
	"encoding/json"
	"fmt"

	"github.com/restic/chunker"
)

// Repository format versions grain reads and writes.
const (
	MinRepoVersion = 1
	MaxRepoVersion = 2
)

// Config is the repository's config file (encrypted with the master key,
// never compressed).
type Config struct {
	Version           uint        `json:"version"`
	ID                string      `json:"id"`
	ChunkerPolynomial chunker.Pol `json:"chunker_polynomial"`
}

// ParseConfig decodes and checks a decrypted config file.
func ParseConfig(b []byte) (Config, error) {
	var c Config
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("restic: config: %v: %w", err, ErrFormat)
	}
	if c.Version < MinRepoVersion || c.Version > MaxRepoVersion {
		return c, fmt.Errorf("restic: config: unsupported repository version %d (supported %d to %d): %w",
			c.Version, MinRepoVersion, MaxRepoVersion, ErrFormat)
	}
	if c.ID == "" {
		return c, fmt.Errorf("restic: config: empty repository id: %w", ErrFormat)
	}
	if c.ChunkerPolynomial == 0 || !c.ChunkerPolynomial.Irreducible() {
		return c, fmt.Errorf("restic: config: chunker polynomial %v is not irreducible: %w", c.ChunkerPolynomial, ErrFormat)
	}
	return c, nil
}
