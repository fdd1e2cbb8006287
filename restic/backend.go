package restic

import (
	"context"
	"fmt"
	"io"
)

// FileType names the kinds of files in a repository.
type FileType int

// The repository's file types and where they live.
const (
	ConfigFile   FileType = iota // config
	KeyFile                      // keys/ID
	LockFile                     // locks/ID
	SnapshotFile                 // snapshots/ID
	IndexFile                    // index/ID
	PackFile                     // data/XX/ID
)

func (t FileType) String() string {
	switch t {
	case ConfigFile:
		return "config"
	case KeyFile:
		return "key"
	case LockFile:
		return "lock"
	case SnapshotFile:
		return "snapshot"
	case IndexFile:
		return "index"
	case PackFile:
		return "data"
	}
	return fmt.Sprintf("filetype(%d)", int(t))
}

// Dir is the folder of the file type in restic's default layout (empty for
// the config file).
func (t FileType) Dir() string {
	switch t {
	case KeyFile:
		return "keys"
	case LockFile:
		return "locks"
	case SnapshotFile:
		return "snapshots"
	case IndexFile:
		return "index"
	case PackFile:
		return "data"
	}
	return ""
}

// Handle names one file of a backend. The config file has an empty Name.
type Handle struct {
	Type FileType
	Name string
}

func (h Handle) String() string {
	if h.Type == ConfigFile {
		return "config"
	}
	return h.Type.Dir() + "/" + h.Name
}

// FileInfo is what List and Stat report about a file.
type FileInfo struct {
	Name string
	Size int64
}

// Backend stores a repository's files. Implementations must be safe for
// concurrent use. A file that does not exist is reported by an error that
// satisfies errors.Is(err, fs.ErrNotExist).
type Backend interface {
	// Save stores a whole file. Files are immutable: a name is saved once.
	Save(ctx context.Context, h Handle, data []byte) error
	// Load opens length bytes of the file from offset; length 0 reads to
	// the end. Reading fewer bytes than asked is an error of the reader.
	Load(ctx context.Context, h Handle, offset int64, length int) (io.ReadCloser, error)
	// Stat returns the file's size.
	Stat(ctx context.Context, h Handle) (FileInfo, error)
	// List calls fn for each file of the type, stopping at fn's first error.
	List(ctx context.Context, t FileType, fn func(FileInfo) error) error
	// Remove deletes a file.
	Remove(ctx context.Context, h Handle) error
}
