/* A JPEG decoder written from ITU-T T.81: baseline and extended sequential Huffman (SOF0/SOF1)
 * and progressive Huffman (SOF2: spectral selection and successive approximation, DC and AC,
 * first and refinement scans), 8-bit samples, 1, 3 or 4 components with any sampling factors
 * whose ratios to the largest are integers, restart intervals, Adobe APP14 colour transforms.
 *
 * Output matches libjpeg-turbo's default decoding (`djpeg`): the accurate integer IDCT (the
 * LL&M "islow" algorithm: 13-bit constants, 2 extra bits after the column pass), triangular
 * ("fancy") upsampling for 2:1 chroma (h2v1, h1v2, h2v2) and replication for other ratios,
 * YCbCr → RGB with 16-bit fixed-point JFIF equations, CMYK → RGB as R = C·K/255 (Adobe files
 * store inverted CMYK; YCCK goes through YCbCr → inverted CMY first). Decoding at 1/2, 1/4 or
 * 1/8 of the size (data_jpeg_set_scale) follows libjpeg's scale_denom.
 *
 * Damaged data: a missing or corrupt tail, a bad Huffman code or a missing restart marker is not
 * an error. As libjpeg does, the entropy-coded segment concerned is read on as zero bits and the
 * rest of its restart interval is left at zero coefficients (grey), and a warning bit is set;
 * the image returned is whatever the data described. Errors (−1, nn_err with the byte offset)
 * are kept for files that cannot give an image: not a JPEG, unsupported coding process or
 * precision, bad or missing tables, no scan, a size above the pixel cap. Neither ever reads
 * outside the buffer. */
#ifndef HAQ_DATA_JPEG_H
#define HAQ_DATA_JPEG_H

#include <stddef.h>
#include <stdint.h>

#include "data/image.h"

/* Warning bits returned by data_jpeg_decode. */
enum {
    DATA_JPEG_WARN_TRUNCATED = 1, /* data ended early (missing tail, scans or EOI) */
    DATA_JPEG_WARN_CORRUPT = 2,   /* bad Huffman code, bad restart marker, stray bytes */
};

struct data_jpeg_info {
    int w, h;
    int ncomp;        /* components in the file: 1, 3 or 4 */
    int channels;     /* channels of the decoded image: 1 (gray) or 3 (RGB) */
    int progressive;  /* 1 for SOF2 */
    int hs[4], vs[4]; /* sampling factors per component */
};

/* Parse the markers up to the frame header only. */
int data_jpeg_info(const uint8_t *buf, size_t n, struct data_jpeg_info *info);

/* A decoder: its working buffers persist between images, so decoding a stream of similar
 * images allocates nothing after the first. Not shared between threads; use one per thread. */
struct data_jpeg;

struct data_jpeg *data_jpeg_new(void);
void data_jpeg_free(struct data_jpeg *d);

/* Images with more pixels than this are refused before anything is allocated (default 2^28). */
void data_jpeg_set_max_pixels(struct data_jpeg *d, uint64_t max_pixels);

/* Decode at 1/denom of the size, denom = 1 (the default), 2, 4 or 8, as libjpeg's scale_denom:
 * the image is ceil(w/denom) × ceil(h/denom), each 8 × 8 block transformed straight into
 * k = 8/denom samples a side (the IDCT averaged over denom × denom squares, computed in one
 * step), and a component subsampled by 2 or 4 keeps more samples of its block instead of being
 * upsampled, as libjpeg arranges it. Far cheaper than decoding at full size and shrinking.
 * Within rounding of djpeg -scale 1/denom (tests bound the difference). Fails (nn_err) for
 * another denom. */
int data_jpeg_set_scale(struct data_jpeg *d, int denom);

/* Decode buf[0, n) into img (w, h, c = 1 or 3, px grown as needed; see image.h). *warnings (may
 * be NULL) receives DATA_JPEG_WARN_* bits, 0 for a clean file. */
int data_jpeg_decode(struct data_jpeg *d, const uint8_t *buf, size_t n, struct data_image *img,
                     int *warnings);

/* One-shot: a temporary decoder. */
int data_jpeg_decode_mem(const uint8_t *buf, size_t n, struct data_image *img, int *warnings);

/* Read and decode a file. Errors carry the path. */
int data_jpeg_decode_file(const char *path, struct data_image *img, int *warnings);

/* Internal, exposed for the AVX2 file and the tests: the islow IDCT of one block.
 * coef: 64 dequantized coefficients in natural (row-major) order, each within int16;
 * out: 8 rows of 8 samples at `stride` bytes, clamped to [0, 255]. */
typedef void (*data_jpeg_idct_fn)(const int16_t *coef, uint8_t *out, size_t stride);
void data_jpeg_idct_islow(const int16_t *coef, uint8_t *out, size_t stride);
#ifndef HAQ_NOSIMD
void data_jpeg_idct_islow_avx2(const int16_t *coef, uint8_t *out, size_t stride);
#endif

/* Internal, exposed for the AVX2 file and the tests: the reduced IDCT of scaled decoding, one
 * block (as for the islow IDCT) to k × k samples, k = 4 or 2, with the weights below (m[x][u]:
 * the 8-point basis averaged over 8/k samples, 2^13 fixed point; see jpeg.c). */
extern const int32_t data_jpeg_reduced_m4[4][8], data_jpeg_reduced_m2[2][8];
void data_jpeg_idct_reduced(const int16_t *coef, uint8_t *out, size_t stride, int k);
#ifndef HAQ_NOSIMD
void data_jpeg_idct_reduced_avx2(const int16_t *coef, uint8_t *out, size_t stride, int k);
#endif

/* Internal, exposed for the AVX2 file and the tests: YCbCr → RGB of n pixels (rgb interleaved),
 *   R = Y + ((R_CR·Cr' + HALF) >> 16), G = Y + ((HALF − G_CB·Cb' − G_CR·Cr') >> 16),
 *   B = Y + ((B_CB·Cb' + HALF) >> 16),  X' = X − 128, each clamped to [0, 255],
 * the JFIF coefficients 1.402, 0.34414, 0.71414, 1.772 in 16-bit fixed point (rounded). */
#define YCC_R_CR 91881
#define YCC_G_CB 22554
#define YCC_G_CR 46802
#define YCC_B_CB 116130
#define YCC_HALF 32768
void data_jpeg_ycc_rgb(const uint8_t *y, const uint8_t *cb, const uint8_t *cr, uint8_t *rgb, int n);
#ifndef HAQ_NOSIMD
void data_jpeg_ycc_rgb_avx2(const uint8_t *y, const uint8_t *cb, const uint8_t *cr, uint8_t *rgb,
                            int n);
#endif

/* Internal, exposed for the tests: CMYK → RGB exactly as the decoder does it (n pixels). */
void data_jpeg_cmyk_to_rgb(const uint8_t *cmyk, uint8_t *rgb, size_t n);

#endif
