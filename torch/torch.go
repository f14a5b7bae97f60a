// Package torch is medzoo's only cgo package: it loads TorchScript modules
// through LibTorch, moves them between devices, runs forward and converts
// tensors to and from Go memory. Tensors are gotorch tensors; TorchScript,
// which gotorch lacks, is implemented by the C++ shim beside this file.
//
// Every C++ exception comes back as a Go error. Large buffers are freed
// deterministically with Close/Free; gotorch's finalizers remain only as a
// safety net for handles a caller forgets.
package torch

// The shim is compiled by cgo from shim.cc. libcgotorch.so (gotorch's C++
// half) is built by the Makefile into ../lib; the rpath lets binaries and
// test binaries built in this tree find it without LD_LIBRARY_PATH.
//
// Warnings are on, and shim.cc compiles without any: a new one is a bug to
// look at (e.g. a signed size reaching memcpy), so nothing is silenced.
// Debian's LibTorch headers add none (checked with these flags).

// #cgo CXXFLAGS: -std=c++17 -O2 -Wall -Wextra -Wshadow -Wconversion -Wsign-conversion -I/usr/include/torch/csrc/api/include
// #cgo LDFLAGS: -L${SRCDIR}/../lib -Wl,-rpath,${SRCDIR}/../lib -lcgotorch -ltorch -ltorch_cpu -lc10 -lstdc++
// #include <stdlib.h>
// #include "shim.h"
import "C"

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	gotorch "github.com/wangkuiyi/gotorch"

	"medzoo/internal/envconfig"
	"medzoo/internal/limits"
)

// Tensor is gotorch's tensor handle.
type Tensor = gotorch.Tensor

// shimError converts a shim error string into a Go error and frees it.
func shimError(what string, msg *C.char) error {
	if msg == nil {
		return nil
	}
	defer C.zt_free_string(msg)
	return fmt.Errorf("%s: %s", what, strings.TrimSpace(C.GoString(msg)))
}

func init() {
	// gotorch's init halves LibTorch's intra-op threads (NumCPU/2) unless
	// OMP_NUM_THREADS is set; generation wants every core by default. init
	// cannot return an error: should LibTorch refuse, it keeps gotorch's
	// count, which works, and commands given --threads report the error.
	_ = SetThreads(0)
	// OpenBLAS splits a matrix product differently for different numbers of
	// its own threads, which it takes from OPENBLAS_NUM_THREADS or
	// OMP_NUM_THREADS, else the machine's core count: the same sample then
	// differs in a few pixels between a laptop and a 64-core node, or between
	// a Slurm task that exports OMP_NUM_THREADS=1 and a process that does
	// not. One BLAS thread is the only count every machine can have, and it
	// costs nothing here: LibTorch's own intra-op threads (SetThreads, which
	// do not change results) parallelise around the products, and nested
	// BLAS threads only oversubscribed the cores (zoo generate 101 -n 640:
	// 3.6 s pinned, 4.8 s unpinned on 2 cores).
	BLASThreadsPinned = int(C.zt_pin_blas_threads()) > 0
}

// BLASThreadsPinned says whether the BLAS library's own thread pool was
// found and pinned to one thread (init), which makes results independent
// of OPENBLAS_NUM_THREADS, OMP_NUM_THREADS and the core count.
var BLASThreadsPinned bool

// SetThreads sets LibTorch's intra-op thread count; n <= 0 means one per CPU
// core (or OMP_NUM_THREADS when the user set it). Counts above
// limits.MaxThreadsHere are lowered to it: commands refuse them as usage
// errors, and an environment variable must not start threads without bound
// either.
func SetThreads(n int) error {
	if n <= 0 {
		n = runtime.NumCPU()
		if v, ok := envconfig.OMPNumThreads(); ok {
			n = v
		}
	}
	return setThreads(min(n, limits.MaxThreadsHere()))
}

