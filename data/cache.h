/* The packed cache: a data set decoded and resized once into a file of 8-bit pixels that later
 * runs map into memory as the source `cache:FILE`, so an epoch costs a copy per image instead
 * of a file read and a JPEG decode.
 *
 * Format, version 1. Integers are little-endian, floats IEEE 754 binary32, offsets count
 * bytes from the start of the file:
 *
 *     0   8  magic "HAQCACHE"
 *     8   4  version, 1
 *    12   4  h: rows of every image
 *    16   4  w: columns
 *    20   4  c: channels, 1 (gray) or 3 (RGB)
 *    24   4  classes
 *    28   4  names_bytes: size of the class-name table (0 when the source names none)
 *    32   8  images in the train split
 *    40   8  images in the held-out split
 *    48  12  mean[3] of the source (normalization on the [0, 1] scale)
 *    60  12  std[3]
 *    72   8  pixel offset = 256 + names_bytes, rounded up to a multiple of 64
 *    80   8  label offset = pixel offset + n·h·w·c, rounded up to a multiple of 8
 *    88   4  CRC-32 of bytes [0, pixel offset), these four taken as zero
 *    92   4  CRC-32 of the labels
 *    96   4  CRC-32 of the pixels
 *   100   4  S of `--size S`, or 0 when the images kept the source's own size
 *   104 152  description of the source it was made from, NUL-padded
 *   256   …  class names: `classes` NUL-terminated strings back to back
 *  (pixel offset)  n = train + held-out images, h·w·c bytes each (HWC), the train split first
 *  (label offset)  n uint32 labels in the same order; the file ends after them
 *
 * Zero bytes fill the gaps. Opening a cache checks every field, offset and size against the
 * file's length, the header's and the labels' CRC, and every label's range, so a truncated or
 * damaged file is an error naming it; the pixels' CRC is checked by data_cache_verify (`haq
 * data info --scan`), since reading every pixel on each open would defeat the cache. */
#ifndef HAQ_DATA_CACHE_H
#define HAQ_DATA_CACHE_H

#include <stddef.h>

#include "dataset.h"

struct data_cache_cfg {
    int size;             /* S > 0: shorter side to S, then the center S×S crop (an image
                           * already S×S is stored as it is); 0: keep the source's fixed size */
    int from[2];          /* source split filling the cache's train [0] and held-out [1] split */
    const size_t *idx[2]; /* indices into those splits, or NULL for all of them */
    size_t n[2];          /* lengths of idx[] */
    const char *label;    /* progress bar label on stderr; NULL or "" for none */
    const char *desc;     /* description stored in the header; NULL for the source's */
};

/* The plain copy of a source: its train split and its held-out split, all images. */
struct data_cache_cfg data_cache_defaults(int size);

/* Decode every selected image on the thread pool (nn_pool_size threads), fit it to S×S, and
 * stream the cache to a temporary file beside path, renamed onto path once complete and
 * synced: a crash never leaves a partial file under the final name. The bytes written do not
 * depend on the thread count. A failing image stops the run (nn_err names it; the lowest
 * failing index is the one reported). 0 or −1. */
int data_cache_write(struct data_source *src, const char *path, const struct data_cache_cfg *cfg);

/* The fit data_cache_write applies: out = in's shorter side resized to S (bilinear, averaged
 * over the footprint when shrinking more than 2×: data_resample) and its center S×S crop,
 * rounded to 8 bits; an S×S input is copied unchanged. 0 or −1 (out of memory). */
int data_resize_crop(const struct data_image *in, int S, struct data_image *out);

/* Check the pixels of an open cache source against their CRC; fails for other sources. */
int data_cache_verify(const struct data_source *s);

#endif
