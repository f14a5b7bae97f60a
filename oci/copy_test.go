package oci

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"testing/iotest"
)

// copyHashing hashes in another goroutine while it copies: whatever the
// size (empty, under, at and over its chunk size) and however the reader
// splits it, the copy and the digest equal those of the bytes; a reader's
// error is returned with what was copied before it.
func TestCopyHashing(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 1<<20 - 1, 1 << 20, 1<<20 + 1, 5<<20 + 12345} {
		data := make([]byte, n)
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		want := sha256.Sum256(data)
		for name, r := range map[string]io.Reader{
			"whole":    bytes.NewReader(data),
			"one byte": iotest.OneByteReader(bytes.NewReader(data[:min(n, 3000)])),
			"half":     iotest.HalfReader(bytes.NewReader(data)),
		} {
			src := data
			if name == "one byte" {
				src = data[:min(n, 3000)]
				want = sha256.Sum256(src)
			} else {
				want = sha256.Sum256(data)
			}
			var out bytes.Buffer
			got, digest, err := copyHashing(&out, r)
			if err != nil || got != int64(len(src)) || !bytes.Equal(out.Bytes(), src) || digest != hex.EncodeToString(want[:]) {
				t.Errorf("%d bytes, %s: copied %d, err %v, digest %s", n, name, got, err, digest)
			}
		}
	}
	boom := errors.New("connection reset")
	var out bytes.Buffer
	n, _, err := copyHashing(&out, io.MultiReader(bytes.NewReader(make([]byte, 3<<20)), iotest.ErrReader(boom)))
	if !errors.Is(err, boom) || n != 3<<20 || out.Len() != 3<<20 {
		t.Errorf("a failing reader: copied %d (%d written), err %v", n, out.Len(), err)
	}
}
