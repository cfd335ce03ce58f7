/* ZIP reading from the PKWARE APPNOTE: the directory is found from the end of the archive,
 * checked once at open (every entry's local header and data range), then read on demand. */
#include "zip.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/inflate.h"
#include "nn/error.h"

#define SIG_LOCAL   0x04034b50u
#define SIG_CENTRAL 0x02014b50u
#define SIG_EOCD    0x06054b50u
#define SIG_EOCD64  0x06064b50u
#define SIG_LOC64   0x07064b50u

static uint16_t rd16(const uint8_t *p) {
    return (uint16_t)(p[0] | p[1] << 8);
}
static uint32_t rd32(const uint8_t *p) {
    return rd16(p) | (uint32_t)rd16(p + 2) << 16;
}
static uint64_t rd64(const uint8_t *p) {
    return rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

/* The end-of-central-directory record: the last signature whose comment fits the archive. */
static int find_eocd(const uint8_t *b, size_t n, size_t *at) {
    if (n < 22) return nn_err("zip: %zu bytes is too short for an archive", n);
    size_t lo = n - 22 > 65535 ? n - 22 - 65535 : 0;
    for (size_t p = n - 22 + 1; p-- > lo;)
        if (rd32(b + p) == SIG_EOCD && p + 22 + rd16(b + p + 20) <= n) {
            *at = p;
            return 0;
        }
    return nn_err("zip: no end-of-central-directory record");
}

/* Replace the 0xFFFFFFFF fields of a central entry by their ZIP64 extra-field values. */
static int apply_zip64_extra(struct data_zip_entry *e, const uint8_t *x, size_t xn, int need_size,
                             int need_comp, int need_off, size_t at) {
    while (xn >= 4) {
        unsigned id = rd16(x), len = rd16(x + 2);
        if (len > xn - 4) return nn_err("zip: extra field overruns its entry at byte %zu", at);
        if (id == 0x0001) {
            const uint8_t *f = x + 4;
            unsigned left = len;
            uint64_t *dst[3] = {need_size ? &e->size : NULL, need_comp ? &e->comp_size : NULL,
                                need_off ? &e->header_off : NULL};
            for (int i = 0; i < 3; i++) {
                if (!dst[i]) continue;
                if (left < 8) return nn_err("zip: short ZIP64 extra field at byte %zu", at);
                *dst[i] = rd64(f);
                f += 8;
                left -= 8;
            }
            return 0;
        }
        x += 4 + len;
        xn -= 4 + len;
    }
    if (need_size || need_comp || need_off)
        return nn_err("zip: ZIP64 sizes announced but no ZIP64 extra field at byte %zu", at);
    return 0;
}

/* Check the local header of e and locate its data. */
static int check_local(const struct data_zip *z, struct data_zip_entry *e, size_t name_len) {
    const uint8_t *b = z->buf;
    uint64_t h = e->header_off;
    if (h > z->n || z->n - h < 30 || rd32(b + h) != SIG_LOCAL)
        return nn_err("zip: %s: no local header at byte %llu", e->name, (unsigned long long)h);
    size_t ln = rd16(b + h + 26), lx = rd16(b + h + 28);
    if (z->n - h - 30 < ln + lx)
        return nn_err("zip: %s: local header truncated at byte %llu", e->name,
                      (unsigned long long)h);
    if (ln != name_len || memcmp(b + h + 30, e->name, ln))
        return nn_err("zip: %s: local header names another entry (byte %llu)", e->name,
                      (unsigned long long)h);
    e->data_off = h + 30 + ln + lx;
    if (e->comp_size > z->n - e->data_off)
        return nn_err("zip: %s: data [%llu, +%llu) runs past the archive end %zu", e->name,
                      (unsigned long long)e->data_off, (unsigned long long)e->comp_size, z->n);
    return 0;
}

static int parse_directory(struct data_zip *z) {
    const uint8_t *b = z->buf;
    size_t n = z->n, eocd = 0;
    if (find_eocd(b, n, &eocd)) return -1;
    uint64_t count = rd16(b + eocd + 10), cd_size = rd32(b + eocd + 12),
             cd_off = rd32(b + eocd + 16);
    if (rd16(b + eocd + 4) || rd16(b + eocd + 6))
        return nn_err("zip: multi-disk archives are not supported");
    if (eocd >= 20 && rd32(b + eocd - 20) == SIG_LOC64) {
        uint64_t r = rd64(b + eocd - 20 + 8);
        if (r > n || n - r < 56 || rd32(b + r) != SIG_EOCD64)
            return nn_err("zip: bad ZIP64 end-of-central-directory offset %llu",
                          (unsigned long long)r);
        count = rd64(b + r + 32);
        cd_size = rd64(b + r + 40);
        cd_off = rd64(b + r + 48);
    }
    if (cd_off > n || cd_size > n - cd_off)
        return nn_err("zip: central directory [%llu, +%llu) outside the archive (%zu bytes)",
                      (unsigned long long)cd_off, (unsigned long long)cd_size, n);
    if (count > cd_size / 46)
        return nn_err("zip: %llu entries cannot fit a %llu-byte directory",
                      (unsigned long long)count, (unsigned long long)cd_size);
    z->entries = calloc(count ? count : 1, sizeof *z->entries);
    z->names = malloc(cd_size + 1);
    if (!z->entries || !z->names) return nn_err("zip: out of memory for the directory");
    char *names = z->names;
    size_t p = cd_off, end = cd_off + cd_size;
    for (uint64_t i = 0; i < count; i++) {
        if (end - p < 46 || rd32(b + p) != SIG_CENTRAL)
            return nn_err("zip: bad central directory entry %llu at byte %zu",
                          (unsigned long long)i, p);
        size_t ln = rd16(b + p + 28), lx = rd16(b + p + 30), lc = rd16(b + p + 32);
        if (end - p - 46 < ln + lx + lc)
            return nn_err("zip: central directory entry %llu overruns at byte %zu",
                          (unsigned long long)i, p);
        struct data_zip_entry *e = &z->entries[i];
        memcpy(names, b + p + 46, ln);
        names[ln] = 0;
        e->name = names;
        names += ln + 1;
        e->flags = rd16(b + p + 8);
        e->method = rd16(b + p + 10);
        e->crc32 = rd32(b + p + 16);
        e->comp_size = rd32(b + p + 20);
        e->size = rd32(b + p + 24);
        e->header_off = rd32(b + p + 42);
        if (apply_zip64_extra(e, b + p + 46 + ln, lx, e->size == 0xFFFFFFFFu,
                              e->comp_size == 0xFFFFFFFFu, e->header_off == 0xFFFFFFFFu, p))
            return -1;
        if (check_local(z, e, ln)) return -1;
        p += 46 + ln + lx + lc;
    }
    z->count = count;
    return 0;
}

int data_zip_open_mem(struct data_zip *z, const uint8_t *buf, size_t n) {
    memset(z, 0, sizeof *z);
    z->buf = buf;
    z->n = n;
    if (parse_directory(z)) {
        data_zip_close(z);
        return -1;
    }
    return 0;
}

int data_zip_open(struct data_zip *z, const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return nn_err("%s: %s", path, strerror(errno));
    struct stat st;
    void *map = MAP_FAILED;
    size_t n = 0;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
        n = (size_t)st.st_size;
        map = mmap(NULL, n, PROT_READ, MAP_PRIVATE, fd, 0);
    }
    close(fd);
    int owned_copy = 0;
    if (map == MAP_FAILED) {
        uint8_t *copy;
        if (data_read_file(path, &copy, &n)) return -1;
        map = copy;
        owned_copy = 1;
    }
    if (data_zip_open_mem(z, map, n)) {
        if (owned_copy)
            free(map);
        else
            munmap(map, n);
        return nn_err_ctx("%s: ", path);
    }
    z->map = map;
    z->map_n = owned_copy ? 0 : n;
    return 0;
}