// setThreads hands n to LibTorch unchanged (which refuses n < 1).
func setThreads(n int) error {
	return shimError("set LibTorch's thread count to "+strconv.Itoa(n), C.zt_set_num_threads(C.int(n)))
}

// Threads returns LibTorch's intra-op thread count.
func Threads() (int, error) {
	var n C.int
	if err := shimError("LibTorch's thread count", C.zt_get_num_threads(&n)); err != nil {
		return 0, err
	}
	return int(n), nil
}

// CUDAAvailable reports whether this LibTorch build has CUDA and sees a GPU.
// An error means LibTorch could not tell (a broken CUDA runtime), which is
// not the same as having none.
func CUDAAvailable() (bool, error) {
	var ok C.int
	if err := shimError("check for CUDA", C.zt_cuda_available(&ok)); err != nil {
		return false, err
	}
	return ok != 0, nil
}

// CUDADeviceCount returns the number of visible CUDA devices.
func CUDADeviceCount() (int, error) {
	var n C.int
	if err := shimError("count CUDA devices", C.zt_cuda_device_count(&n)); err != nil {
		return 0, err
	}
	return int(n), nil
}

// ManualSeed seeds LibTorch's default random generators (CPU and every CUDA
// device). They are process-wide: callers that need a seeded forward call
// must hold their own lock across ManualSeed and Forward.
func ManualSeed(seed uint64) error {
	return shimError("seed the random generator", C.zt_manual_seed(C.uint64_t(seed)))
}

// SetDeterministic asks LibTorch for deterministic algorithms.
func SetDeterministic(on bool) error {
	v := 0
	if on {
		v = 1
	}
	return shimError("set deterministic algorithms", C.zt_set_deterministic(C.int(v)))
}

// ResolveDevice turns a user's device string into one LibTorch accepts:
// "auto" (or "") picks cuda:0 when CUDA is usable and cpu otherwise; "cuda"
// means cuda:0. A CUDA device this build or machine cannot use is an error
// that says what to do, rather than a LibTorch exception later.
func ResolveDevice(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	switch {
	case s == "" || s == "auto":
		cuda, err := CUDAAvailable()
		if err != nil {
			return "", fmt.Errorf("device %q: %w; use --device cpu", s, err)
		}
		if cuda {
			return "cuda:0", nil
		}
		return "cpu", nil
	case s == "cpu":
		return "cpu", nil
	case s == "cuda" || strings.HasPrefix(s, "cuda:"):
		idx := 0
		if s != "cuda" {
			n, err := strconv.Atoi(strings.TrimPrefix(s, "cuda:"))
			if err != nil || n < 0 {
				return "", fmt.Errorf("device %q: want cuda:N with N a GPU index", s)
			}
			idx = n
		}
		cuda, err := CUDAAvailable()
		if err != nil {
			return "", fmt.Errorf("device %q: %w; use --device cpu", s, err)
		}
		if !cuda {
			return "", fmt.Errorf("device %q: this zoo's LibTorch has no usable CUDA "+
				"(CPU build, or no GPU visible); use --device cpu, or run the CUDA build (Dockerfile.cuda)", s)
		}
		count, err := CUDADeviceCount()
		if err != nil {
			return "", fmt.Errorf("device %q: %w; use --device cpu", s, err)
		}
		if idx >= count {
			return "", fmt.Errorf("device %q: only %d CUDA device(s) visible (cuda:0..cuda:%d)", s, count, count-1)
		}
		return "cuda:" + strconv.Itoa(idx), nil
	}
	return "", fmt.Errorf("device %q: want auto, cpu, cuda or cuda:N", s)
}

// Module is a loaded TorchScript module. It is safe for concurrent use:
// forward calls are serialised, because one module call already uses all
// intra-op threads and interleaving them only adds contention.
type Module struct {
	mu     sync.Mutex
	h      C.zt_module
	path   string
	device string
}

// ErrClosed is returned by calls on a closed Module.
var ErrClosed = errors.New("torch: module is closed")

