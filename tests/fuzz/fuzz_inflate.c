/* libFuzzer / AFL++ entry point for inflate, zlib, gzip and zip: the first byte picks the
 * container, the rest is the input (build: make fuzz; run: build/fuzz_inflate CORPUS). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "data/inflate.h"
#include "data/zip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const uint8_t *in = data + 1;
    size_t n = size - 1, out_n;
    uint8_t *out = NULL;
    int rc = -1;
    switch (data[0] & 3) {
    case 0:
        rc = data_inflate(in, n, &out, &out_n, 1 << 24, NULL);
        break;
    case 1:
        rc = data_zlib_decompress(in, n, &out, &out_n, 1 << 24);
        break;
    case 2:
        rc = data_gunzip(in, n, &out, &out_n, 1 << 24);
        break;
    default: {
        struct data_zip z;
        if (data_zip_open_mem(&z, in, n) == 0) {
            for (size_t i = 0; i < z.count; i++) {
                const uint8_t *p;
                uint8_t *own;
                if (data_zip_read(&z, &z.entries[i], 1 << 24, &p, &own) == 0) free(own);
            }
            data_zip_close(&z);
        }
        return 0;
    }
    }
    if (rc == 0) free(out);
    return 0;
}
