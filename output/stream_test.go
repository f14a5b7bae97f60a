package output

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// A stream receives what a directory run writes, byte for byte: the run
// record first, each sample's files in index order whatever order the
// samples finish in, and the manifest last, once the run is complete.
func TestStreamWritesWhatOpenWrites(t *testing.T) {
	info := RunInfo{Model: "00103_TEST", SHA256: strings.Repeat("cd", 32), Seed: 3, N: 4, Format: "npy",
		Outputs: []string{"image", "mask"}, Conditions: map[string]string{"plane": "axial"}, Generator: "zoo test"}
	dir := t.TempDir()
	run, err := Open(dir, info, Fresh)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	got := map[string]string{}
	stream, err := OpenStream(info, func(name string, data []byte) error {
		order = append(order, name)
		got[name] = string(data)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{2, 0, 3, 1} { // out of order, as a writer's pool finishes them
		for _, r := range []*Run{run, stream} {
			rec := Record{Index: i, Files: map[string]string{}, Model: info.Model, SHA256: info.SHA256, Seed: 3, Synthetic: true}
			for _, out := range []string{"mask", "image"} {
				name := r.FileName(i, out, ".npy")
				buf := []byte(fmt.Sprintf("sample %d %s", i, out))
				if err := r.WriteFile(name, buf); err != nil {
					t.Fatal(err)
				}
				copy(buf, "reused!") // the writer's buffer serves the next file
				rec.Files[out] = name
			}
			if err := r.Commit(rec); err != nil {
				t.Fatal(err)
			}
		}
		if i == 2 && len(order) != 1 {
			t.Fatalf("samples sent before sample 0 was committed: %v", order)
		}
	}
	if err := run.Close(); err != nil {
		t.Fatal(err)
	}
	if err := stream.Close(); err != nil {
		t.Fatal(err)
	}
	want := []string{RunFile, "00000_image.npy", "00000_mask.npy", "00001_image.npy", "00001_mask.npy",
		"00002_image.npy", "00002_mask.npy", "00003_image.npy", "00003_mask.npy", ManifestFile}
	if !reflect.DeepEqual(order, want) {
		t.Errorf("stream order %v, want %v", order, want)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != len(got) {
		t.Errorf("directory holds %d files, the stream %d", len(entries), len(got))
	}
	for _, e := range entries {
		disk, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if got[e.Name()] != string(disk) {
			t.Errorf("%s: stream sent %q, directory holds %q", e.Name(), got[e.Name()], disk)
		}
	}
}

// A stream that ends before its last sample never sends a manifest, which
// would claim the run complete.
func TestStreamIncompleteSendsNoManifest(t *testing.T) {
	var sent []string
	r, err := OpenStream(RunInfo{Model: "m", N: 2, Format: "png", Outputs: []string{"image"}}, func(name string, _ []byte) error {
		sent = append(sent, name)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.WriteFile("00000.png", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := r.Commit(Record{Index: 0, Files: map[string]string{"image": "00000.png"}}); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err == nil || !strings.Contains(err.Error(), "1 of 2 samples") {
		t.Errorf("closing a stream of 1 of 2 samples: %v", err)
	}
	if want := []string{RunFile, "00000.png"}; !reflect.DeepEqual(sent, want) {
		t.Errorf("sent %v, want %v", sent, want)
	}
}
