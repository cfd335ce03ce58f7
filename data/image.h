/* 8-bit images in memory and the PPM/PGM (netpbm P6/P5) files they are written to.
 *
 * An image is h rows of w pixels of c interleaved channels (1 gray, 3 RGB): byte
 * px[(y·w + x)·c + ch]. Decoders grow px to fit (cap records its size) so a caller decoding many
 * images into one struct allocates once. */
#ifndef HAQ_DATA_IMAGE_H
#define HAQ_DATA_IMAGE_H

#include <stddef.h>
#include <stdint.h>

struct data_image {
    uint8_t *px; /* h × w × c bytes, malloc'ed; released by data_image_free */
    int w, h, c;
    size_t cap; /* bytes allocated at px */
};

/* Make room for w × h × c bytes (reusing px when cap suffices) and set the dimensions.
 * Fails (nn_err) on overflow or out of memory; the old buffer is then kept. */
int data_image_alloc(struct data_image *img, int w, int h, int c);

void data_image_free(struct data_image *img);

/* Write P6 (c = 3) or P5 (c = 1) with maxval 255, to path + ".tmp" and then renamed onto path,
 * so a crash never leaves a partial file under the final name. */
int data_image_write_pnm(const char *path, const struct data_image *img);

/* Parse a binary P5/P6 image with maxval 255 (comments allowed in the header). */
int data_pnm_decode(const uint8_t *buf, size_t n, struct data_image *img);

/* Read a P5/P6 file. Errors carry the path. */
int data_image_read_pnm(const char *path, struct data_image *img);

#endif
