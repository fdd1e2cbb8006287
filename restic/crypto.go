package restic

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"

	"golang.org/x/crypto/poly1305"
	"golang.org/x/crypto/scrypt"
)

// Sizes of the parts of an encrypted file or blob: IV ‖ ciphertext ‖ MAC.
const (
	ivSize    = aes.BlockSize
	macSize   = poly1305.TagSize
	aesKeyLen = 32

	// CiphertextOverhead is what encryption adds to a plaintext's length.
	CiphertextOverhead = ivSize + macSize
)

// ErrMAC is returned (wrapped) when a ciphertext fails authentication:
// wrong key, or corrupted data.
var ErrMAC = errors.New("restic: ciphertext verification failed (MAC mismatch)")

// poly1305KeyMask clears the bits of r that Poly1305 requires to be zero
// (Bernstein, "The Poly1305-AES message-authentication code").
var poly1305KeyMask = [16]byte{
	0xff, 0xff, 0xff, 0x0f,
	0xfc, 0xff, 0xff, 0x0f,
	0xfc, 0xff, 0xff, 0x0f,
	0xfc, 0xff, 0xff, 0x0f,
}

// MACKey is the Poly1305-AES key: K encrypts the nonce with AES-128 to
// give the one-time pad s, R is Poly1305's multiplier r.
type MACKey struct {
	K [16]byte
	R [16]byte
}

// Key is a restic master (or user) key.
type Key struct {
	MAC     MACKey
	Encrypt [aesKeyLen]byte
}

// jsonKey is the master key as stored, encrypted, in a key file.
type jsonKey struct {
	MAC struct {
		K []byte `json:"k"`
		R []byte `json:"r"`
	} `json:"mac"`
	Encrypt []byte `json:"encrypt"`
}

// MarshalJSON encodes the key as restic does: {"mac":{"k","r"},"encrypt"}.
func (k *Key) MarshalJSON() ([]byte, error) {
	var j jsonKey
	j.MAC.K = k.MAC.K[:]
	j.MAC.R = k.MAC.R[:]
	j.Encrypt = k.Encrypt[:]
	return json.Marshal(&j)
}

// UnmarshalJSON decodes a master key and checks its sizes.
func (k *Key) UnmarshalJSON(b []byte) error {
	var j jsonKey
	if err := json.Unmarshal(b, &j); err != nil {
		return fmt.Errorf("restic: master key: %v: %w", err, ErrFormat)
	}
	if len(j.MAC.K) != 16 || len(j.MAC.R) != 16 || len(j.Encrypt) != aesKeyLen {
		return fmt.Errorf("restic: master key: wrong key sizes (k %d, r %d, encrypt %d): %w",
			len(j.MAC.K), len(j.MAC.R), len(j.Encrypt), ErrFormat)
	}
	copy(k.MAC.K[:], j.MAC.K)
	copy(k.MAC.R[:], j.MAC.R)
	copy(k.Encrypt[:], j.Encrypt)
	if !k.valid() {
		return fmt.Errorf("restic: master key: all-zero key: %w", ErrFormat)
	}
	return nil
}

func (k *Key) valid() bool {
	return k.MAC.K != [16]byte{} && k.MAC.R != [16]byte{} && k.Encrypt != [aesKeyLen]byte{}
}

// maskR clears the bits of r that must be zero. Go's poly1305 clamps r
// itself, so a key whose stored r is not masked authenticates the same;
// keys grain creates are stored masked, as restic stores them.
func (m *MACKey) maskR() {
	for i := range m.R {
		m.R[i] &= poly1305KeyMask[i]
	}
}

// NewRandomKey returns a fresh random master key.
func NewRandomKey() (*Key, error) {
	k := &Key{}
	if _, err := rand.Read(k.Encrypt[:]); err != nil {
		return nil, fmt.Errorf("restic: random key: %w", err)
	}
	if _, err := rand.Read(k.MAC.K[:]); err != nil {
		return nil, fmt.Errorf("restic: random key: %w", err)
	}
	if _, err := rand.Read(k.MAC.R[:]); err != nil {
		return nil, fmt.Errorf("restic: random key: %w", err)
	}
	k.MAC.maskR()
	return k, nil
}

// poly1305KeyWith builds the one-time Poly1305 key r ‖ AES_K(nonce), k16
// being AES with key K.
func (m *MACKey) poly1305KeyWith(k16 cipher.Block, nonce []byte) [32]byte {
	var k [32]byte
	copy(k[:16], m.R[:])
	k16.Encrypt(k[16:], nonce)
	return k
}

// Seal encrypts plaintext and appends IV ‖ ciphertext ‖ MAC to dst.
func (k *Key) Seal(dst, plaintext []byte) ([]byte, error) {
	c, err := k.newCiphers()
	if err != nil {
		return nil, err
	}
	return c.seal(dst, plaintext)
}

// ciphers are a key's AES block ciphers, expanded once for the many blobs
// a repository seals.
type ciphers struct {
	key      *Key
	enc, mac cipher.Block
}

func (k *Key) newCiphers() (*ciphers, error) {
	enc, err := aes.NewCipher(k.Encrypt[:])
	if err != nil {
		return nil, err
	}
	mac, err := aes.NewCipher(k.MAC.K[:])
	if err != nil {
		return nil, err
	}
	return &ciphers{key: k, enc: enc, mac: mac}, nil
}

