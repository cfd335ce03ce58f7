/* Checkpoints: a network's state dict in safetensors, with the architecture in __metadata__
 * so the file alone rebuilds the network.
 *
 * Tensors are stored as PyTorch holds them — conv weights [cout][cin/groups][kh][kw], linear
 * [out][in], BN running statistics, num_batches_tracked as an int64 scalar — under the same
 * names, so PyTorch's load_state_dict takes the file's tensors as they are. The metadata keys
 * are format=haq, arch, width, classes, input, stem (small|imagenet), in_channels, dropout,
 * plus whatever the caller adds (the quantization policy, say). */
#ifndef HAQ_NN_CHECKPOINT_H
#define HAQ_NN_CHECKPOINT_H

#include <stddef.h>

#include "graph.h"
#include "models.h"
#include "safetensors.h"

/* A named contiguous tensor from a state dict (safetensors entry, .pth tensor). */
struct nn_tensor_view {
    const char *name;
    enum nn_dtype dtype;
    int ndim;
    int64_t shape[NN_ST_MAXDIM];
    const void *data;
};

/* Convert parameter p between PyTorch's layout (src/dst numel floats) and the engine's. */
void nn_param_from_torch(const struct nn_graph *g, int p, const float *src, float *dst);
void nn_param_to_torch(const struct nn_graph *g, int p, const float *src, float *dst);

/* Load every parameter, buffer and num_batches_tracked of g from the views (F32, F16, BF16 or
 * F64; int64/int32 for the counters), checking each shape. Missing tensors are an error;
 * views the graph does not know are an error unless ignore_unknown is set. The message lists
 * the offending names (and `source`, e.g. the file). Returns 0 or −1. */
int nn_state_load(struct nn_graph *g, const struct nn_tensor_view *v, int n, int ignore_unknown,
                  const char *source);

/* Save g with cfg in the metadata and extra string pairs (key, value, key, value …). */
int nn_ckpt_save(const char *path, const struct nn_graph *g, const struct nn_model_cfg *cfg,
                 const char *const *extra, int n_extra);

/* Rebuild the network a checkpoint describes, allocate it for max_batch (gradients when
 * trainable) and load its weights. *cfg receives the architecture (cfg->arch points to a
 * static name). NULL on error. */
struct nn_graph *nn_ckpt_load(const char *path, int max_batch, int trainable,
                              struct nn_model_cfg *cfg);

/* The architecture of a checkpoint's metadata without loading weights; 0 or −1. */
int nn_ckpt_cfg(const struct nn_st_file *f, const char *path, struct nn_model_cfg *cfg);

#endif
