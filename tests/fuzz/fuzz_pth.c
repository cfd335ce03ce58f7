/* libFuzzer / AFL++ entry point for PyTorch checkpoints (both torch.save formats: the pickle
 * machine, storages, strides) and safetensors headers: the first byte picks the reader (build:
 * make fuzz; run: build/fuzz_pth CORPUS, seeded with tests/fixtures/torch/). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include "data/pth.h"
#include "nn/json.h"
#include "nn/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    if (data[0] & 1) {
        struct data_pth p;
        if (data_pth_read_mem("fuzz", data + 1, size - 1, &p) == 0) data_pth_free(&p);
        return 0;
    }
    /* safetensors reads files: write the input to a per-process temporary one */
    char path[64];
    snprintf(path, sizeof path, "/tmp/fuzz_st_%ld.safetensors", (long)getpid());
    if (nn_write_file_atomic(path, data + 1, size - 1) == 0) {
        struct nn_st_file f;
        if (nn_st_open(path, &f) == 0) nn_st_close(&f);
    }
    struct nn_json j; /* and the JSON reader on its own */
    if (nn_json_parse(&j, (const char *)data + 1, size - 1) == 0) nn_json_free(&j);
    return 0;
}
