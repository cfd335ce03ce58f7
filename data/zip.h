/* A ZIP archive reader (PKWARE APPNOTE 6.3): the end-of-central-directory record found behind
 * any archive comment, ZIP64 records and extra fields, the central directory, local headers,
 * and entries that are STORED (method 0) or DEFLATEd (method 8), with sizes and CRC-32 checked.
 *
 * PyTorch's torch.save writes such an archive: entries `<name>/data.pkl`, `<name>/data/0` …,
 * STORED, their data aligned to 64 bytes by padding in the local header's extra field, with
 * ZIP64 records once an entry or the archive passes 4 GiB. Opening a file maps it, so a STORED
 * entry is a pointer into the mapping at no copy. Every offset and size in the directory is
 * checked against the archive's bytes when it is opened; encrypted entries, other methods and
 * multi-disk archives are refused when their bytes are asked for (or at open, for multi-disk). */
#ifndef HAQ_DATA_ZIP_H
#define HAQ_DATA_ZIP_H

#include <stddef.h>
#include <stdint.h>

struct data_zip_entry {
    const char *name;    /* NUL-terminated, as stored (no path normalization) */
    uint64_t size;       /* uncompressed bytes */
    uint64_t comp_size;  /* bytes of the stored or compressed data */
    uint64_t header_off; /* archive offset of the local header */
    uint64_t data_off;   /* archive offset of the entry's data (after the local header) */
    uint32_t crc32;
    uint16_t method; /* 0 STORED, 8 DEFLATE; others are listed but cannot be read */
    uint16_t flags;  /* general-purpose bits; bit 0 = encrypted */
};

struct data_zip {
    const uint8_t *buf; /* the whole archive */
    size_t n;
    struct data_zip_entry *entries; /* in central-directory order */
    size_t count;
    /* private */
    void *map; /* the mapping to unmap, or NULL for a borrowed buffer */
    size_t map_n;
    char *names;
};

/* Open an archive file (memory-mapped; read into memory when it cannot be mapped). On failure
 * nothing is left to close. Errors carry the path. */
int data_zip_open(struct data_zip *z, const char *path);

/* Parse an archive already in memory; buf must outlive z (it is not copied or freed). */
int data_zip_open_mem(struct data_zip *z, const uint8_t *buf, size_t n);

/* Release the directory and the mapping; entry pointers and STORED data pointers die here. */
void data_zip_close(struct data_zip *z);

/* The entry named `name` exactly, or NULL (no error recorded). Linear in the entry count. */
const struct data_zip_entry *data_zip_find(const struct data_zip *z, const char *name);

/* The uncompressed bytes of an entry, CRC-32 and size checked: *data points at e->size bytes.
 * STORED: into the archive (no copy), and *owned = NULL. DEFLATE: into a fresh buffer that the
 * caller frees, and *owned = that buffer. Fails (nn_err naming the entry) for other methods,
 * encrypted entries, corrupt data or a size above max_size. */
int data_zip_read(const struct data_zip *z, const struct data_zip_entry *e, size_t max_size,
                  const uint8_t **data, uint8_t **owned);

#endif
