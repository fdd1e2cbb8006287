//go:build !linux

package lznt1

import "errors"

// setCompressed needs ntfs-3g's extended attributes: Linux only.
func setCompressed(string) error { return errors.New("needs Linux") }
