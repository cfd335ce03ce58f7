/* safetensors files: an 8-byte little-endian header length N, N bytes of JSON
 *   {"name": {"dtype": "F32", "shape": [d0, …], "data_offsets": [begin, end]}, …,
 *    "__metadata__": {"key": "value", …}}
 * (padded with spaces to a multiple of 8), then the tensor bytes, little-endian, C order,
 * offsets relative to the end of the header. Readable by the safetensors, PyTorch, NumPy and
 * Rust implementations. The reader validates every entry against the file: dtype known,
 * shape × element size = byte length, offsets inside the data block, no overlaps. */
#ifndef HAQ_NN_SAFETENSORS_H
#define HAQ_NN_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

enum nn_dtype { NN_F32, NN_F16, NN_BF16, NN_F64, NN_I64, NN_I32, NN_I16, NN_I8, NN_U8, NN_BOOL };

/* Bytes per element; the safetensors name ("F32") and back. */
size_t nn_dtype_size(enum nn_dtype t);
const char *nn_dtype_name(enum nn_dtype t);
int nn_dtype_parse(const char *s, enum nn_dtype *t);

#define NN_ST_MAXDIM 8

struct nn_st_tensor {
    char *name;
    enum nn_dtype dtype;
    int ndim;
    int64_t shape[NN_ST_MAXDIM];
    size_t numel;
    const uint8_t *data; /* into the file mapping */
    size_t nbytes;
};

struct nn_st_file {
    uint8_t *map;
    size_t size;
    int mapped;
    int n;
    struct nn_st_tensor *t;
    int n_meta;
    char **meta_key, **meta_val;
};

/* Open and validate; 0 or −1 (nn_err: "FILE: what is wrong"). */
int nn_st_open(const char *path, struct nn_st_file *f);
void nn_st_close(struct nn_st_file *f);
const struct nn_st_tensor *nn_st_find(const struct nn_st_file *f, const char *name);
const char *nn_st_meta(const struct nn_st_file *f, const char *key);

/* One tensor to write: data holds nbytes = numel · element size, little-endian. */
struct nn_st_entry {
    const char *name;
    enum nn_dtype dtype;
    int ndim;
    int64_t shape[NN_ST_MAXDIM];
    const void *data;
    size_t nbytes;
};

/* Write entries (in the given order) and string metadata pairs to path, through a temporary
 * file renamed into place. 0 or −1. */
int nn_st_write(const char *path, const struct nn_st_entry *e, int n, const char *const *meta,
                int n_meta);

/* mkdir -p: dir and every missing parent. 0, or −1 (nn_err) when dir cannot be made or is not a
 * directory. */
int nn_mkdirs(const char *dir);
/* The bytes nn_st_write puts before the tensor data for these entries and metadata: the
 * 8-byte length and the padded JSON header. 0 or −1. */
int nn_st_header_bytes(const struct nn_st_entry *e, int n, const char *const *meta, int n_meta,
                       size_t *bytes);

/* Write a whole buffer to path atomically (temporary name + rename), creating missing parent
 * directories; 0 or −1. */
int nn_write_file_atomic(const char *path, const void *data, size_t len);

/* Read a whole file (up to max bytes); 0 or −1 naming the file. *data is malloc'd. */
int nn_read_file(const char *path, uint8_t **data, size_t *len, size_t max);

#endif
