package restic

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// ErrNoKey is returned (wrapped) by Open when no key file opens with the
// password.
var ErrNoKey = errors.New("restic: wrong password or no key found")

// maxKeyFileSize bounds a key file read from the backend (real ones are
// about 460 bytes).
const maxKeyFileSize = 64 << 10

// KeyFileJSON is the JSON of a file in keys/: scrypt parameters and salt, and
// the master key encrypted with the key derived from the password. It is
// stored unencrypted; its name is the SHA-256 of its content.
type KeyFileJSON struct {
	Created  time.Time `json:"created"`
	Username string    `json:"username"`
	Hostname string    `json:"hostname"`

	KDF  string `json:"kdf"`
	N    int    `json:"N"`
	R    int    `json:"r"`
	P    int    `json:"p"`
	Salt []byte `json:"salt"`
	Data []byte `json:"data"`
}

// ParseKeyFile decodes a key file and checks its fields (not the password).
func ParseKeyFile(b []byte) (*KeyFileJSON, error) {
	if len(b) > maxKeyFileSize {
		return nil, fmt.Errorf("restic: key file of %d bytes too large: %w", len(b), ErrFormat)
	}
	var kf KeyFileJSON
	if err := json.Unmarshal(b, &kf); err != nil {
		return nil, fmt.Errorf("restic: key file: %v: %w", err, ErrFormat)
	}
	if kf.KDF != "scrypt" {
		return nil, fmt.Errorf("restic: key file: unknown KDF %q: %w", truncate(kf.KDF), ErrFormat)
	}
	if err := (KDFParams{kf.N, kf.R, kf.P}).check(); err != nil {
		return nil, fmt.Errorf("restic: key file: %w", err)
	}
	if len(kf.Salt) != saltLength {
		return nil, fmt.Errorf("restic: key file: salt of %d bytes, want %d: %w", len(kf.Salt), saltLength, ErrFormat)
	}
	if len(kf.Data) < CiphertextOverhead {
		return nil, fmt.Errorf("restic: key file: encrypted master key of %d bytes too short: %w", len(kf.Data), ErrFormat)
	}
	return &kf, nil
}

// Unlock derives the user key from password and decrypts the master key.
// A wrong password gives an error wrapping ErrNoKey.
func (kf *KeyFileJSON) Unlock(password string) (*Key, error) {
	user, err := kdf(KDFParams{kf.N, kf.R, kf.P}, kf.Salt, password)
	if err != nil {
		return nil, err
	}
	plain, err := user.Open(nil, kf.Data)
	if errors.Is(err, ErrMAC) {
		return nil, ErrNoKey
	} else if err != nil {
		return nil, fmt.Errorf("restic: key file: %w", err)
	}
	var master Key
	if err := json.Unmarshal(plain, &master); err != nil {
		return nil, fmt.Errorf("restic: key file: master key: %w", err)
	}
	return &master, nil
}

// NewKeyFile encrypts master with a key derived from password.
func NewKeyFile(master *Key, password string, p KDFParams, hostname, username string) (*KeyFileJSON, error) {
	if err := p.check(); err != nil {
		return nil, err
	}
	salt := make([]byte, saltLength)
	if _, err := randRead(salt); err != nil {
		return nil, err
	}
	user, err := kdf(p, salt, password)
	if err != nil {
		return nil, err
	}
	mj, err := json.Marshal(master)
	if err != nil {
		return nil, err
	}
	data, err := user.Seal(nil, mj)
	if err != nil {
		return nil, err
	}
	return &KeyFileJSON{
		Created:  time.Now(),
		Username: username,
		Hostname: hostname,
		KDF:      "scrypt",
		N:        p.N, R: p.R, P: p.P,
		Salt: salt,
		Data: data,
	}, nil
}
