/* PyTorch checkpoints (.pth, .pth.tar, .pt) without Python.
 *
 * Both formats torch.save has written: the zip archive of PyTorch ≥ 1.6 (`<name>/data.pkl`
 * plus one `<name>/data/<key>` entry per storage) and the legacy stream of older versions
 * (magic number, protocol, system info, the pickled object, the storage keys, then each
 * storage as an 8-byte element count and its bytes) — the format of older torchvision and of
 * the HAQ release's checkpoints. The pickle is run on a small machine that knows the opcodes
 * of protocols 0–5 that such files use and builds plain values; tensors come from
 * torch._utils._rebuild_tensor(_v2) and _rebuild_parameter, storages from persistent ids.
 * Anything else a checkpoint pickles (an optimizer state, an argparse Namespace) becomes an
 * opaque object and is ignored.
 *
 * The state dict is the object itself, or its "state_dict" (or "model") entry when it is a
 * dict holding one; a "module." prefix (DataParallel) is removed from every key. Each tensor
 * is materialized contiguous in its own dtype (float32, float16, bfloat16, float64, int64,
 * int32, uint8, int8, bool), strides and storage offsets applied and checked against the
 * storage, so views, transposes and shared storages all read correctly. */
#ifndef HAQ_DATA_PTH_H
#define HAQ_DATA_PTH_H

#include "nn/checkpoint.h"

struct data_pth {
    int n;
    struct nn_tensor_view *t; /* names and data owned by this struct */
    int zip;                  /* 1: zip archive format, 0: legacy stream */
};

/* Read the state dict of a checkpoint file; 0 or −1 (nn_err names the file and the problem). */
int data_pth_read(const char *path, struct data_pth *out);

/* Parse a checkpoint already in memory (name is used in messages). */
int data_pth_read_mem(const char *name, const uint8_t *buf, size_t n, struct data_pth *out);

void data_pth_free(struct data_pth *p);

#endif
