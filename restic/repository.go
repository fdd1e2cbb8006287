package restic

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"runtime"
	"slices"
	"sync"

	"github.com/restic/chunker"
)

// ErrNoRepository is returned (wrapped) by Open when the backend holds no
// config file.
var ErrNoRepository = errors.New("restic: not a repository (no config file)")

// ErrBlobNotFound is returned (wrapped) by LoadBlob for a blob the index
// does not know.
var ErrBlobNotFound = errors.New("restic: blob not found in index")

// maxUnpackedFile bounds a key, config, index, snapshot or lock file read
// whole into memory.
const maxUnpackedFile = 1 << 30

// maxFreePackBufs bounds the pack buffers kept for reuse.
const maxFreePackBufs = 1

// maxIndexBlobs is how many blobs one index file lists at most (as
// restic's index files).
const maxIndexBlobs = 50000

// InitOptions choose how Init makes a repository.
type InitOptions struct {
	// Version is the repository format, 1 or 2 (0 means 2).
	Version int
	// KDF are the scrypt parameters of the first key (zero means
	// DefaultKDFParams).
	KDF KDFParams
	// Hostname and Username go into the key file (default: this host and
	// user).
	Hostname, Username string
}

// Repository is an open restic repository. SaveBlob, LoadBlob and the
// other methods are safe for concurrent use.
type Repository struct {
	be      Backend
	key     *Key
	ciphers *ciphers // key's, expanded
	keyID   ID
	cfg     Config
	z       *zstdCodec
	idx     *Index

	mu        sync.Mutex
	packSize  int
	pending   map[BlobHandle]struct{} // blobs in open packers or packs being written
	packers   [2]*packer              // data, tree
	unindexed []PackJSON              // packs written since the last index file

	packBufs [][]byte  // buffers of packs written, for new packs (at most maxFreePackBufs)
	scratch  sync.Pool // *[]byte, compressed blobs before sealing
}

type packer struct {
	buf     []byte // blobs sealed in place; its capacity never grows
	blobs   []Blob
	writers sync.WaitGroup // blobs reserved in buf and still being sealed

	mu  sync.Mutex
	err error // a blob could not be sealed: the pack is not written
}

func newRepository(be Backend, key *Key, keyID ID, cfg Config) (*Repository, error) {
	z, err := newZstdCodec()
	if err != nil {
		return nil, err
	}
	c, err := key.newCiphers()
	if err != nil {
		return nil, err
	}
	return &Repository{be: be, key: key, ciphers: c, keyID: keyID, cfg: cfg, z: z, idx: NewIndex(),
		packSize: DefaultPackSize, pending: map[BlobHandle]struct{}{}}, nil
}

func currentUserHost() (string, string) {
	host, _ := os.Hostname()
	name := ""
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	return name, host
}

// Init makes a new repository on be: a master key, a key file for
// password and the config file.
func Init(ctx context.Context, be Backend, password string, opts InitOptions) (*Repository, error) {
	version := opts.Version
	if version == 0 {
		version = 2
	}
	if version < MinRepoVersion || version > MaxRepoVersion {
		return nil, fmt.Errorf("restic: init: unsupported repository version %d", version)
	}
	if _, err := be.Stat(ctx, Handle{Type: ConfigFile}); err == nil {
		return nil, errors.New("restic: init: config file already exists")
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("restic: init: %w", err)
	}
	p := opts.KDF
	if p == (KDFParams{}) {
		p = DefaultKDFParams
	}
	username, host := currentUserHost()
	if opts.Username != "" {
		username = opts.Username
	}
	if opts.Hostname != "" {
		host = opts.Hostname
	}
	master, err := NewRandomKey()
	if err != nil {
		return nil, err
	}
	kf, err := NewKeyFile(master, password, p, host, username)
	if err != nil {
		return nil, err
	}
	kb, err := json.Marshal(kf)
	if err != nil {
		return nil, err
	}
	keyID := Hash(kb)
	if err := be.Save(ctx, Handle{Type: KeyFile, Name: keyID.String()}, kb); err != nil {
		return nil, fmt.Errorf("restic: init: %w", err)
	}
	pol, err := chunker.RandomPolynomial()
	if err != nil {
		return nil, fmt.Errorf("restic: init: chunker polynomial: %w", err)
	}
	var rid [32]byte
	if _, err := rand.Read(rid[:]); err != nil {
		return nil, fmt.Errorf("restic: init: %w", err)
	}
	cfg := Config{Version: uint(version), ID: hex.EncodeToString(rid[:]), ChunkerPolynomial: pol}
	r, err := newRepository(be, master, keyID, cfg)
	if err != nil {
		return nil, err
	}
	if _, err := r.SaveJSONUnpacked(ctx, ConfigFile, &cfg); err != nil {
		return nil, fmt.Errorf("restic: init: %w", err)
	}
	return r, nil
}

