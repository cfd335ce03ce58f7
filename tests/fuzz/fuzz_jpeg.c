/* libFuzzer / AFL++ entry point for the JPEG decoder: any input must give an image or an
 * error, never a fault (build: make fuzz; run: build/fuzz_jpeg -max_total_time=600 CORPUS). */
#include <stddef.h>
#include <stdint.h>

#include "data/jpeg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static struct data_jpeg *d;
    static struct data_image img;
    if (!d) {
        d = data_jpeg_new();
        /* Room for the 96×72 fixtures of the seed corpus and mutations up to 181×181: a hostile
         * frame header asking for more is refused early instead of costing a grey fill of
         * megapixels under the sanitizers at every execution. */
        data_jpeg_set_max_pixels(d, 1 << 15);
    }
    /* every scale, chosen by the input's length so that a reproducer replays alike */
    data_jpeg_set_scale(d, 1 << (size & 3));
    int warn;
    if (data_jpeg_decode(d, data, size, &img, &warn) == 0) {
        /* touch the output so that a short or uninitialized image would be noticed */
        volatile uint8_t sink = 0;
        size_t n = (size_t)img.w * (size_t)img.h * (size_t)img.c;
        for (size_t i = 0; i < n; i += 61) sink ^= img.px[i];
        (void)sink;
    }
    return 0;
}
