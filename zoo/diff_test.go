package zoo

import (
	"reflect"
	"testing"
)

func mustParse(t *testing.T, text, source string) *Catalog {
	t.Helper()
	c, err := Parse([]byte(text), source)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestDiff(t *testing.T) {
	const sha1 = "1111111111111111111111111111111111111111111111111111111111111111"
	const sha2 = "2222222222222222222222222222222222222222222222222222222222222222"
	runnable := func(id, version, sha, extra string) string {
		return "[[model]]\nid = \"" + id + "\"\ntitle = \"T\"\nversion = \"" + version + "\"\n" + extra +
			"[model.artifact]\nurl = \"m.pt\"\nformat = \"torchscript\"\nsha256 = \"" + sha + "\"\n" +
			"[model.signature]\nlatent = [100]\n[[model.signature.outputs]]\nname = \"image\"\nkind = \"image\"\nchannels = 1\nheight = 64\nwidth = 64\n"
	}
	old := mustParse(t, "schema = 1\n"+
		runnable("90001_A", "1.0.0", sha1, "")+
		runnable("90002_B", "1.0.0", sha1, "")+
		runnable("90003_Gone", "1.0.0", sha1, ""), "old.toml")
	new := mustParse(t, "schema = 1\n"+
		runnable("90001_A", "1.0.0", sha1, "")+ // the same
		runnable("90002_b", "1.1.0", sha2, "tags = [\"new\"]\n")+
		"[model.metrics.\"SEG.dice\"]\nvalue = 0.8\ndirection = \"higher\"\n"+
		runnable("90004_New", "1.0.0", sha1, ""), "new.toml")
	new.Models[1].Signature.Outputs[0].Height = 128

	d := Diff(old, new)
	if d.Equal() {
		t.Fatal("Equal for different catalogs")
	}
	if !reflect.DeepEqual(d.Removed, []DiffEntry{{"90003_Gone", "old.toml", 34}}) ||
		!reflect.DeepEqual(d.Added, []DiffEntry{{"90004_New", "new.toml", 38}}) {
		t.Errorf("removed %v, added %v", d.Removed, d.Added)
	}
	if len(d.Changed) != 1 || d.Changed[0].ID != "90002_b" {
		t.Fatalf("changed %+v", d.Changed)
	}
	var keys []string
	for _, f := range d.Changed[0].Fields {
		keys = append(keys, f.Key)
	}
	want := []string{"id", "version", "tags", `metrics."SEG.dice".value`, `metrics."SEG.dice".direction`, "artifact.sha256", "signature.outputs[0].height"}
	if !reflect.DeepEqual(keys, want) {
		t.Errorf("changed fields %q, want %q", keys, want)
	}
	f := d.Changed[0].Fields
	if f[0].Old != "90002_B" || f[0].New != "90002_b" || f[1].Old != "1.0.0" || f[1].New != "1.1.0" ||
		f[2].Old != nil || !reflect.DeepEqual(f[2].New, []string{"new"}) || f[3].New != 0.8 ||
		f[5].Old != sha1 || f[5].New != sha2 || f[6].Old != 64 || f[6].New != 128 {
		t.Errorf("values: %+v", f)
	}

	// A catalog against itself, and the embedded one against its own text.
	if d := Diff(new, new); !d.Equal() {
		t.Errorf("a catalog differs from itself: %+v", d)
	}
	emb, err := Embedded()
	if err != nil {
		t.Fatal(err)
	}
	again := mustParse(t, string(EmbeddedTOML()), "zoo.toml")
	if d := Diff(emb, again); !d.Equal() {
		t.Errorf("the embedded catalog differs from its text: %+v", d)
	}
	// Reversed, added and removed swap.
	r := Diff(new, old)
	if len(r.Added) != 1 || r.Added[0].ID != "90003_Gone" || len(r.Removed) != 1 || r.Removed[0].ID != "90004_New" {
		t.Errorf("reversed: %+v", r)
	}
}