// Open opens the repository on be with password, trying every key file.
func Open(ctx context.Context, be Backend, password string) (*Repository, error) {
	ci, err := be.Stat(ctx, Handle{Type: ConfigFile})
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNoRepository
	} else if err != nil {
		return nil, fmt.Errorf("restic: open: %w", err)
	}
	if ci.Size > maxKeyFileSize {
		return nil, fmt.Errorf("restic: config file of %d bytes too large: %w", ci.Size, ErrFormat)
	}
	var names []string
	if err := be.List(ctx, KeyFile, func(fi FileInfo) error {
		if fi.Size <= maxKeyFileSize {
			names = append(names, fi.Name)
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("restic: open: list keys: %w", err)
	}
	slices.Sort(names)
	var master *Key
	var keyID ID
	var lastErr error
	for _, name := range names {
		b, err := readAll(ctx, be, Handle{Type: KeyFile, Name: name}, maxKeyFileSize)
		if err != nil {
			lastErr = err
			continue
		}
		kf, err := ParseKeyFile(b)
		if err != nil {
			lastErr = fmt.Errorf("restic: key %s: %w", truncate(name), err)
			continue
		}
		k, err := kf.Unlock(password)
		if errors.Is(err, ErrNoKey) {
			continue
		} else if err != nil {
			lastErr = fmt.Errorf("restic: key %s: %w", truncate(name), err)
			continue
		}
		master, keyID = k, Hash(b)
		break
	}
	if master == nil {
		if lastErr != nil {
			return nil, fmt.Errorf("%w (%d key files; last error: %v)", ErrNoKey, len(names), lastErr)
		}
		return nil, fmt.Errorf("%w (%d key files tried)", ErrNoKey, len(names))
	}
	enc, err := readAll(ctx, be, Handle{Type: ConfigFile}, maxKeyFileSize)
	if err != nil {
		return nil, err
	}
	plain, err := master.Open(nil, enc)
	if err != nil {
		return nil, fmt.Errorf("restic: config file: %w", err)
	}
	cfg, err := ParseConfig(plain)
	if err != nil {
		return nil, err
	}
	return newRepository(be, master, keyID, cfg)
}

// readAll reads a whole backend file of at most limit bytes.
func readAll(ctx context.Context, be Backend, h Handle, limit int64) ([]byte, error) {
	fi, err := be.Stat(ctx, h)
	if err != nil {
		return nil, err
	}
	if fi.Size > limit {
		return nil, fmt.Errorf("restic: %v: %d bytes above limit %d: %w", h, fi.Size, limit, ErrFormat)
	}
	rd, err := be.Load(ctx, h, 0, 0)
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	buf := bytes.NewBuffer(make([]byte, 0, fi.Size+bytes.MinRead))
	if _, err := io.Copy(buf, io.LimitReader(rd, limit+1)); err != nil {
		return nil, fmt.Errorf("restic: read %v: %w", h, err)
	}
	if int64(buf.Len()) > limit {
		return nil, fmt.Errorf("restic: %v: above limit %d: %w", h, limit, ErrFormat)
	}
	return buf.Bytes(), nil
}

// Config returns the repository's config.
func (r *Repository) Config() Config { return r.cfg }

// Backend returns the backend.
func (r *Repository) Backend() Backend { return r.be }

// KeyID returns the ID of the key file that opened the repository.
func (r *Repository) KeyID() ID { return r.keyID }

// Key returns the master key.
func (r *Repository) Key() *Key { return r.key }

// Index returns the in-memory index.
func (r *Repository) Index() *Index { return r.idx }

// SetPackSize sets the target size of new packs (default 16 MiB).
func (r *Repository) SetPackSize(n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.packSize = max(n, 1)
}

// Chunker returns a content-defined chunker for rd with the repository's
// polynomial.
func (r *Repository) Chunker(rd io.Reader) *chunker.Chunker {
	return chunker.New(rd, r.cfg.ChunkerPolynomial)
}

// SaveUnpacked stores a file of type t (not a pack): compressed in version
// 2 (except the config file), encrypted, named by the SHA-256 of what is
// stored. The config file has no name; its returned ID is that hash.
func (r *Repository) SaveUnpacked(ctx context.Context, t FileType, plaintext []byte) (ID, error) {
	if t == PackFile || t == KeyFile {
		return ID{}, fmt.Errorf("restic: SaveUnpacked of a %v file", t)
	}
	p := plaintext
	if r.cfg.Version >= 2 && t != ConfigFile {
		p = r.z.compress([]byte{unpackedVersion2}, plaintext)
	}
	enc, err := r.key.Seal(make([]byte, 0, len(p)+CiphertextOverhead), p)
	if err != nil {
		return ID{}, err
	}
	id := Hash(enc)
	h := Handle{Type: t, Name: id.String()}
	if t == ConfigFile {
		h.Name = ""
	}
	if err := r.be.Save(ctx, h, enc); err != nil {
		return ID{}, err
	}
	return id, nil
}

// SaveJSONUnpacked encodes v as JSON and stores it with SaveUnpacked.
func (r *Repository) SaveJSONUnpacked(ctx context.Context, t FileType, v any) (ID, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return ID{}, fmt.Errorf("restic: encode %v: %w", t, err)
	}
	return r.SaveUnpacked(ctx, t, b)
}

