/* NumPy .npy files: read and write.
 *
 * Format (numpy.lib.format): magic "\x93NUMPY", major/minor version, header length (2 bytes
 * little-endian in v1, 4 bytes in v2 and v3), then the header: a Python dict literal
 * {'descr': '<f4', 'fortran_order': False, 'shape': (53, 8, 8), } padded with spaces and ended by
 * '\n' (v1/v2: latin-1, v3: utf-8), then the raw elements. The reader parses the dict literal
 * properly (quotes, tuples, trailing commas, True/False, exactly these three keys once each) and
 * checks every length against the bytes it has; any defect is an error naming the file and the
 * byte offset. Fortran-order arrays are transposed to C order on reading, so `data` is always
 * C order. Supported element types: <f4 <f8 <i8 <i4 |u1 (read and write), <f2 (read only).
 * Big-endian and structured dtypes are rejected. The host is little-endian (x86-64, aarch64). */
#ifndef HAQ_NN_NPY_H
#define HAQ_NN_NPY_H

#include <stddef.h>
#include <stdint.h>

#define NN_NPY_MAX_DIM 32

enum nn_npy_dtype {
    NN_NPY_F4, /* '<f4' float32 */
    NN_NPY_F8, /* '<f8' float64 */
    NN_NPY_I8, /* '<i8' int64 */
    NN_NPY_I4, /* '<i4' int32 */
    NN_NPY_U1, /* '|u1' uint8 */
    NN_NPY_F2, /* '<f2' IEEE half, read only: data holds the raw uint16 bit patterns */
};

struct nn_npy {
    enum nn_npy_dtype dtype;
    int ndim;                      /* 0 for a scalar */
    int64_t shape[NN_NPY_MAX_DIM]; /* C order */
    size_t count;                  /* elements: product of shape (1 for a scalar) */
    void *data;                    /* count elements of dtype, C order; owned (nn_npy_free) */
};

/* Bytes per element of a dtype. */
size_t nn_npy_itemsize(enum nn_npy_dtype t);

/* The descr string of a dtype ("<f4" …). */
const char *nn_npy_descr(enum nn_npy_dtype t);

/* Parse a whole .npy image of len bytes; `name` (a file name) prefixes every error. On success
 * *a owns newly allocated data. Returns 0 or −1 (nn_err). */
int nn_npy_parse(struct nn_npy *a, const void *buf, size_t len, const char *name);

/* Read a .npy file. Returns 0 or −1 (nn_err, naming the file). */
int nn_npy_read(struct nn_npy *a, const char *path);

/* Element i (C order) as a double; f2 is converted exactly. */
double nn_npy_get(const struct nn_npy *a, size_t i);

void nn_npy_free(struct nn_npy *a);

/* Write count = Π shape elements of dtype t (C order, any rank ≥ 0, not f2) to path: version 1
 * (version 2 if the header needs more than 65535 bytes), header padded so the data starts on a
 * 64-byte boundary, byte-for-byte what numpy.save writes. Written to a temporary file in the
 * same directory and renamed, so an interrupted write never leaves a partial file. Returns 0
 * or −1 (nn_err). */
int nn_npy_write(const char *path, enum nn_npy_dtype t, int ndim, const int64_t *shape,
                 const void *data);

#endif
