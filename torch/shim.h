// shim.h is the C face of medzoo's TorchScript shim (shim.cc). gotorch has
// no TorchScript support, so loading and running modules lives here.
//
// Conventions: every function that can fail returns NULL on success or a
// NUL-terminated error message the caller frees with zt_free_string.
// No C++ exception ever crosses this boundary: every entry point that calls
// LibTorch catches everything. Only the free functions return nothing, as
// they cannot throw (free(), and deletes whose destructors are noexcept). Tensors are at::Tensor* handed
// out as void*, the same representation gotorch's Tensor uses, so they can be
// wrapped in gotorch.Tensor values.
#ifndef MEDZOO_TORCH_SHIM_H
#define MEDZOO_TORCH_SHIM_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef void *zt_module;
typedef void *zt_tensor;

void zt_free_string(char *s);

// Modules.
char *zt_module_load(const char *path, const char *device, zt_module *out);
char *zt_module_to(zt_module m, const char *device);
void zt_module_free(zt_module m);
// zt_module_optimize freezes the module (weights become constants, so
// BatchNorm folds into convolutions) and applies LibTorch's inference
// optimizations (oneDNN layouts on CPU). Only forward survives. On error the
// module is left as it was.
char *zt_module_optimize(zt_module m);
// zt_module_forward runs forward(inputs...) in inference mode, with the
// graph executor's profiling and re-optimisation off. The result
// must be a Tensor, a tuple or list of Tensors, or a Dict[str, Tensor]. On
// success *outputs is a malloc'd array of *n_out tensors (free the array with
// zt_free_array, each tensor with zt_tensor_free); *names is a malloc'd array
// of malloc'd names for dict results, else NULL. On error nothing is handed
// out (*outputs and *names are NULL): outputs made before the failure are
// freed.
//
// Scalar arguments follow the tensors (e.g. StyleGAN's Inception detector:
// forward(img, return_features=True)): scalar_kinds[i] is 'b' (bool), 'i'
// (int) or 'f' (float) and scalars[i] its value.
char *zt_module_forward(zt_module m, zt_tensor *inputs, int n_in,
                        const char *scalar_kinds, const double *scalars,
                        int n_scalars, zt_tensor **outputs, char ***names,
                        int *n_out);
void zt_free_array(void *a);

// Tensors. Constructors copy the data, so Go memory is never retained.
char *zt_tensor_from_float32(const float *data, const int64_t *shape, int ndim,
                             const char *device, zt_tensor *out);
char *zt_tensor_from_int64(const int64_t *data, const int64_t *shape, int ndim,
                           const char *device, zt_tensor *out);
// zt_tensor_copy_float32 converts to contiguous float32 on the CPU and copies
// exactly n values into dst (an error if the tensor has another size).
char *zt_tensor_copy_float32(zt_tensor t, float *dst, int64_t n);
char *zt_tensor_shape(zt_tensor t, int64_t *shape, int max_dims, int *ndim);
// zt_tensor_dtype sets *name to a malloc'd name of the tensor's element type
// as LibTorch prints it ("Float", "Long", "Bool", "Half", "ComplexFloat").
char *zt_tensor_dtype(zt_tensor t, char **name);
void zt_tensor_free(zt_tensor t);

// Dense float64 linear algebra on row-major n x n matrices in caller memory
// (read during the call only), run by LibTorch's LAPACK/BLAS: what the
// Fréchet distance needs at d = 2048, where pure-Go LAPACK is single-threaded.
// zt_linalg_cholesky writes the lower factor L (a = L L^T) and *ok = 1, or
// *ok = 0 when a is not positive definite.
char *zt_linalg_cholesky(const double *a, int64_t n, double *l, int *ok);
// zt_linalg_eigh writes the ascending eigenvalues of the symmetric matrix a
// (lower triangle read) and, when vecs is not NULL, the eigenvectors as its
// columns.
char *zt_linalg_eigh(const double *a, int64_t n, double *vals, double *vecs);
// zt_linalg_ftcf writes the symmetrised r x r product F^T C F of a d x d C and
// a d x r F.
char *zt_linalg_ftcf(const double *c, const double *f, int64_t d, int64_t r,
                     double *out);

// zt_linalg_ltcl is zt_linalg_ftcf for a square lower-triangular F (a
// Cholesky factor): by 2x2 blocks it skips the zero block's products, about
// 44% fewer multiplications than two full matrix products.
char *zt_linalg_ltcl(const double *c, const double *l, int64_t d, double *out);
// zt_linalg_cov writes the float64 mean (d) and unbiased covariance (d x d,
// divided by n-1) of the n x d float32 rows: two passes (mean, then centred
// products in chunks), so there is no sum-of-squares cancellation and
// memory stays at one chunk.
char *zt_linalg_cov(const float *rows, int64_t n, int64_t d, double *mean,
                    double *cov);

// Runtime. zt_set_num_threads sets LibTorch's intra-op thread count (an
// error for n < 1); the others write their answer to the out parameter.
char *zt_set_num_threads(int n);
// zt_pin_blas_threads sets the BLAS library's own thread pool (OpenBLAS,
// BLIS), looked up at run time, to one thread and returns how many such
// setters it found. See torch.go's init for why.
int zt_pin_blas_threads(void);
char *zt_get_num_threads(int *n);
char *zt_cuda_available(int *available);
char *zt_cuda_device_count(int *count);
// zt_set_deterministic asks LibTorch for deterministic kernels, so that a
// sample's values do not depend on the batch it was computed in.
char *zt_set_deterministic(int on);
// zt_manual_seed seeds LibTorch's default generators (CPU and CUDA), which
// modules that draw random numbers inside forward use.
char *zt_manual_seed(uint64_t seed);

#ifdef __cplusplus
}
#endif

#endif