void data_zip_close(struct data_zip *z) {
    free(z->entries);
    free(z->names);
    if (z->map) {
        if (z->map_n)
            munmap(z->map, z->map_n);
        else
            free(z->map);
    }
    memset(z, 0, sizeof *z);
}

const struct data_zip_entry *data_zip_find(const struct data_zip *z, const char *name) {
    for (size_t i = 0; i < z->count; i++)
        if (!strcmp(z->entries[i].name, name)) return &z->entries[i];
    return NULL;
}

int data_zip_read(const struct data_zip *z, const struct data_zip_entry *e, size_t max_size,
                  const uint8_t **data, uint8_t **owned) {
    *owned = NULL;
    if (e->flags & 1) return nn_err("zip: %s: encrypted entries are not supported", e->name);
    if (e->size > max_size)
        return nn_err("zip: %s: %llu bytes exceeds the limit of %zu", e->name,
                      (unsigned long long)e->size, max_size);
    const uint8_t *src = z->buf + e->data_off;
    if (e->method == 0) {
        if (e->comp_size != e->size)
            return nn_err("zip: %s: stored entry with sizes %llu and %llu", e->name,
                          (unsigned long long)e->comp_size, (unsigned long long)e->size);
        if (data_crc32(0, src, (size_t)e->size) != e->crc32)
            return nn_err("zip: %s: CRC-32 mismatch", e->name);
        *data = src;
        return 0;
    }
    if (e->method != 8)
        return nn_err("zip: %s: compression method %u is not supported", e->name, e->method);
    uint8_t *out = malloc(e->size ? (size_t)e->size : 1);
    if (!out)
        return nn_err("zip: %s: out of memory for %llu bytes", e->name,
                      (unsigned long long)e->size);
    size_t got;
    if (data_inflate_into(src, (size_t)e->comp_size, out, (size_t)e->size, &got, NULL)) {
        free(out);
        return nn_err_ctx("zip: %s (data at byte %llu): ", e->name,
                          (unsigned long long)e->data_off);
    }
    if (got != e->size || data_crc32(0, out, got) != e->crc32) {
        free(out);
        return nn_err("zip: %s: %s mismatch", e->name, got != e->size ? "size" : "CRC-32");
    }
    *data = out;
    *owned = out;
    return 0;
}