// LoadUnpacked reads, checks, decrypts and decompresses a file of type t
// (not a pack or key). Its content must hash to id.
func (r *Repository) LoadUnpacked(ctx context.Context, t FileType, id ID) ([]byte, error) {
	if t == PackFile || t == KeyFile {
		return nil, fmt.Errorf("restic: LoadUnpacked of a %v file", t)
	}
	h := Handle{Type: t, Name: id.String()}
	if t == ConfigFile {
		h.Name = ""
	}
	enc, err := readAll(ctx, r.be, h, maxUnpackedFile)
	if err != nil {
		return nil, err
	}
	if t != ConfigFile && Hash(enc) != id {
		return nil, fmt.Errorf("restic: %v: content does not match its name (hash %v): %w", h, Hash(enc).Str(), ErrFormat)
	}
	plain, err := r.ciphers.open(enc[:0], enc)
	if err != nil {
		return nil, fmt.Errorf("restic: %v: %w", h, err)
	}
	if r.cfg.Version < 2 || t == ConfigFile || len(plain) == 0 || plain[0] == '{' || plain[0] == '[' {
		return plain, nil
	}
	if plain[0] != unpackedVersion2 {
		return nil, fmt.Errorf("restic: %v: unknown encoding 0x%02x: %w", h, plain[0], ErrFormat)
	}
	out, err := r.z.decompress(plain[1:], maxDecompressed, 4*len(plain))
	if err != nil {
		return nil, fmt.Errorf("restic: %v: %w", h, err)
	}
	return out, nil
}

