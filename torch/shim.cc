// shim.cc implements shim.h: TorchScript load/forward/device over LibTorch.
// Every entry point catches everything, so a corrupt file or a failing
// module becomes an error string for Go, never a crash.
#include "shim.h"

#include <torch/cuda.h>
#include <torch/script.h>
#include <torch/utils.h>
#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/runtime/graph_executor.h>
#include <torch/csrc/jit/passes/freeze_module.h>
#include <ATen/Parallel.h>

#include <dlfcn.h>

#include <climits>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

char *dup_string(const std::string &s) {
  char *p = static_cast<char *>(std::malloc(s.size() + 1));
  if (p == nullptr) return nullptr;
  std::memcpy(p, s.c_str(), s.size() + 1);
  return p;
}

// dup_or_throw is dup_string for results: a name that could not be copied
// must fail the call, not come back as NULL.
char *dup_or_throw(const std::string &s) {
  char *p = dup_string(s);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}

// no_memory is the error run returns when even the message cannot be
// copied: NULL would read as success. zt_free_string knows not to free it.
char no_memory[] = "out of memory (while reporting a LibTorch error)";

char *error_string(const std::string &s) {
  char *p = dup_string(s);
  return p != nullptr ? p : no_memory;
}

// run calls f and turns any exception into a malloc'd message. c10::Error's
// what() carries a C++ backtrace that means nothing to users; the short form
// keeps the message they can act on.
template <typename F>
char *run(F &&f) {
  try {
    f();
    return nullptr;
  } catch (const c10::Error &e) {
    return error_string(e.what_without_backtrace());
  } catch (const std::exception &e) {
    return error_string(e.what());
  } catch (...) {
    return error_string("unknown C++ exception");
  }
}

torch::jit::Module *as_module(zt_module m) {
  return static_cast<torch::jit::Module *>(m);
}

at::Tensor *as_tensor(zt_tensor t) { return static_cast<at::Tensor *>(t); }

at::Tensor from_blob_copy(void *data, const int64_t *shape, int ndim,
                          at::ScalarType type, const char *device) {
  std::vector<int64_t> sizes(shape, shape + ndim);
  auto opts = at::TensorOptions().dtype(type);
  // clone() copies out of the caller's buffer before it returns.
  at::Tensor t = torch::from_blob(data, sizes, opts).clone();
  torch::Device dev(device);
  if (!dev.is_cpu()) t = t.to(dev);
  return t;
}

// Outputs owns the arrays and tensors zt_module_forward hands out until they
// are complete: a failure part-way (a non-Tensor element after Tensors, or an
// allocation failure) frees the outputs already made instead of leaking them.
class Outputs {
 public:
  Outputs() = default;
  Outputs(const Outputs &) = delete;
  Outputs &operator=(const Outputs &) = delete;
  ~Outputs() {
    for (size_t i = 0; i < n_; i++) {
      delete as_tensor(tensors_[i]);
      if (names_ != nullptr) std::free(names_[i]);
    }
    std::free(tensors_);
    std::free(names_);
  }

  // reserve allocates room for count outputs, and their names when named
  // (an empty dict has no names array, as before: Go's Names stays nil).
  void reserve(size_t count, bool named) {
    if (count > static_cast<size_t>(INT_MAX))
      throw std::runtime_error("forward returned " + std::to_string(count) +
                               " tensors, more than a C int counts");
    // calloc(0) may return NULL; one slot keeps success non-NULL.
    tensors_ = static_cast<zt_tensor *>(std::calloc(count ? count : 1, sizeof(zt_tensor)));
    if (tensors_ == nullptr) throw std::bad_alloc();
    if (named && count > 0) {
      names_ = static_cast<char **>(std::calloc(count ? count : 1, sizeof(char *)));
      if (names_ == nullptr) throw std::bad_alloc();
    }
  }

  // add appends a tensor (and its name, when reserved as named).
  void add(const at::Tensor &t, const std::string &name = std::string()) {
    char *s = nullptr;
    if (names_ != nullptr) s = dup_or_throw(name);
    at::Tensor *p;
    try {
      p = new at::Tensor(t);
    } catch (...) {
      std::free(s);
      throw;
    }
    tensors_[n_] = p;
    if (names_ != nullptr) names_[n_] = s;
    n_++;
  }

