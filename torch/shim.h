// shim.h is the C face of medzoo's TorchScript shim (shim.cc). gotorch has
// no TorchScript support, so loading and running modules lives here.
//
// Conventions: every function that can fail returns NULL on success or a
// malloc'd, NUL-terminated error message the caller frees with zt_free_string.
// No C++ exception ever crosses this boundary. Tensors are at::Tensor* handed
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
// zt_module_forward runs forward(inputs...) in inference mode. The result
// must be a Tensor, a tuple or list of Tensors, or a Dict[str, Tensor]. On
// success *outputs is a malloc'd array of *n_out tensors (free the array with
// zt_free_array, each tensor with zt_tensor_free); *names is a malloc'd array
// of malloc'd names for dict results, else NULL.
char *zt_module_forward(zt_module m, zt_tensor *inputs, int n_in,
                        zt_tensor **outputs, char ***names, int *n_out);
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
void zt_tensor_free(zt_tensor t);

// Runtime.
void zt_set_num_threads(int n);
int zt_get_num_threads(void);
int zt_cuda_available(void);
int zt_cuda_device_count(void);
// zt_set_deterministic asks LibTorch for deterministic kernels, so that a
// sample's values do not depend on the batch it was computed in.
char *zt_set_deterministic(int on);

#ifdef __cplusplus
}
#endif

#endif