// List calls fn with the ID of each file of type t; names that are not
// IDs are skipped.
func (r *Repository) List(ctx context.Context, t FileType, fn func(ID, int64) error) error {
	return r.be.List(ctx, t, func(fi FileInfo) error {
		id, err := ParseID(fi.Name)
		if err != nil {
			return nil
		}
		return fn(id, fi.Size)
	})
}

// LoadIndex reads every index file into the in-memory index, several
// files at a time (decoding them is most of the work).
func (r *Repository) LoadIndex(ctx context.Context) error {
	var ids []ID
	if err := r.List(ctx, IndexFile, func(id ID, _ int64) error {
		ids = append(ids, id)
		return nil
	}); err != nil {
		return fmt.Errorf("restic: list index: %w", err)
	}
	workers := min(runtime.GOMAXPROCS(0), len(ids))
	next := make(chan int)
	errs := make([]error, workers)
	// Decoded in parallel, merged after into a map sized once.
	files := make([]*IndexJSON, len(ids))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				id := ids[i]
				if errs[w] != nil {
					continue
				}
				b, err := r.LoadUnpacked(ctx, IndexFile, id)
				if err != nil {
					errs[w] = fmt.Errorf("restic: index %v: %w", id.Str(), err)
					continue
				}
				idx, err := ParseIndex(b)
				if err != nil {
					errs[w] = fmt.Errorf("restic: index %v: %w", id.Str(), err)
					continue
				}
				files[i] = idx
			}
		}()
	}
	for i := range ids {
		next <- i
	}
	close(next)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	n := 0
	for _, f := range files {
		for _, p := range f.Packs {
			n += len(p.Blobs)
		}
	}
	r.idx.reserve(n)
	for i, f := range files {
		r.idx.Merge(f)
		files[i] = nil
	}
	return nil
}

// HasBlob reports whether the blob is in the index or in a pack being
// written.
func (r *Repository) HasBlob(t BlobType, id ID) bool {
	h := BlobHandle{ID: id, Type: t}
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.pending[h]
	return ok || r.idx.Has(h)
}

// SaveBlob stores a blob unless the repository has it already; it
// reports whether the blob was new. Blobs go into packs of data or trees
// that are written once they reach the pack size; Flush writes the rest
// and an index file.
//
// Concurrent callers share the open pack: each reserves its blob's place
// in the pack's buffer under the lock and encrypts into it outside, so
// compression and encryption run in parallel and the sealed blob is never
// copied; the caller whose blob fills the pack writes it.
func (r *Repository) SaveBlob(ctx context.Context, t BlobType, data []byte) (ID, bool, error) {
	if t != DataBlob && t != TreeBlob {
		return ID{}, false, fmt.Errorf("restic: SaveBlob: invalid blob type %v", t)
	}
	if len(data) > 1<<31 {
		return ID{}, false, fmt.Errorf("restic: SaveBlob: blob of %d bytes too large", len(data))
	}
	id := Hash(data)
	h := BlobHandle{ID: id, Type: t}
	if r.idx.Has(h) {
		return id, false, nil
	}
	r.mu.Lock()
	// A pack's blobs enter the index before they leave pending, so
	// checking both under the lock sees every saved blob.
	if _, ok := r.pending[h]; ok || r.idx.Has(h) {
		r.mu.Unlock()
		return id, false, nil
	}
	r.pending[h] = struct{}{}
	r.mu.Unlock()

	b := Blob{BlobHandle: h}
	p := data
	var zbuf *[]byte
	if r.cfg.Version >= 2 {
		zbuf = r.getScratch()
		c := r.z.compress((*zbuf)[:0], data)
		if len(c) < len(data) {
			p = c
			b.UncompressedLength = uint32(len(data))
		}
		*zbuf = c[:0]
	}
	n := len(p) + CiphertextOverhead
	b.Length = uint32(n)

	r.mu.Lock()
	var closed [2]*packer
	pk := r.packers[t-1]
	if pk != nil && len(pk.buf)+n+headerRoom(len(pk.blobs)+1) > cap(pk.buf) { // does not fit: write it as it is
		closed[0], pk = pk, nil
	}
	if pk == nil {
		pk = r.newPacker(n)
		r.packers[t-1] = pk
	}
	b.Offset = uint32(len(pk.buf))
	off := len(pk.buf)
	pk.buf = pk.buf[:off+n]
	region := pk.buf[off : off+n : off+n]
	pk.blobs = append(pk.blobs, b)
	pk.writers.Add(1)
	if len(pk.buf) >= r.packSize || len(pk.blobs) >= 10000 {
		r.packers[t-1] = nil
		closed[1] = pk
	}
	r.mu.Unlock()

	_, err := r.ciphers.seal(region[:0], p)
	if err != nil {
		pk.fail(err)
	}
	pk.writers.Done()
	if zbuf != nil {
		r.scratch.Put(zbuf)
	}
	for _, c := range closed {
		if c != nil {
			if werr := r.writePack(ctx, c); werr != nil && err == nil {
				err = werr
			}
		}
	}
	if err != nil {
		return ID{}, false, err
	}
	return id, true, nil
}