  // release hands everything to the caller, who frees it (shim.h).
  void release(zt_tensor **outputs, char ***names, int *n_out) {
    *outputs = tensors_;
    *names = names_;
    *n_out = static_cast<int>(n_);  // reserve bounded it by INT_MAX
    tensors_ = nullptr;
    names_ = nullptr;
    n_ = 0;
  }

 private:
  zt_tensor *tensors_ = nullptr;
  char **names_ = nullptr;
  size_t n_ = 0;  // entries of tensors_ (and names_) that are set
};

}  // namespace

extern "C" {

void zt_free_string(char *s) {
  if (s != no_memory) std::free(s);
}
void zt_free_array(void *a) { std::free(a); }

char *zt_module_load(const char *path, const char *device, zt_module *out) {
  return run([&] {
    torch::Device dev(device);
    // unique_ptr: a throwing eval() must not leak the loaded module.
    auto m = std::make_unique<torch::jit::Module>(torch::jit::load(path, dev));
    m->eval();
    *out = m.release();
  });
}

char *zt_module_to(zt_module m, const char *device) {
  return run([&] { as_module(m)->to(torch::Device(device)); });
}

void zt_module_free(zt_module m) { delete as_module(m); }

char *zt_module_optimize(zt_module m) {
  return run([&] {
    torch::jit::Module *mod = as_module(m);
    mod->eval();
    torch::jit::Module frozen = torch::jit::freeze(*mod);
    *mod = torch::jit::optimize_for_inference(frozen);
  });
}

char *zt_module_forward(zt_module m, zt_tensor *inputs, int n_in,
                        const char *scalar_kinds, const double *scalars,
                        int n_scalars, zt_tensor **outputs, char ***names,
                        int *n_out) {
  *outputs = nullptr;
  *names = nullptr;
  *n_out = 0;
  return run([&] {
    c10::InferenceMode guard;
    // The executor's optimize switch is thread-local and Go calls from any
    // OS thread, so it is set for each call (see torch.go's init).
    torch::jit::GraphOptimizerEnabledGuard plain(false);
    std::vector<torch::jit::IValue> args;
    args.reserve(static_cast<size_t>(n_in) + static_cast<size_t>(n_scalars));
    for (int i = 0; i < n_in; i++) args.emplace_back(*as_tensor(inputs[i]));
    for (int i = 0; i < n_scalars; i++) {
      switch (scalar_kinds[i]) {
        case 'b': args.emplace_back(scalars[i] != 0); break;
        case 'i': args.emplace_back(static_cast<int64_t>(scalars[i])); break;
        default: args.emplace_back(scalars[i]); break;
      }
    }
    torch::jit::IValue result = as_module(m)->forward(args);

    // Outputs are made element by element as the result is checked (no
    // intermediate copy); out frees those made if a later element is refused.
    Outputs out;
    if (result.isTensor()) {
      out.reserve(1, false);
      out.add(result.toTensor());
    } else if (result.isTuple()) {
      const auto &elements = result.toTupleRef().elements();
      out.reserve(elements.size(), false);
      for (const auto &v : elements) {
        if (!v.isTensor())
          throw std::runtime_error("forward returned a tuple holding a " +
                                   v.tagKind() + ", want only Tensors");
        out.add(v.toTensor());
      }
    } else if (result.isTensorList()) {
      c10::List<at::Tensor> list = result.toTensorList();
      out.reserve(list.size(), false);
      for (size_t i = 0; i < list.size(); i++) out.add(list.get(i));
    } else if (result.isGenericDict()) {
      c10::Dict<torch::jit::IValue, torch::jit::IValue> dict = result.toGenericDict();
      out.reserve(dict.size(), true);
      for (const auto &kv : dict) {
        if (!kv.key().isString() || !kv.value().isTensor())
          throw std::runtime_error(
              "forward returned a dict that is not Dict[str, Tensor]");
        out.add(kv.value().toTensor(), kv.key().toStringRef());
      }
    } else {
      throw std::runtime_error("forward returned a " + result.tagKind() +
                               ", want a Tensor, a tuple or list of Tensors, "
                               "or a Dict[str, Tensor]");
    }
    out.release(outputs, names, n_out);
  });
}

char *zt_tensor_from_float32(const float *data, const int64_t *shape, int ndim,
                             const char *device, zt_tensor *out) {
  return run([&] {
    *out = new at::Tensor(from_blob_copy(const_cast<float *>(data), shape, ndim,
                                         at::kFloat, device));
  });
}

char *zt_tensor_from_int64(const int64_t *data, const int64_t *shape, int ndim,
                           const char *device, zt_tensor *out) {
  return run([&] {
    *out = new at::Tensor(from_blob_copy(const_cast<int64_t *>(data), shape,
                                         ndim, at::kLong, device));
  });
}

char *zt_tensor_copy_float32(zt_tensor t, float *dst, int64_t n) {
  return run([&] {
    at::Tensor src = as_tensor(t)->detach();
    if (src.numel() != n)
      throw std::runtime_error("tensor has " + std::to_string(src.numel()) +
                               " values, caller expected " + std::to_string(n));
    src = src.to(at::kCPU, at::kFloat).contiguous();
    std::memcpy(dst, src.data_ptr<float>(), static_cast<size_t>(n) * sizeof(float));
  });
}

char *zt_tensor_shape(zt_tensor t, int64_t *shape, int max_dims, int *ndim) {
  return run([&] {
    auto sizes = as_tensor(t)->sizes();
    *ndim = static_cast<int>(sizes.size());
    for (size_t i = 0; i < sizes.size() && i < static_cast<size_t>(max_dims); i++)
      shape[i] = sizes[i];
  });
}

char *zt_tensor_dtype(zt_tensor t, char **name) {
  *name = nullptr;
  return run([&] { *name = dup_or_throw(c10::toString(as_tensor(t)->scalar_type())); });
}

void zt_tensor_free(zt_tensor t) { delete as_tensor(t); }

namespace {
// view wraps caller memory without copying; results are copied out with
// copy_out before the call returns, so no Go memory is kept.
at::Tensor view(const double *p, int64_t rows, int64_t cols) {
  return torch::from_blob(const_cast<double *>(p), {rows, cols},
                          at::TensorOptions().dtype(at::kDouble));
}
void copy_out(const at::Tensor &t, double *dst) {
  at::Tensor c = t.contiguous();
  std::memcpy(dst, c.data_ptr<double>(), static_cast<size_t>(c.numel()) * sizeof(double));
}
}  // namespace

char *zt_linalg_cholesky(const double *a, int64_t n, double *l, int *ok) {
  return run([&] {
    c10::InferenceMode guard;
    auto [factor, info] = torch::linalg_cholesky_ex(view(a, n, n));
    *ok = info.item<int>() == 0 ? 1 : 0;
    if (*ok) copy_out(factor, l);
  });
}

char *zt_linalg_eigh(const double *a, int64_t n, double *vals, double *vecs) {
  return run([&] {
    c10::InferenceMode guard;
    if (vecs == nullptr) {
      copy_out(torch::linalg_eigvalsh(view(a, n, n)), vals);
      return;
    }
    auto [w, v] = torch::linalg_eigh(view(a, n, n));
    copy_out(w, vals);
    copy_out(v, vecs);
  });
}

char *zt_linalg_ltcl(const double *c, const double *l, int64_t d, double *out) {
  return run([&] {
    c10::InferenceMode guard;
    const int64_t h = d / 2;
    at::Tensor C = view(c, d, d), L = view(l, d, d);
    if (h == 0) {
      copy_out(L.t().matmul(C.matmul(L)), out);
      return;
    }
    // L = [[L11, 0], [L21, L22]]. X = C L needs its first block column and
    // its bottom-right block only; M = L^T X by blocks, M12 = M21^T.
    at::Tensor L11 = L.slice(0, 0, h).slice(1, 0, h);
    at::Tensor L21 = L.slice(0, h, d).slice(1, 0, h);
    at::Tensor L22 = L.slice(0, h, d).slice(1, h, d);
    at::Tensor X1 = at::addmm(C.slice(1, 0, h).matmul(L11), C.slice(1, h, d), L21);
    at::Tensor X22 = C.slice(0, h, d).slice(1, h, d).matmul(L22);
    at::Tensor X11 = X1.slice(0, 0, h), X21 = X1.slice(0, h, d);
    at::Tensor M11 = at::addmm(L11.t().matmul(X11), L21.t(), X21);
    at::Tensor M21 = L22.t().matmul(X21);
    at::Tensor M22 = L22.t().matmul(X22);
    at::Tensor M = at::empty({d, d}, at::kDouble);
    M.slice(0, 0, h).slice(1, 0, h).copy_((M11 + M11.t()) * 0.5);
    M.slice(0, h, d).slice(1, 0, h).copy_(M21);
    M.slice(0, 0, h).slice(1, h, d).copy_(M21.t());
    M.slice(0, h, d).slice(1, h, d).copy_((M22 + M22.t()) * 0.5);
    copy_out(M, out);
  });
}

char *zt_linalg_cov(const float *rows, int64_t n, int64_t d, double *mean,
                    double *cov) {
  return run([&] {
    c10::InferenceMode guard;
    if (n < 2) throw std::runtime_error("covariance needs at least 2 rows");
    at::Tensor x = torch::from_blob(const_cast<float *>(rows), {n, d},
                                    at::TensorOptions().dtype(at::kFloat));
    const int64_t chunk = 2048;
    at::Tensor mu = at::zeros({d}, at::kDouble);
    for (int64_t i = 0; i < n; i += chunk)
      mu += x.slice(0, i, std::min(n, i + chunk)).to(at::kDouble).sum(0);
    mu /= static_cast<double>(n);
    at::Tensor m2 = at::zeros({d, d}, at::kDouble);
    for (int64_t i = 0; i < n; i += chunk) {
      at::Tensor xc = x.slice(0, i, std::min(n, i + chunk)).to(at::kDouble) - mu;
      m2.addmm_(xc.t(), xc);
    }
    copy_out(mu, mean);
    copy_out(m2 / static_cast<double>(n - 1), cov);
  });
}

char *zt_linalg_ftcf(const double *c, const double *f, int64_t d, int64_t r,
                     double *out) {
  return run([&] {
    c10::InferenceMode guard;
    at::Tensor F = view(f, d, r);
    at::Tensor m = F.t().matmul(view(c, d, d).matmul(F));
    copy_out((m + m.t()) * 0.5, out);
  });
}

char *zt_set_num_threads(int n) {
  return run([&] { at::set_num_threads(n); });
}

int zt_pin_blas_threads(void) {
  // Looked up, not linked: the BLAS behind libblas.so.3 is whatever the
  // system's alternatives chose (OpenBLAS here, the reference BLAS
  // elsewhere), and a missing symbol must not stop zoo from loading.
  typedef void (*setter)(int);
  int found = 0;
  for (const char *name : {"openblas_set_num_threads", "bli_thread_set_num_threads"}) {
    if (setter set = reinterpret_cast<setter>(dlsym(RTLD_DEFAULT, name))) {
      set(1);
      found++;
    }
  }
  return found;
}

char *zt_get_num_threads(int *n) {
  *n = 0;
  return run([&] { *n = at::get_num_threads(); });
}

char *zt_cuda_available(int *available) {
  *available = 0;
  return run([&] { *available = torch::cuda::is_available() ? 1 : 0; });
}

char *zt_cuda_device_count(int *count) {
  *count = 0;
  return run([&] { *count = static_cast<int>(torch::cuda::device_count()); });
}

char *zt_set_deterministic(int on) {
  return run([&] {
    at::globalContext().setDeterministicAlgorithms(on != 0, /*warn_only=*/true);
  });
}

char *zt_manual_seed(uint64_t seed) {
  // torch::manual_seed seeds the CPU generator and every CUDA device's.
  return run([&] { torch::manual_seed(seed); });
}

}  // extern "C"
