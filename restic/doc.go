// Package restic reads and writes restic repositories (format versions 1
// and 2) so that grain's backups can be read by restic, rustic, Backrest and
// rest-server, and so that grain can read what restic wrote.
//
// The format follows restic's design document (doc/design.rst) and was
// checked against the restic binary: key files (scrypt), the master key,
// AES-256-CTR encryption authenticated by Poly1305-AES, the config file,
// pack files with their encrypted headers, index files, tree blobs,
// snapshots and lock files. Version 2 repositories compress blobs and JSON
// files with zstd. Content-defined chunking uses the repository's
// polynomial (github.com/restic/chunker).
//
// A Repository is opened on a Backend; LocalBackend stores files in a
// directory laid out as restic's local backend does. Other backends (SFTP,
// REST, S3) fit the same interface.
//
// Not done here: pruning, repacking, key management beyond adding the
// first key, legacy (pre-0.8) index files are read but never written.
package restic
