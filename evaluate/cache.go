package evaluate

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"path/filepath"

	"medzoo/internal/files"
)

func digest(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// featureCache stores the features of one set under a key made of the
// set's fingerprint, the extractor's digest and the preprocessing: change
// any of them and the features are computed again.
type featureCache struct {
	dir string // "" disables it
}

const featureMagic = "MZFEAT1\n"

func (c featureCache) path(key string) string {
	return filepath.Join(c.dir, "features", key+".f32")
}

// load returns cached rows (n×dim), or ok = false.
func (c featureCache) load(key string, n, dim int) ([]float32, bool) {
	if c.dir == "" {
		return nil, false
	}
	f, err := files.OpenNoFollow(c.path(key))
	if err != nil {
		return nil, false
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	head := make([]byte, len(featureMagic)+16)
	if _, err := io.ReadFull(r, head); err != nil || string(head[:len(featureMagic)]) != featureMagic {
		return nil, false
	}
	gotN := binary.LittleEndian.Uint64(head[len(featureMagic):])
	gotD := binary.LittleEndian.Uint64(head[len(featureMagic)+8:])
	if gotN != uint64(n) || gotD != uint64(dim) {
		return nil, false
	}
	raw := make([]byte, 4*n*dim)
	if _, err := io.ReadFull(r, raw); err != nil {
		return nil, false
	}
	rows := make([]float32, n*dim)
	for i := range rows {
		rows[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return rows, true
}

// notesPath holds the warnings that extracting the features gave (what a
// reference protocol's reading lost), which a cached set must show too.
func (c featureCache) notesPath(key string) string {
	return filepath.Join(c.dir, "features", key+".notes.json")
}

// loadNotes returns the warnings stored with the features, if any.
func (c featureCache) loadNotes(key string) []string {
	f, err := files.OpenNoFollow(c.notesPath(key))
	if err != nil {
		return nil
	}
	defer f.Close()
	var notes []string
	data, err := io.ReadAll(io.LimitReader(f, 1<<20))
	if err != nil || json.Unmarshal(data, &notes) != nil {
		return nil
	}
	return notes
}

// store writes rows atomically (temporary file, then rename), so a killed
// run never leaves a truncated entry that a later run would trust; the
// notes first, so that features are never found without them.
func (c featureCache) store(key string, rows []float32, n, dim int, notes []string) error {
	if c.dir == "" {
		return nil
	}
	if len(notes) > 0 {
		data, err := json.Marshal(notes)
		if err != nil {
			return err
		}
		if err := files.WriteAtomicBytes(c.notesPath(key), data); err != nil {
			return fmt.Errorf("feature cache: %w", err)
		}
	}
	err := files.WriteAtomic(c.path(key), func(out io.Writer) error {
		w := bufio.NewWriterSize(out, 1<<20)
		head := make([]byte, 16)
		binary.LittleEndian.PutUint64(head, uint64(n))
		binary.LittleEndian.PutUint64(head[8:], uint64(dim))
		w.WriteString(featureMagic)
		w.Write(head)
		var b [4]byte
		for _, v := range rows {
			binary.LittleEndian.PutUint32(b[:], math.Float32bits(v))
			w.Write(b[:])
		}
		return w.Flush()
	})
	if err != nil {
		return fmt.Errorf("feature cache: %w", err)
	}
	return nil
}
