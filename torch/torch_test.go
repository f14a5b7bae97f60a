package torch_test

import (
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"medzoo/internal/limits"
	"medzoo/internal/testmodules"
	"medzoo/torch"
)

func load(t *testing.T, name string) *torch.Module {
	t.Helper()
	m, err := torch.Load(testmodules.Path(t, name), "cpu")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func tensor(t *testing.T, data []float32, shape ...int64) torch.Tensor {
	t.Helper()
	x, err := torch.FromFloat32(data, shape, "cpu")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { torch.Free(x) })
	return x
}

func values(t *testing.T, x torch.Tensor) ([]int64, []float32) {
	t.Helper()
	shape, err := torch.Shape(x)
	if err != nil {
		t.Fatal(err)
	}
	n := int64(1)
	for _, d := range shape {
		n *= d
	}
	out := make([]float32, n)
	if err := torch.CopyFloat32(x, out); err != nil {
		t.Fatal(err)
	}
	return shape, out
}

func TestForwardSingleTensor(t *testing.T) {
	m := load(t, "affine.pt")
	x := tensor(t, []float32{0, 1, -2, 3.5, 4, 5}, 2, 3)
	res, err := m.Forward(x)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	if len(res.Tensors) != 1 || res.Names != nil {
		t.Fatalf("got %d tensors, names %v; want 1 unnamed", len(res.Tensors), res.Names)
	}
	shape, got := values(t, res.Tensors[0])
	if len(shape) != 2 || shape[0] != 2 || shape[1] != 3 {
		t.Fatalf("shape %v, want [2 3]", shape)
	}
	if want := []float32{1, 3, -3, 8, 9, 11}; !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestForwardTupleAndDict(t *testing.T) {
	x := tensor(t, []float32{-1, 2}, 2)
	res, err := load(t, "pair.pt").Forward(x)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	if len(res.Tensors) != 2 {
		t.Fatalf("pair: %d outputs, want 2", len(res.Tensors))
	}
	if _, v := values(t, res.Tensors[1]); !slices.Equal(v, []float32{-2, 4}) {
		t.Fatalf("pair second output %v", v)
	}

	named, err := load(t, "named.pt").Forward(x)
	if err != nil {
		t.Fatal(err)
	}
	defer named.Close()
	if strings.Join(named.Names, ",") != "image,mask" {
		t.Fatalf("names %v, want [image mask]", named.Names)
	}
	if _, v := values(t, named.Tensors[1]); !slices.Equal(v, []float32{0, 1}) {
		t.Fatalf("mask %v, want [0 1]", v)
	}
}

func TestForwardEmptyList(t *testing.T) {
	res, err := load(t, "empty_list.pt").Forward(tensor(t, make([]float32, 8), 1, 8))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	if len(res.Tensors) != 0 || res.Names != nil {
		t.Fatalf("got %d tensors, names %v; want none", len(res.Tensors), res.Names)
	}
}

func TestForwardTwoInputsWithInt64(t *testing.T) {
	z := tensor(t, []float32{0.5, 0.5, 1, 1}, 2, 2)
	c, err := torch.FromInt64([]int64{1, 3}, []int64{2}, "cpu")
	if err != nil {
		t.Fatal(err)
	}
	defer torch.Free(c)
	res, err := load(t, "cond_add.pt").Forward(z, c)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	if _, v := values(t, res.Tensors[0]); !slices.Equal(v, []float32{1.5, 1.5, 4, 4}) {
		t.Fatalf("got %v", v)
	}
}

// TestMatchesPython checks values computed by LibTorch from Go against the
// values python3-torch computed for the same module and input.
func TestMatchesPython(t *testing.T) {
	raw, err := os.ReadFile(testmodules.Path(t, "tiny_generator_expected.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var want []float32
	for _, f := range strings.Fields(string(raw)) {
		v, err := strconv.ParseFloat(f, 64)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, float32(v))
	}
	z := make([]float32, 16)
	for i := range z {
		z[i] = float32(i) / 10
	}
	res, err := load(t, "tiny_generator.pt").Forward(tensor(t, z, 2, 8))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	shape, got := values(t, res.Tensors[0])
	if len(shape) != 4 || shape[0] != 2 || shape[1] != 1 || shape[2] != 4 || shape[3] != 4 {
		t.Fatalf("shape %v", shape)
	}
	for i := range want {
		if math.Abs(float64(got[i]-want[i])) > 1e-6 {
			t.Fatalf("value %d: Go %v, Python %v", i, got[i], want[i])
		}
	}
}

func TestErrorsNeverCrash(t *testing.T) {
	dir := testmodules.Dir(t)
	for _, tc := range []struct {
		file, want string
	}{
		{"truncated.pt", "truncated.pt is truncated or corrupt"},
		{"garbage.pt", "garbage.pt is not a TorchScript module (not a zip archive"},
		{"empty.pt", "empty.pt is empty (0 bytes), not a TorchScript module"},
		{"state_dict.pt", "state_dict.pt is a PyTorch state dict"},
		{"pickled_module.pt", "pickled_module.pt is a pickled Python object (torch.save(model))"},
		{"does-not-exist.pt", "does-not-exist.pt"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			m, err := torch.Load(filepath.Join(dir, tc.file), "cpu")
			if err == nil {
				m.Close()
				t.Fatal("loaded a broken file without error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not name the file", err)
			}
		})
	}

	x := tensor(t, []float32{-1}, 1)
	if _, err := load(t, "boom.pt").Forward(x); err == nil || !strings.Contains(err.Error(), "negative input is not allowed") {
		t.Fatalf("raising module: err = %v, want the module's message", err)
	}
	if _, err := load(t, "not_tensor.pt").Forward(x); err == nil || !strings.Contains(err.Error(), "want a Tensor") {
		t.Fatalf("non-tensor output: err = %v", err)
	}
	// A wrong input arity is a TorchScript schema error, not a crash.
	if _, err := load(t, "cond_add.pt").Forward(x); err == nil {
		t.Fatal("forward with a missing argument succeeded")
	}
	if _, err := torch.FromFloat32([]float32{1, 2, 3}, []int64{2, 2}, "cpu"); err == nil {
		t.Fatal("shape/data mismatch accepted")
	}
	if _, err := torch.FromFloat32([]float32{1}, []int64{1}, "nonsense:7"); err == nil {
		t.Fatal("bad device accepted")
	}
	dst := make([]float32, 5)
	if err := torch.CopyFloat32(x, dst); err == nil {
		t.Fatal("copy into a buffer of the wrong size succeeded")
	}
}

func TestClosedAndFreed(t *testing.T) {
	m, err := torch.Load(testmodules.Path(t, "affine.pt"), "cpu")
	if err != nil {
		t.Fatal(err)
	}
	m.Close()
	m.Close() // idempotent
	x := tensor(t, []float32{1}, 1)
	if _, err := m.Forward(x); err != torch.ErrClosed {
		t.Fatalf("forward on closed module: %v", err)
	}
	y, _ := torch.FromFloat32([]float32{1}, []int64{1}, "cpu")
	torch.Free(y)
	torch.Free(y) // harmless
	if _, err := torch.Shape(y); err == nil {
		t.Fatal("shape of freed tensor succeeded")
	}
	if _, err := load(t, "affine.pt").Forward(y); err == nil {
		t.Fatal("forward on a freed tensor succeeded")
	}
}

func TestConcurrentForward(t *testing.T) {
	m := load(t, "affine.pt")
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			x, err := torch.FromFloat32([]float32{float32(g)}, []int64{1}, "cpu")
			if err != nil {
				errs <- err
				return
			}
			defer torch.Free(x)
			res, err := m.Forward(x)
			if err != nil {
				errs <- err
				return
			}
			defer res.Close()
			out := make([]float32, 1)
			if err := torch.CopyFloat32(res.Tensors[0], out); err != nil {
				errs <- err
				return
			}
			if out[0] != float32(2*g+1) {
				errs <- &mismatch{g, out[0]}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

type mismatch struct {
	g   int
	got float32
}

func (m *mismatch) Error() string {
	return "goroutine " + strconv.Itoa(m.g) + " got " + strconv.FormatFloat(float64(m.got), 'g', -1, 32)
}

func TestDevices(t *testing.T) {
	if d, err := torch.ResolveDevice("cpu"); err != nil || d != "cpu" {
		t.Fatalf("cpu: %q %v", d, err)
	}
	auto, err := torch.ResolveDevice("auto")
	if err != nil {
		t.Fatal(err)
	}
	cuda, err := torch.CUDAAvailable()
	if err != nil {
		t.Fatal(err)
	}
	if cuda {
		if n, err := torch.CUDADeviceCount(); err != nil || n < 1 {
			t.Fatalf("CUDA available but %d devices (%v)", n, err)
		}
		if auto != "cuda:0" {
			t.Fatalf("auto with CUDA = %q", auto)
		}
	} else {
		if auto != "cpu" {
			t.Fatalf("auto without CUDA = %q", auto)
		}
		if _, err := torch.ResolveDevice("cuda:0"); err == nil || !strings.Contains(err.Error(), "--device cpu") {
			t.Fatalf("cuda:0 without CUDA: %v", err)
		}
	}
	for _, bad := range []string{"gpu", "cuda:x", "cuda:-1", "tpu:0"} {
		if _, err := torch.ResolveDevice(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	m := load(t, "affine.pt")
	if err := m.To(auto); err != nil {
		t.Fatal(err)
	}
}

func threads(t *testing.T) int {
	t.Helper()
	n, err := torch.Threads()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestThreads: what SetThreads sets is what Threads reads back, with 0
// meaning OMP_NUM_THREADS (or one per core) and counts above the machine's
// bound lowered to it.
func TestThreads(t *testing.T) {
	old := threads(t)
	defer torch.SetThreads(old)
	max := limits.MaxThreadsHere()
	t.Setenv("OMP_NUM_THREADS", "2")
	for _, tc := range []struct{ set, want int }{
		{1, 1},
		{2, min(2, max)},
		{max, max},
		{max + 1000, max},
		{0, min(2, max)},
		{-3, min(2, max)},
	} {
		if err := torch.SetThreads(tc.set); err != nil {
			t.Fatalf("SetThreads(%d): %v", tc.set, err)
		}
		if got := threads(t); got != tc.want {
			t.Errorf("Threads() = %d after SetThreads(%d), want %d", got, tc.set, tc.want)
		}
	}
}

// TestNotTorchScriptSaysWhatToDo: LibTorch's own words for these files
// ("PytorchStreamReader failed locating file constants.pkl") name an archive
// member, not the mistake or its fix.
func TestNotTorchScriptSaysWhatToDo(t *testing.T) {
	for _, f := range []string{"state_dict.pt", "pickled_module.pt", "garbage.pt"} {
		_, err := torch.Load(testmodules.Path(t, f), "cpu")
		if err == nil || strings.Contains(err.Error(), "constants.pkl") ||
			!strings.Contains(err.Error(), "zoo import") || !strings.Contains(err.Error(), "scripts/export_generator.py") {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func TestLoadRefusesFIFO(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "m.pt")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skip("no FIFOs:", err)
	}
	// LibTorch would block opening it until a writer came.
	if _, err := torch.Load(fifo, "cpu"); err == nil || !strings.Contains(err.Error(), "m.pt") || !strings.Contains(err.Error(), "FIFO") {
		t.Fatalf("err = %v", err)
	}
}

func TestDType(t *testing.T) {
	z := tensor(t, make([]float32, 8), 1, 8)
	for _, tc := range []struct{ module, want string }{
		{"tiny_generator.pt", "Float"},
		{"double_out.pt", "Double"},
		{"half_out.pt", "Half"},
		{"int64_out.pt", "Long"},
		{"bool_out.pt", "Bool"},
		{"complex_out.pt", "ComplexFloat"},
	} {
		res, err := load(t, tc.module).Forward(z)
		if err != nil {
			t.Fatalf("%s: %v", tc.module, err)
		}
		got, err := torch.DType(res.Tensors[0])
		res.Close()
		if err != nil || got != tc.want {
			t.Errorf("%s: DType = %q, %v; want %q", tc.module, got, err, tc.want)
		}
	}
	if !torch.IsFloatingDType("Half") || torch.IsFloatingDType("Long") || !torch.IsComplexDType("ComplexDouble") {
		t.Error("dtype classes wrong")
	}
}

func TestShapeProductChecked(t *testing.T) {
	// [2^32, 2^32] wraps to 0 unchecked and would match empty data.
	if _, err := torch.FromFloat32(nil, []int64{1 << 32, 1 << 32}, "cpu"); err == nil {
		t.Fatal("a wrapping shape was accepted for empty data")
	}
}

// rss returns the process's resident memory in bytes.
func rss(t *testing.T) int64 {
	t.Helper()
	raw, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Skip("no /proc/self/statm:", err)
	}
	f := strings.Fields(string(raw))
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return pages * int64(os.Getpagesize())
}

// TestFailedForwardFreesOutputs: tensors_then_int.pt returns two fresh
// 8 MiB tensors and then an int, which the shim refuses after it has made
// outputs of the tensors. Had it kept them, 40 calls would hold 640 MiB.
func TestFailedForwardFreesOutputs(t *testing.T) {
	m := load(t, "tensors_then_int.pt")
	x := tensor(t, []float32{1}, 1)
	forward := func() {
		t.Helper()
		res, err := m.Forward(x)
		if err == nil {
			res.Close()
			t.Fatal("a tuple holding an int was accepted")
		}
		if !strings.Contains(err.Error(), "tuple holding a Int, want only Tensors") {
			t.Fatalf("err = %v, want the tuple refused", err)
		}
	}
	for i := 0; i < 3; i++ { // the first calls pay for LibTorch's lazy set-up
		forward()
	}
	runtime.GC()
	before := rss(t)
	const calls, each = 40, 2 * 8 << 20
	for i := 0; i < calls; i++ {
		forward()
	}
	runtime.GC()
	grown := rss(t) - before
	t.Logf("resident memory grew %d KiB over %d failed forwards", grown>>10, calls)
	if grown > calls*each/4 {
		t.Fatalf("resident memory grew %d MiB over %d failed forwards (%d MiB if every output leaked)",
			grown>>20, calls, calls*each>>20)
	}
}

// TestHandlesSurviveFinalizers: tensors used once and never freed become
// garbage while Shape, DType, CopyFloat32 and Forward still pass their
// handles to LibTorch; with the collector running all the time, a finalizer
// that deleted a handle mid-call would show as a wrong value or a crash.
// Run it under -race too (go test -race -run TestHandlesSurviveFinalizers).
func TestHandlesSurviveFinalizers(t *testing.T) {
	m := load(t, "affine.pt")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				runtime.GC()
			}
		}
	}()
	defer func() { close(stop); wg.Wait() }()

	for i := 0; i < 2000; i++ {
		n := 1 + i%64
		data := make([]float32, n)
		for j := range data {
			data[j] = float32(i + j)
		}
		mk := func() torch.Tensor {
			x, err := torch.FromFloat32(data, []int64{1, int64(n)}, "cpu")
			if err != nil {
				t.Fatal(err)
			}
			return x
		}
		if shape, err := torch.Shape(mk()); err != nil || len(shape) != 2 || shape[1] != int64(n) {
			t.Fatalf("iteration %d: shape %v, %v; want [1 %d]", i, shape, err, n)
		}
		if d, err := torch.DType(mk()); err != nil || d != torch.Float32 {
			t.Fatalf("iteration %d: dtype %q, %v", i, d, err)
		}
		got := make([]float32, n)
		if err := torch.CopyFloat32(mk(), got); err != nil || !slices.Equal(got, data) {
			t.Fatalf("iteration %d: copy %v, %v; want %v", i, got, err, data)
		}
		res, err := m.Forward(mk())
		if err != nil {
			t.Fatalf("iteration %d: %v", i, err)
		}
		if err := torch.CopyFloat32(res.Tensors[0], got); err != nil || got[n-1] != 2*data[n-1]+1 {
			t.Fatalf("iteration %d: forward gave %v, %v", i, got, err)
		}
	}
}
