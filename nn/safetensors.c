#include "safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "json.h"

static const struct {
    const char *name;
    size_t size;
} dtypes[] = {{"F32", 4}, {"F16", 2}, {"BF16", 2}, {"F64", 8}, {"I64", 8},
              {"I32", 4}, {"I16", 2}, {"I8", 1},   {"U8", 1},  {"BOOL", 1}};

size_t nn_dtype_size(enum nn_dtype t) { return dtypes[t].size; }
const char *nn_dtype_name(enum nn_dtype t) { return dtypes[t].name; }

int nn_dtype_parse(const char *s, enum nn_dtype *t) {
    for (size_t i = 0; i < sizeof dtypes / sizeof *dtypes; i++)
        if (!strcmp(s, dtypes[i].name)) {
            *t = (enum nn_dtype)i;
            return 0;
        }
    return -1;
}

int nn_read_file(const char *path, uint8_t **data, size_t *len, size_t max) {
    *data = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return nn_err("%s: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    for (;;) {
        if (!buf) {
            fclose(f);
            return nn_err("%s: out of memory", path);
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
        if (n > max) {
            free(buf);
            fclose(f);
            return nn_err("%s: larger than %zu bytes", path, max);
        }
        if (n == cap) {
            uint8_t *nb = realloc(buf, cap * 2);
            if (!nb) free(buf);
            buf = nb;
            cap *= 2;
        }
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return nn_err("%s: read error", path);
    }
    *data = buf;
    *len = n;
    return 0;
}

int nn_mkdirs(const char *dir) {
    char buf[4096];
    size_t n = strlen(dir);
    if (n >= sizeof buf) return nn_err("%s: path too long", dir);
    memcpy(buf, dir, n + 1);
    for (size_t i = 1; i <= n; i++)
        if (buf[i] == '/' || buf[i] == 0) {
            char c = buf[i];
            buf[i] = 0;
            mkdir(buf, 0777); /* an existing one is fine; the stat below judges */
            buf[i] = c;
        }
    struct stat st;
    if (stat(dir, &st)) return nn_err("%s: cannot create the directory: %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode)) return nn_err("%s: exists and is not a directory", dir);
    return 0;
}

/* Create the directories leading to path; errors surface when the file itself is opened. */
static void make_parents(const char *path) {
    char buf[4096];
    size_t n = strlen(path);
    if (n >= sizeof buf) return;
    memcpy(buf, path, n + 1);
    char *slash = strrchr(buf, '/');
    if (!slash || slash == buf) return;
    *slash = 0;
    if (nn_mkdirs(buf)) nn_err_clear();
}

int nn_write_file_atomic(const char *path, const void *data, size_t len) {
    make_parents(path);
    size_t pl = strlen(path);
    char *tmp = malloc(pl + 32);
    if (!tmp) return nn_err("%s: out of memory", path);
    snprintf(tmp, pl + 32, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        nn_err("%s: %s", tmp, strerror(errno));
        free(tmp);
        return -1;
    }
    int ok = fwrite(data, 1, len, f) == len;
    ok &= fflush(f) == 0;
    ok &= fsync(fileno(f)) == 0 || errno == EINVAL;
    ok &= fclose(f) == 0;
    if (!ok || rename(tmp, path) != 0) {
        nn_err("%s: cannot write (%s)", path, strerror(errno));
        remove(tmp);
        free(tmp);
        return -1;
    }
    free(tmp);
    return 0;
}

/* ---- reading ------------------------------------------------------------------------------ */

/* Format the message (its arguments may point into f), release f, report "path: message". */
static int fail(struct nn_st_file *f, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(struct nn_st_file *f, const char *path, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    nn_st_close(f);
    return nn_err("%.400s: %s", path, msg);
}

void nn_st_close(struct nn_st_file *f) {
    for (int i = 0; i < f->n; i++) free(f->t[i].name);
    free(f->t);
    for (int i = 0; i < f->n_meta; i++) {
        free(f->meta_key[i]);
        free(f->meta_val[i]);
    }
    free(f->meta_key);
    free(f->meta_val);
    if (f->map) {
        if (f->mapped) munmap(f->map, f->size);
        else free(f->map);
    }
    memset(f, 0, sizeof *f);
}

static int cmp_off(const void *a, const void *b) {
    const struct nn_st_tensor *x = *(const struct nn_st_tensor *const *)a;
    const struct nn_st_tensor *y = *(const struct nn_st_tensor *const *)b;
    return x->data < y->data ? -1 : x->data > y->data;
}

/* fail() for errors found while the header's JSON is alive: the message may point into it. */
static int fail_j(struct nn_st_file *f, struct nn_json *j, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail_j(struct nn_st_file *f, struct nn_json *j, const char *path, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    nn_json_free(j);
    nn_st_close(f);
    return nn_err("%.400s: %s", path, msg);
}

int nn_st_open(const char *path, struct nn_st_file *f) {
    memset(f, 0, sizeof *f);
    int fd = open(path, O_RDONLY);
    if (fd < 0) return nn_err("%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return nn_err("%s: not a regular file", path);
    }
    f->size = (size_t)st.st_size;
    if (f->size < 8) {
        close(fd);
        return nn_err("%s: %zu bytes is too short for a safetensors file", path, f->size);
    }
    void *m = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED) {
        uint8_t *buf;
        size_t len;
        if (nn_read_file(path, &buf, &len, (size_t)1 << 40)) return -1;
        f->map = buf;
        f->size = len;
    } else {
        f->map = m;
        f->mapped = 1;
    }
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | f->map[i];
    if (hlen > f->size - 8 || hlen > (100u << 20))
        return fail(f, path, "header length exceeds the file");
    struct nn_json j;
    if (nn_json_parse(&j, (const char *)f->map + 8, (size_t)hlen)) {
        char why[400];
        snprintf(why, sizeof why, "%s", nn_errmsg());
        return fail(f, path, "header: %s", why);
    }
    if (j.v[0].type != NN_JSON_OBJECT) {
        return fail_j(f, &j, path, "header is not a JSON object");
    }
    const uint8_t *data = f->map + 8 + hlen;
    size_t dsize = f->size - 8 - (size_t)hlen;
    f->t = calloc((size_t)j.v[0].count + 1, sizeof *f->t);
    if (!f->t) {
        return fail_j(f, &j, path, "out of memory");
    }
    for (int c = j.v[0].first; c >= 0; c = j.v[c].next) {
        const char *key = nn_json_str(&j, j.v[c].key);
        if (!strcmp(key, "__metadata__")) {
            if (j.v[c].type != NN_JSON_OBJECT) {
                return fail_j(f, &j, path, "__metadata__ is not an object");
            }
            int m = j.v[c].count;
            f->meta_key = calloc((size_t)m + 1, sizeof(char *));
            f->meta_val = calloc((size_t)m + 1, sizeof(char *));
            if (!f->meta_key || !f->meta_val) {
                return fail_j(f, &j, path, "out of memory");
            }
            for (int e = j.v[c].first; e >= 0; e = j.v[e].next) {
                if (j.v[e].type != NN_JSON_STRING) {
                    return fail_j(f, &j, path, "metadata value of '%s' is not a string",
                                nn_json_str(&j, j.v[e].key));
                }
                f->meta_key[f->n_meta] = strdup(nn_json_str(&j, j.v[e].key));
                f->meta_val[f->n_meta] = strdup(nn_json_str(&j, e));
                f->n_meta++;
            }
            continue;
        }
        struct nn_st_tensor *t = &f->t[f->n];
        int dt = nn_json_get(&j, c, "dtype"), sh = nn_json_get(&j, c, "shape");
        int of = nn_json_get(&j, c, "data_offsets");
        if (j.v[c].type != NN_JSON_OBJECT || dt < 0 || sh < 0 || of < 0 ||
            j.v[dt].type != NN_JSON_STRING || j.v[sh].type != NN_JSON_ARRAY ||
            j.v[of].type != NN_JSON_ARRAY || j.v[of].count != 2) {
            return fail_j(f, &j, path, "tensor '%s' needs dtype, shape and data_offsets", key);
        }
        if (nn_dtype_parse(nn_json_str(&j, dt), &t->dtype)) {
            return fail_j(f, &j, path, "tensor '%s' has an unknown dtype", key);
        }
        if (j.v[sh].count > NN_ST_MAXDIM) {
            return fail_j(f, &j, path, "tensor '%s' has too many dimensions", key);
        }
        t->numel = 1;
        int overflow = 0;
        for (int d = j.v[sh].first; d >= 0; d = j.v[d].next) {
            if (j.v[d].type != NN_JSON_NUMBER || !j.v[d].is_int || j.v[d].i64 < 0 ||
                j.v[d].i64 > ((int64_t)1 << 40)) {
                return fail_j(f, &j, path, "tensor '%s' has a bad shape", key);
            }
            t->shape[t->ndim++] = j.v[d].i64;
            if (t->numel && (size_t)j.v[d].i64 > ((size_t)1 << 42) / t->numel) overflow = 1;
            t->numel *= (size_t)j.v[d].i64;
        }
        int b = j.v[of].first, e = j.v[b].next;
        if (overflow || j.v[b].type != NN_JSON_NUMBER || !j.v[b].is_int ||
            j.v[e].type != NN_JSON_NUMBER || !j.v[e].is_int || j.v[b].i64 < 0 ||
            j.v[e].i64 < j.v[b].i64 || (uint64_t)j.v[e].i64 > dsize ||
            (size_t)(j.v[e].i64 - j.v[b].i64) != t->numel * nn_dtype_size(t->dtype)) {
            return fail_j(f, &j, path, "tensor '%s': data_offsets do not match its shape and the file",
                        key);
        }
        t->data = data + j.v[b].i64;
        t->nbytes = (size_t)(j.v[e].i64 - j.v[b].i64);
        t->name = strdup(key);
        if (!t->name) {
            return fail_j(f, &j, path, "out of memory");
        }
        f->n++;
    }
    nn_json_free(&j);
    /* no two tensors may share bytes */
    const struct nn_st_tensor **by = malloc(((size_t)f->n + 1) * sizeof *by);
    if (!by) return fail(f, path, "out of memory");
    for (int i = 0; i < f->n; i++) by[i] = &f->t[i];
    qsort(by, (size_t)f->n, sizeof *by, cmp_off);
    for (int i = 1; i < f->n; i++)
        if (by[i - 1]->data + by[i - 1]->nbytes > by[i]->data) {
            char name[256];
            snprintf(name, sizeof name, "%s", by[i]->name);
            free(by);
            return fail(f, path, "tensor '%.200s' overlaps another", name);
        }
    free(by);
    for (int i = 0; i < f->n; i++)
        for (int k = 0; k < i; k++)
            if (!strcmp(f->t[i].name, f->t[k].name))
                return fail(f, path, "tensor '%s' appears twice", f->t[i].name);
    return 0;
}

const struct nn_st_tensor *nn_st_find(const struct nn_st_file *f, const char *name) {
    for (int i = 0; i < f->n; i++)
        if (!strcmp(f->t[i].name, name)) return &f->t[i];
    return NULL;
}

const char *nn_st_meta(const struct nn_st_file *f, const char *key) {
    for (int i = 0; i < f->n_meta; i++)
        if (!strcmp(f->meta_key[i], key)) return f->meta_val[i];
    return NULL;
}

/* ---- writing ------------------------------------------------------------------------------ */

struct sbuf {
    char *p;
    size_t n, cap;
    int oom;
};

static void sb_put(struct sbuf *b, const char *s, size_t len) {
    if (b->oom) return;
    if (b->n + len + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 1024;
        while (nc < b->n + len + 1) nc *= 2;
        char *q = realloc(b->p, nc);
        if (!q) {
            b->oom = 1;
            return;
        }
        b->p = q;
        b->cap = nc;
    }
    memcpy(b->p + b->n, s, len);
    b->n += len;
    b->p[b->n] = 0;
}

static void sb_str(struct sbuf *b, const char *s) {
    size_t need = nn_json_quote(NULL, 0, s) + 1;
    char *q = malloc(need);
    if (!q) {
        b->oom = 1;
        return;
    }
    nn_json_quote(q, need, s);
    sb_put(b, q, need - 1);
    free(q);
}

/* The JSON header of a file holding e[0 … n) and the metadata pairs, padded with spaces to a
 * multiple of 8 so that the data block is aligned; *data_bytes gets the data block's size.
 * h->oom on failure. */
static void header(struct sbuf *h, const struct nn_st_entry *e, int n, const char *const *meta,
                   int n_meta, size_t *data_bytes) {
    char num[64];
    size_t off = 0;
    sb_put(h, "{", 1);
    if (n_meta > 0) {
        sb_put(h, "\"__metadata__\":{", 16);
        for (int i = 0; i < n_meta; i++) {
            if (i) sb_put(h, ",", 1);
            sb_str(h, meta[2 * i]);
            sb_put(h, ":", 1);
            sb_str(h, meta[2 * i + 1]);
        }
        sb_put(h, "}", 1);
    }
    for (int i = 0; i < n; i++) {
        if (i || n_meta > 0) sb_put(h, ",", 1);
        sb_str(h, e[i].name);
        sb_put(h, ":{\"dtype\":\"", 11);
        sb_put(h, nn_dtype_name(e[i].dtype), strlen(nn_dtype_name(e[i].dtype)));
        sb_put(h, "\",\"shape\":[", 11);
        for (int d = 0; d < e[i].ndim; d++) {
            int l = snprintf(num, sizeof num, "%s%lld", d ? "," : "", (long long)e[i].shape[d]);
            sb_put(h, num, (size_t)l);
        }
        int l = snprintf(num, sizeof num, "],\"data_offsets\":[%zu,%zu]}", off, off + e[i].nbytes);
        sb_put(h, num, (size_t)l);
        off += e[i].nbytes;
    }
    sb_put(h, "}", 1);
    while (h->n % 8) sb_put(h, " ", 1); /* align the data block to 8 bytes */
    *data_bytes = off;
}

int nn_st_header_bytes(const struct nn_st_entry *e, int n, const char *const *meta, int n_meta,
                       size_t *bytes) {
    struct sbuf h = {0};
    size_t off;
    header(&h, e, n, meta, n_meta, &off);
    free(h.p);
    if (h.oom) return nn_err("safetensors header: out of memory");
    *bytes = 8 + h.n;
    return 0;
}

int nn_st_write(const char *path, const struct nn_st_entry *e, int n, const char *const *meta,
                int n_meta) {
    struct sbuf h = {0};
    size_t off;
    header(&h, e, n, meta, n_meta, &off);
    if (h.oom) {
        free(h.p);
        return nn_err("%s: out of memory", path);
    }
    size_t total = 8 + h.n + off;
    uint8_t *buf = malloc(total);
    if (!buf) {
        free(h.p);
        return nn_err("%s: out of memory (%zu bytes)", path, total);
    }
    for (int i = 0; i < 8; i++) buf[i] = (uint8_t)((uint64_t)h.n >> (8 * i));
    memcpy(buf + 8, h.p, h.n);
    size_t pos = 8 + h.n;
    for (int i = 0; i < n; i++) {
        memcpy(buf + pos, e[i].data, e[i].nbytes);
        pos += e[i].nbytes;
    }
    free(h.p);
    int rc = nn_write_file_atomic(path, buf, total);
    free(buf);
    return rc;
}
