//go:build !(linux || darwin || freebsd || netbsd || openbsd)

package search

import "os"

func mapFileAt(path string) ([]byte, func() error, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	return data, func() error { return nil }, nil
}