// seal is Key.Seal with the ciphers expanded.
func (c *ciphers) seal(dst, plaintext []byte) ([]byte, error) {
	var iv [ivSize]byte
	for iv == ([ivSize]byte{}) { // restic rejects an all-zero nonce
		if _, err := rand.Read(iv[:]); err != nil {
			return nil, fmt.Errorf("restic: random IV: %w", err)
		}
	}
	start := len(dst)
	dst = append(dst, make([]byte, ivSize+len(plaintext)+macSize)...)
	out := dst[start:]
	copy(out, iv[:])
	ct := out[ivSize : ivSize+len(plaintext)]
	cipher.NewCTR(c.enc, iv[:]).XORKeyStream(ct, plaintext)
	pk := c.key.MAC.poly1305KeyWith(c.mac, iv[:])
	var tag [macSize]byte
	poly1305.Sum(&tag, ct, &pk)
	copy(out[ivSize+len(plaintext):], tag[:])
	return dst, nil
}

// Open authenticates and decrypts IV ‖ ciphertext ‖ MAC and appends the
// plaintext to dst.
func (k *Key) Open(dst, sealed []byte) ([]byte, error) {
	if len(sealed) < CiphertextOverhead {
		return nil, fmt.Errorf("restic: ciphertext of %d bytes shorter than IV and MAC: %w", len(sealed), ErrFormat)
	}
	c, err := k.newCiphers()
	if err != nil {
		return nil, err
	}
	return c.open(dst, sealed)
}

// open is Key.Open with the ciphers expanded.
func (c *ciphers) open(dst, sealed []byte) ([]byte, error) {
	if len(sealed) < CiphertextOverhead {
		return nil, fmt.Errorf("restic: ciphertext of %d bytes shorter than IV and MAC: %w", len(sealed), ErrFormat)
	}
	iv := sealed[:ivSize]
	ct := sealed[ivSize : len(sealed)-macSize]
	tag := sealed[len(sealed)-macSize:]
	if subtle.ConstantTimeCompare(iv, make([]byte, ivSize)) == 1 {
		return nil, fmt.Errorf("restic: all-zero IV: %w", ErrFormat)
	}
	pk := c.key.MAC.poly1305KeyWith(c.mac, iv)
	var want [macSize]byte
	poly1305.Sum(&want, ct, &pk)
	if subtle.ConstantTimeCompare(want[:], tag) != 1 {
		return nil, ErrMAC
	}
	// Copy first (dst may share storage with sealed), then decrypt in place.
	var ivc [ivSize]byte
	copy(ivc[:], iv)
	start := len(dst)
	dst = append(dst, ct...)
	cipher.NewCTR(c.enc, ivc[:]).XORKeyStream(dst[start:], dst[start:])
	return dst, nil
}

// KDFParams are scrypt's cost parameters as stored in a key file.
type KDFParams struct {
	N, R, P int
}

// DefaultKDFParams are used by Init unless InitOptions says otherwise
// (restic starts from N=16384, r=8, p=1 and calibrates upward).
var DefaultKDFParams = KDFParams{N: 32768, R: 8, P: 1}

// saltLength is the only salt length restic accepts.
const saltLength = 64

// Limits on scrypt parameters read from a key file, so that a hostile key
// file cannot make Open allocate or compute without bound. scrypt uses
// 128·N·r bytes; 1 GiB is far above what restic's calibration picks.
const maxScryptMemory = 1 << 30

func (p KDFParams) check() error {
	if p.N <= 1 || p.N&(p.N-1) != 0 {
		return fmt.Errorf("restic: scrypt N=%d is not a power of two > 1: %w", p.N, ErrFormat)
	}
	if p.R <= 0 || p.P <= 0 || p.R > 1<<10 || p.P > 1<<10 {
		return fmt.Errorf("restic: scrypt r=%d p=%d out of range: %w", p.R, p.P, ErrFormat)
	}
	if int64(128)*int64(p.N)*int64(p.R) > maxScryptMemory || int64(p.N)*int64(p.R)*int64(p.P) > 1<<26 {
		return fmt.Errorf("restic: scrypt N=%d r=%d p=%d too costly: %w", p.N, p.R, p.P, ErrFormat)
	}
	return nil
}

// kdf derives the user key from a password: scrypt gives 64 bytes, the
// AES key first, then the MAC key as k ‖ r.
func kdf(p KDFParams, salt []byte, password string) (*Key, error) {
	if len(salt) != saltLength {
		return nil, fmt.Errorf("restic: key file salt is %d bytes, want %d: %w", len(salt), saltLength, ErrFormat)
	}
	if err := p.check(); err != nil {
		return nil, err
	}
	b, err := scrypt.Key([]byte(password), salt, p.N, p.R, p.P, aesKeyLen+32)
	if err != nil {
		return nil, fmt.Errorf("restic: scrypt: %v: %w", err, ErrFormat)
	}
	k := &Key{}
	copy(k.Encrypt[:], b[:32])
	copy(k.MAC.K[:], b[32:48])
	copy(k.MAC.R[:], b[48:64])
	k.MAC.maskR()
	return k, nil
}

func randRead(b []byte) (int, error) {
	n, err := rand.Read(b)
	if err != nil {
		return n, fmt.Errorf("restic: random: %w", err)
	}
	return n, nil
}