// packBufSize is the capacity of a pack buffer: the pack size and room
// for the header. A blob that does not fit in what is left closes the pack
// (a little short of the target size) and starts the next.
func (r *Repository) packBufSize() int {
	return r.packSize + 64<<10
}

// headerRoom is the space a pack header of n blobs takes at most.
func headerRoom(n int) int {
	return n*compressedEntrySize + CiphertextOverhead + headerLengthSize
}

// newPacker starts a pack, reusing a buffer of a pack written before.
// Called with r.mu held.
func (r *Repository) newPacker(n int) *packer {
	size := r.packBufSize()
	if n+headerRoom(1) > size { // a blob larger than a pack
		return &packer{buf: make([]byte, 0, n+headerRoom(1))}
	}
	for len(r.packBufs) > 0 {
		b := r.packBufs[len(r.packBufs)-1]
		r.packBufs = r.packBufs[:len(r.packBufs)-1]
		if cap(b) == size {
			return &packer{buf: b[:0]}
		}
	}
	return &packer{buf: make([]byte, 0, size)}
}

// getScratch returns a buffer for compressed blobs.
func (r *Repository) getScratch() *[]byte {
	if v := r.scratch.Get(); v != nil {
		return v.(*[]byte)
	}
	b := make([]byte, 0, 64<<10)
	return &b
}

func (pk *packer) fail(err error) {
	pk.mu.Lock()
	if pk.err == nil {
		pk.err = err
	}
	pk.mu.Unlock()
}

func (r *Repository) dropPending(blobs []Blob) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, b := range blobs {
		delete(r.pending, b.BlobHandle)
	}
}

// writePack waits for the blobs being encrypted into a closed pack, adds
// the encrypted header, stores the pack and adds its blobs to the index.
func (r *Repository) writePack(ctx context.Context, pk *packer) error {
	pk.writers.Wait()
	if pk.err != nil {
		r.dropPending(pk.blobs)
		return pk.err
	}
	hdr := make([]byte, 0, len(pk.blobs)*compressedEntrySize)
	for _, b := range pk.blobs {
		hdr = appendPackEntry(hdr, b)
	}
	buf, err := r.ciphers.seal(pk.buf, hdr)
	if err != nil {
		r.dropPending(pk.blobs)
		return err
	}
	buf = binary.LittleEndian.AppendUint32(buf, uint32(len(hdr)+CiphertextOverhead))
	id := Hash(buf)
	if err := r.be.Save(ctx, Handle{Type: PackFile, Name: id.String()}, buf); err != nil {
		r.dropPending(pk.blobs)
		return fmt.Errorf("restic: save pack: %w", err)
	}
	r.idx.AddPack(id, pk.blobs)
	r.mu.Lock()
	for _, b := range pk.blobs {
		delete(r.pending, b.BlobHandle)
	}
	r.unindexed = append(r.unindexed, packJSON(id, pk.blobs))
	if cap(buf) == r.packBufSize() && len(r.packBufs) < maxFreePackBufs {
		r.packBufs = append(r.packBufs, buf[:0])
	}
	r.mu.Unlock()
	pk.buf = nil
	return nil
}