// Load reads a TorchScript module from path onto device (as returned by
// ResolveDevice). A missing, truncated, corrupt or non-TorchScript file is
// an error naming the file.
func Load(path, device string) (*Module, error) {
	if err := checkModuleFile(path); err != nil {
		return nil, err
	}
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	cdev := C.CString(device)
	defer C.free(unsafe.Pointer(cdev))
	var h C.zt_module
	if err := shimError("load TorchScript module "+path, C.zt_module_load(cpath, cdev, &h)); err != nil {
		if why := explainLoadError(path); why != "" {
			return nil, errors.New(why)
		}
		return nil, err
	}
	m := &Module{h: h, path: path, device: device}
	runtime.SetFinalizer(m, (*Module).Close)
	return m, nil
}

// Device returns the device the module lives on.
func (m *Module) Device() string { return m.device }

// To moves the module to another device.
func (m *Module) To(device string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.h == nil {
		return ErrClosed
	}
	cdev := C.CString(device)
	defer C.free(unsafe.Pointer(cdev))
	err := shimError("move module to "+device, C.zt_module_to(m.h, cdev))
	runtime.KeepAlive(m) // the finalizer must not free m.h during the call
	if err != nil {
		return err
	}
	m.device = device
	return nil
}

// Optimize freezes the module and applies LibTorch's inference
// optimizations (BatchNorm folded into convolutions, oneDNN on CPU): about
// 1.3× faster for Inception-v3 on CPU, outputs equal within float rounding.
// Only forward remains callable. On error the module is unchanged.
func (m *Module) Optimize() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.h == nil {
		return ErrClosed
	}
	err := shimError("optimize "+m.path, C.zt_module_optimize(m.h))
	runtime.KeepAlive(m)
	return err
}

// Close frees the module. It is idempotent.
func (m *Module) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.h != nil {
		C.zt_module_free(m.h)
		m.h = nil
		runtime.SetFinalizer(m, nil)
	}
	return nil
}

// Result holds the tensors a forward call returned. Names is set when the
// module returned a Dict[str, Tensor]; otherwise it is nil and the tensors
// are in the order of the returned tuple or list.
type Result struct {
	Tensors []Tensor
	Names   []string
}

// Close frees every tensor of the result.
func (r *Result) Close() {
	for _, t := range r.Tensors {
		Free(t)
	}
	r.Tensors = nil
}

// Forward runs the module's forward method on inputs in inference mode.
//
// The graph executor's optimisation is off (shim.cc): the profiling
// executor spends a module's first two calls profiling and re-optimising
// it, 5 s each for a 54M-parameter pix2pix U-Net on 2 CPU cores, more than
// its whole steady-state gain, as the CPU fusers are off in LibTorch 1.13.
// zoo calls a module at one fixed block shape, and modules that want
// inference optimisations get them explicitly (Module.Optimize).
// Unoptimised graphs also run the kernels eager PyTorch runs, which zoo
// import's pixel check against the original package relies on.
func (m *Module) Forward(inputs ...Tensor) (*Result, error) { return m.ForwardWith(inputs, nil) }

