package ntfs

import (
	"errors"
	"fmt"
	"strconv"
)

// ErrFormat is matched (errors.Is) by every error that says the volume, or
// one of its structures, is not valid NTFS.
var ErrFormat = errors.New("ntfs: invalid format")

// ErrUnsupported is matched by read errors on content grain cannot decode
// (encrypted, deduplicated, unsupported compression).
var ErrUnsupported = errors.New("ntfs: unsupported content")

// FormatError describes a structure that is wrong: where it is and why.
type FormatError struct {
	Where string // "boot sector", "MFT record 17", "index block 3 of MFT record 5"…
	Msg   string
}

func (e *FormatError) Error() string { return "ntfs: " + e.Where + ": " + e.Msg }

// Unwrap makes errors.Is(err, ErrFormat) true.
func (e *FormatError) Unwrap() error { return ErrFormat }

// recordWhere names MFT record num for errors (built for every record
// read, so without fmt).
func recordWhere(num uint64) string { return "MFT record " + strconv.FormatUint(num, 10) }

func formatErr(where, format string, args ...any) error {
	return &FormatError{Where: where, Msg: fmt.Sprintf(format, args...)}
}

type unsupportedError struct{ msg string }

func (e *unsupportedError) Error() string { return "ntfs: " + e.msg }
func (e *unsupportedError) Unwrap() error { return ErrUnsupported }