// Flush writes the open packs and an index file for every pack written
// since the last Flush. After Flush, restic sees all saved blobs.
func (r *Repository) Flush(ctx context.Context) error {
	r.mu.Lock()
	pks := r.packers
	r.packers = [2]*packer{}
	r.mu.Unlock()
	var errs []error
	for _, pk := range pks {
		if pk != nil {
			if err := r.writePack(ctx, pk); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	r.mu.Lock()
	packs := r.unindexed
	r.unindexed = nil
	r.mu.Unlock()
	for len(packs) > 0 {
		var file IndexJSON
		n := 0
		for len(packs) > 0 && (n == 0 || n+len(packs[0].Blobs) <= maxIndexBlobs) {
			n += len(packs[0].Blobs)
			file.Packs = append(file.Packs, packs[0])
			packs = packs[1:]
		}
		if _, err := r.SaveJSONUnpacked(ctx, IndexFile, &file); err != nil {
			r.mu.Lock()
			r.unindexed = append(append(r.unindexed, file.Packs...), packs...)
			r.mu.Unlock()
			return fmt.Errorf("restic: save index: %w", err)
		}
	}
	return nil
}

// LoadBlob reads a blob: its pack range, decrypted, decompressed and
// checked against its ID. The result reuses buf's storage if it fits.
func (r *Repository) LoadBlob(ctx context.Context, t BlobType, id ID, buf []byte) ([]byte, error) {
	h := BlobHandle{ID: id, Type: t}
	pb, ok := r.idx.Lookup(h)
	if !ok {
		return nil, fmt.Errorf("%w: %v", ErrBlobNotFound, h)
	}
	ph := Handle{Type: PackFile, Name: pb.PackID.String()}
	rd, err := r.be.Load(ctx, ph, int64(pb.Offset), int(pb.Length))
	if err != nil {
		return nil, fmt.Errorf("restic: %v: %w", h, err)
	}
	defer rd.Close()
	var enc []byte
	if pb.Length <= 32<<20 {
		enc = make([]byte, pb.Length)
		_, err = io.ReadFull(rd, enc)
	} else { // grow with what is really there
		enc, err = io.ReadAll(io.LimitReader(rd, int64(pb.Length)))
		if err == nil && len(enc) != int(pb.Length) {
			err = io.ErrUnexpectedEOF
		}
	}
	if err != nil {
		return nil, fmt.Errorf("restic: %v in pack %v at %d: %w", h, pb.PackID.Str(), pb.Offset, err)
	}
	plain, err := r.ciphers.open(enc[:0], enc)
	if err != nil {
		return nil, fmt.Errorf("restic: %v in pack %v at %d: %w", h, pb.PackID.Str(), pb.Offset, err)
	}
	if pb.IsCompressed() {
		out, err := r.z.decompress(plain, int(pb.UncompressedLength), int(pb.UncompressedLength))
		if err != nil {
			return nil, fmt.Errorf("restic: %v in pack %v: %w", h, pb.PackID.Str(), err)
		}
		if len(out) != int(pb.UncompressedLength) {
			return nil, fmt.Errorf("restic: %v in pack %v: %d bytes decompressed, index says %d: %w",
				h, pb.PackID.Str(), len(out), pb.UncompressedLength, ErrFormat)
		}
		plain = out
	}
	if Hash(plain) != id {
		return nil, fmt.Errorf("restic: %v in pack %v: content does not match its ID: %w", h, pb.PackID.Str(), ErrFormat)
	}
	if cap(buf) >= len(plain) {
		buf = buf[:len(plain)]
		copy(buf, plain)
		return buf, nil
	}
	return plain, nil
}

// ListPack reads the header of a pack.
func (r *Repository) ListPack(ctx context.Context, id ID) ([]Blob, error) {
	h := Handle{Type: PackFile, Name: id.String()}
	fi, err := r.be.Stat(ctx, h)
	if err != nil {
		return nil, err
	}
	blobs, err := ReadPackHeader(backendReaderAt{ctx, r.be, h}, fi.Size, r.key)
	if err != nil {
		return nil, fmt.Errorf("restic: pack %v: %w", id.Str(), err)
	}
	return blobs, nil
}

// SaveTree stores a tree blob (nodes sorted by name).
func (r *Repository) SaveTree(ctx context.Context, t *Tree) (ID, error) {
	b, err := EncodeTree(t)
	if err != nil {
		return ID{}, err
	}
	id, _, err := r.SaveBlob(ctx, TreeBlob, b)
	return id, err
}

// LoadTree reads a tree blob.
func (r *Repository) LoadTree(ctx context.Context, id ID) (*Tree, error) {
	b, err := r.LoadBlob(ctx, TreeBlob, id, nil)
	if err != nil {
		return nil, err
	}
	t, err := ParseTree(b)
	if err != nil {
		return nil, fmt.Errorf("restic: tree %v: %w", id.Str(), err)
	}
	return t, nil
}

// SaveFile chunks rd with the repository's chunker and saves each chunk
// as a data blob; it returns the content list and the size.
func (r *Repository) SaveFile(ctx context.Context, rd io.Reader) (IDs, uint64, error) {
	c := r.Chunker(rd)
	buf := make([]byte, chunker.MaxSize)
	var ids IDs
	var size uint64
	for {
		ch, err := c.Next(buf)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, 0, fmt.Errorf("restic: chunk: %w", err)
		}
		id, _, err := r.SaveBlob(ctx, DataBlob, ch.Data)
		if err != nil {
			return nil, 0, err
		}
		ids = append(ids, id)
		size += uint64(ch.Length)
		buf = ch.Data
	}
	if ids == nil {
		ids = IDs{}
	}
	return ids, size, nil
}

// SaveSnapshot stores a snapshot file and returns its ID.
func (r *Repository) SaveSnapshot(ctx context.Context, sn *Snapshot) (ID, error) {
	if sn.Tree == nil {
		return ID{}, errors.New("restic: snapshot without tree")
	}
	id, err := r.SaveJSONUnpacked(ctx, SnapshotFile, sn)
	if err != nil {
		return ID{}, err
	}
	sn.ID = id
	return id, nil
}

// LoadSnapshot reads a snapshot file.
func (r *Repository) LoadSnapshot(ctx context.Context, id ID) (*Snapshot, error) {
	b, err := r.LoadUnpacked(ctx, SnapshotFile, id)
	if err != nil {
		return nil, err
	}
	sn, err := ParseSnapshot(b)
	if err != nil {
		return nil, fmt.Errorf("restic: snapshot %v: %w", id.Str(), err)
	}
	sn.ID = id
	return sn, nil
}

// ListSnapshots loads every snapshot, oldest first.
func (r *Repository) ListSnapshots(ctx context.Context) ([]*Snapshot, error) {
	var ids []ID
	if err := r.List(ctx, SnapshotFile, func(id ID, _ int64) error {
		ids = append(ids, id)
		return nil
	}); err != nil {
		return nil, err
	}
	var out []*Snapshot
	for _, id := range ids {
		sn, err := r.LoadSnapshot(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, sn)
	}
	slices.SortStableFunc(out, func(a, b *Snapshot) int { return a.Time.Compare(b.Time) })
	return out, nil
}
