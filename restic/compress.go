package restic

import (
	"fmt"
	"runtime"

	"github.com/klauspost/compress/zstd"
)

// maxDecompressed bounds any decompressed blob or file (1 GiB): far above
// restic's largest blobs (chunks up to 8 MiB, trees of huge directories)
// and index files.
const maxDecompressed = 1 << 30

// unpackedVersion2 is the first byte of a compressed JSON file in version
// 2 repositories; uncompressed ones start with '{' or '['.
const unpackedVersion2 = 2

type zstdCodec struct {
	enc *zstd.Encoder
	dec *zstd.Decoder
}

func newZstdCodec() (*zstdCodec, error) {
	n := min(runtime.GOMAXPROCS(0), 4)
	// restic's "auto" compression: the default level, no frame checksum
	// (blobs are authenticated and hashed anyway), a 512 KiB window. One
	// encoder per core, so that parallel savers do not wait for one.
	enc, err := zstd.NewWriter(nil,
		zstd.WithEncoderLevel(zstd.SpeedDefault),
		zstd.WithEncoderCRC(false),
		zstd.WithWindowSize(512<<10),
		zstd.WithEncoderConcurrency(max(runtime.GOMAXPROCS(0), 2)),
		zstd.WithLowerEncoderMem(true))
	if err != nil {
		return nil, fmt.Errorf("restic: zstd encoder: %w", err)
	}
	dec, err := zstd.NewReader(nil,
		// Trees are loaded by a goroutine per core and the caller.
		zstd.WithDecoderConcurrency(n+1),
		zstd.WithDecoderMaxMemory(maxDecompressed),
		zstd.WithDecoderMaxWindow(maxDecompressed))
	if err != nil {
		return nil, fmt.Errorf("restic: zstd decoder: %w", err)
	}
	return &zstdCodec{enc: enc, dec: dec}, nil
}

func (z *zstdCodec) compress(dst, src []byte) []byte { return z.enc.EncodeAll(src, dst) }

// decompress decodes src, refusing output longer than limit. A frame that
// declares its size is checked before decoding.
func (z *zstdCodec) decompress(src []byte, limit int, sizeHint int) ([]byte, error) {
	var h zstd.Header
	if err := h.Decode(src); err != nil {
		return nil, fmt.Errorf("restic: zstd: %v: %w", err, ErrFormat)
	}
	if h.HasFCS && h.FrameContentSize > uint64(limit) {
		return nil, fmt.Errorf("restic: zstd: frame of %d bytes above limit %d: %w", h.FrameContentSize, limit, ErrFormat)
	}
	out, err := z.dec.DecodeAll(src, make([]byte, 0, min(sizeHint, limit)))
	if err != nil {
		return nil, fmt.Errorf("restic: zstd: %v: %w", err, ErrFormat)
	}
	if len(out) > limit {
		return nil, fmt.Errorf("restic: zstd: %d bytes above limit %d: %w", len(out), limit, ErrFormat)
	}
	return out, nil
}