// ForwardWith runs forward(inputs..., scalars...): scalar arguments (bool,
// int or float64) follow the tensors, as in forward(img, True).
func (m *Module) ForwardWith(inputs []Tensor, scalars []any) (*Result, error) {
	kinds := make([]byte, len(scalars)+1) // never empty: cgo needs an address
	values := make([]float64, len(scalars)+1)
	for i, v := range scalars {
		switch v := v.(type) {
		case bool:
			kinds[i] = 'b'
			if v {
				values[i] = 1
			}
		case int:
			kinds[i], values[i] = 'i', float64(v)
		case float64:
			kinds[i], values[i] = 'f', v
		default:
			return nil, fmt.Errorf("forward: scalar argument %d is a %T, want bool, int or float64", i, v)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.h == nil {
		return nil, ErrClosed
	}
	var in *C.zt_tensor
	if len(inputs) > 0 {
		// C memory: cgo forbids passing Go memory that holds pointers.
		in = (*C.zt_tensor)(C.calloc(C.size_t(len(inputs)), C.size_t(unsafe.Sizeof(C.zt_tensor(nil)))))
		defer C.free(unsafe.Pointer(in))
		arr := unsafe.Slice(in, len(inputs))
		for i, t := range inputs {
			h := handle(t)
			if h == nil {
				return nil, fmt.Errorf("forward: input %d is a freed or empty tensor", i)
			}
			arr[i] = h
		}
	}
	var outs *C.zt_tensor
	var names **C.char
	var n C.int
	err := shimError("forward "+m.path, C.zt_module_forward(m.h, in, C.int(len(inputs)),
		(*C.char)(unsafe.Pointer(&kinds[0])), (*C.double)(unsafe.Pointer(&values[0])), C.int(len(scalars)),
		&outs, &names, &n))
	// in holds bare handles: the module's and the inputs' finalizers must not
	// free them while LibTorch reads them (a caller need not defer Free).
	runtime.KeepAlive(m)
	runtime.KeepAlive(inputs)
	if err != nil {
		return nil, err // the shim freed any outputs it had made
	}
	defer C.zt_free_array(unsafe.Pointer(outs))
	res := &Result{Tensors: make([]Tensor, int(n))}
	for i, h := range unsafe.Slice(outs, int(n)) {
		res.Tensors[i] = wrap(h)
	}
	if names != nil {
		defer C.zt_free_array(unsafe.Pointer(names))
		res.Names = make([]string, int(n))
		for i, s := range unsafe.Slice(names, int(n)) {
			res.Names[i] = C.GoString(s)
			C.zt_free_string(s)
		}
	}
	return res, nil
}

// wrap makes a gotorch tensor of a shim handle, with gotorch's finalizer as a
// safety net (after Free it deletes a nil pointer, which is a no-op).
func wrap(h C.zt_tensor) Tensor {
	p := new(unsafe.Pointer)
	*p = unsafe.Pointer(h)
	gotorch.SetTensorFinalizer(p)
	return Tensor{T: p}
}

// handle returns t's C handle. Once it is taken, nothing else may use t, so
// the garbage collector can run t's finalizer, which deletes the handle,
// while a C call still reads it: every function passing a handle to C keeps
// t.T alive with runtime.KeepAlive after the call.
func handle(t Tensor) C.zt_tensor {
	if t.T == nil {
		return nil
	}
	return C.zt_tensor(*t.T)
}

// Free releases a tensor's memory now. Freeing twice is harmless.
func Free(t Tensor) {
	if t.T == nil || *t.T == nil {
		return
	}
	C.zt_tensor_free(C.zt_tensor(*t.T))
	*t.T = nil
}

func checkShape(data int, shape []int64) error {
	for _, d := range shape {
		if d < 0 {
			return fmt.Errorf("negative dimension in shape %v", shape)
		}
	}
	// The product is overflow-checked: [2^32, 2^32] would wrap to 0 and
	// pass for empty data.
	n := int64(0)
	if !slices.Contains(shape, 0) {
		var ok bool
		if n, ok = limits.Product(math.MaxInt64, shape...); !ok {
			return fmt.Errorf("shape %v has more values than an int64 counts", shape)
		}
	}
	if n != int64(data) {
		return fmt.Errorf("shape %v needs %d values, got %d", shape, n, data)
	}
	return nil
}

// FromFloat32 copies data into a new float32 tensor of the given shape on device.
func FromFloat32(data []float32, shape []int64, device string) (Tensor, error) {
	if err := checkShape(len(data), shape); err != nil {
		return Tensor{}, fmt.Errorf("new tensor: %w", err)
	}
	var ptr *C.float
	if len(data) > 0 {
		ptr = (*C.float)(unsafe.Pointer(&data[0]))
	}
	return newTensor(func(cshape *C.int64_t, cdev *C.char, out *C.zt_tensor) *C.char {
		return C.zt_tensor_from_float32(ptr, cshape, C.int(len(shape)), cdev, out)
	}, shape, device)
}

// FromInt64 copies data into a new int64 tensor of the given shape on device.
func FromInt64(data []int64, shape []int64, device string) (Tensor, error) {
	if err := checkShape(len(data), shape); err != nil {
		return Tensor{}, fmt.Errorf("new tensor: %w", err)
	}
	var ptr *C.int64_t
	if len(data) > 0 {
		ptr = (*C.int64_t)(unsafe.Pointer(&data[0]))
	}
	return newTensor(func(cshape *C.int64_t, cdev *C.char, out *C.zt_tensor) *C.char {
		return C.zt_tensor_from_int64(ptr, cshape, C.int(len(shape)), cdev, out)
	}, shape, device)
}

func newTensor(build func(*C.int64_t, *C.char, *C.zt_tensor) *C.char, shape []int64, device string) (Tensor, error) {
	cdev := C.CString(device)
	defer C.free(unsafe.Pointer(cdev))
	var cshape *C.int64_t
	if len(shape) > 0 {
		cshape = (*C.int64_t)(unsafe.Pointer(&shape[0]))
	}
	var h C.zt_tensor
	if err := shimError("new tensor", build(cshape, cdev, &h)); err != nil {
		return Tensor{}, err
	}
	return wrap(h), nil
}

// Shape returns a tensor's sizes.
func Shape(t Tensor) ([]int64, error) {
	h := handle(t)
	if h == nil {
		return nil, errors.New("shape of a freed or empty tensor")
	}
	var dims [16]C.int64_t
	var n C.int
	err := shimError("tensor shape", C.zt_tensor_shape(h, &dims[0], C.int(len(dims)), &n))
	runtime.KeepAlive(t.T) // see handle
	if err != nil {
		return nil, err
	}
	if int(n) > len(dims) {
		return nil, fmt.Errorf("tensor has %d dimensions, more than %d", n, len(dims))
	}
	shape := make([]int64, int(n))
	for i := range shape {
		shape[i] = int64(dims[i])
	}
	return shape, nil
}

// Element types as DType names them (LibTorch's names).
const (
	Float32  = "Float"
	Float64  = "Double"
	Float16  = "Half"
	BFloat16 = "BFloat16"
	Bool     = "Bool"
)

// DType returns the name of a tensor's element type as LibTorch prints it:
// Float, Double, Half, BFloat16, Long, Int, Short, Char, Byte, Bool,
// ComplexFloat, ComplexDouble, ...
func DType(t Tensor) (string, error) {
	h := handle(t)
	if h == nil {
		return "", errors.New("dtype of a freed or empty tensor")
	}
	var name *C.char
	err := shimError("tensor dtype", C.zt_tensor_dtype(h, &name))
	runtime.KeepAlive(t.T)
	if err != nil {
		return "", err
	}
	defer C.zt_free_string(name)
	return C.GoString(name), nil
}

// IsFloatingDType reports whether a DType name is a real floating-point type.
func IsFloatingDType(d string) bool {
	return d == Float32 || d == Float64 || d == Float16 || d == BFloat16
}

// IsComplexDType reports whether a DType name is a complex type.
func IsComplexDType(d string) bool { return strings.HasPrefix(d, "Complex") }

// CopyFloat32 copies a tensor's values, converted to float32 and moved to
// the CPU, into dst, whose length must equal the tensor's element count.
func CopyFloat32(t Tensor, dst []float32) error {
	h := handle(t)
	if h == nil {
		return errors.New("copy of a freed or empty tensor")
	}
	var ptr *C.float
	if len(dst) > 0 {
		ptr = (*C.float)(unsafe.Pointer(&dst[0]))
	}
	err := shimError("copy tensor to Go", C.zt_tensor_copy_float32(h, ptr, C.int64_t(len(dst))))
	runtime.KeepAlive(t.T)
	return err
}
