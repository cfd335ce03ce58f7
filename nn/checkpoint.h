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
#include <stdint.h>

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

/* The packed form (metadata format=haq-packed): what an inference engine needs and nothing
 * more, at the bits the policy pays for. Per conv/linear node N with weights N.weight:
 *   linear, b = 2 … 8 bits: N.weight.codes (uint8, the integers round(clamp(w, −t, t)/s),
 *       b-bit two's complement) and N.weight_range (t, float32 [1] or [cout] per channel;
 *       s = t / (2^(b−1) − 1)): w = code · s;
 *   one bit: N.weight.codes (1 = negative) and N.weight.scale (mean|w|, [1] or [cout]);
 *   k-means, b bits: N.weight.codes (indices) and N.weight.codebook (float32 [2^b], sorted);
 *   float weights: N.weight as in a checkpoint;
 *   a quantized input activation: N.activation_range (float32 [1]).
 * Codes follow PyTorch's layout of the weight (output channel slowest) and are packed
 * little-endian bit by bit: value i occupies bits i·b … i·b + b − 1 of the byte stream, bit j
 * of the stream being bit j mod 8 of byte j / 8. Biases and BN tensors stay float32; BN
 * counters are left out. The "bits" metadata is a checkpoint's. nn_ckpt_load reads packed
 * files too, decoding the weights to exactly the values the quantized network computes with.
 *
 * kbits (may be NULL) gives, per quantizable layer in node order, the k-means width of that
 * layer (0: not k-means); a k-means layer's weights must hold at most 2^b distinct values. */
int nn_packed_save(const char *path, const struct nn_graph *g, const struct nn_model_cfg *cfg,
                   const int *kbits, const char *const *extra, int n_extra);

/* The bytes nn_packed_save(path, g, cfg, kbits, extra, n_extra) writes, to the byte:
 *   weight_bytes   quantizable layers' weights with their thresholds, scales, codebooks and
 *                  activation ranges (the hardware size model's figure);
 *   other_bytes    everything else (biases, BN);
 *   payload_bytes  = weight_bytes + other_bytes, the tensor data;
 *   header_bytes   the 8-byte length and the padded JSON header (names, shapes, offsets,
 *                  metadata);
 *   file_bytes     = header_bytes + payload_bytes, the size of the file;
 * and fp32_weight_bytes, the same layers' weights in float32. 0 or −1. */
struct nn_packed_size {
    size_t weight_bytes, other_bytes, payload_bytes, header_bytes, file_bytes, fp32_weight_bytes;
};
int nn_packed_account(const struct nn_graph *g, const struct nn_model_cfg *cfg, const int *kbits,
                      const char *const *extra, int n_extra, struct nn_packed_size *sz);

/* b-bit codes (b ≤ 32) to and from the packed byte stream of nn_packed_bytes(n, b) bytes. */
size_t nn_packed_bytes(size_t n, int bits);
void nn_pack_codes(const uint32_t *codes, size_t n, int bits, uint8_t *out);
void nn_unpack_codes(const uint8_t *in, size_t n, int bits, uint32_t *codes);

/* Rebuild the network a checkpoint describes, allocate it for max_batch (gradients when
 * trainable) and load its weights. *cfg receives the architecture (cfg->arch points to a
 * static name). NULL on error. */
struct nn_graph *nn_ckpt_load(const char *path, int max_batch, int trainable,
                              struct nn_model_cfg *cfg);

/* The architecture of a checkpoint's metadata without loading weights; 0 or −1. */
int nn_ckpt_cfg(const struct nn_st_file *f, const char *path, struct nn_model_cfg *cfg);

#endif
