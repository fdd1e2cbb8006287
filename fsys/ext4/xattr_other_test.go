//go:build !linux

package ext4

import "errors"

func setxattr(path, name string, value []byte) error {
	return errors.New("setxattr: not supported here")
}
