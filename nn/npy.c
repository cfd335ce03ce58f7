#include "npy.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "nn/npy.c assumes a little-endian host"
#endif

static const unsigned char magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};

size_t nn_npy_itemsize(enum nn_npy_dtype t) {
    switch (t) {
    case NN_NPY_F4:
        return 4;
    case NN_NPY_F8:
        return 8;
    case NN_NPY_I8:
        return 8;
    case NN_NPY_I4:
        return 4;
    case NN_NPY_U1:
        return 1;
    case NN_NPY_F2:
        return 2;
    }
    return 0;
}

const char *nn_npy_descr(enum nn_npy_dtype t) {
    switch (t) {
    case NN_NPY_F4:
        return "<f4";
    case NN_NPY_F8:
        return "<f8";
    case NN_NPY_I8:
        return "<i8";
    case NN_NPY_I4:
        return "<i4";
    case NN_NPY_U1:
        return "|u1";
    case NN_NPY_F2:
        return "<f2";
    }
    return "?";
}

/* ---- header parsing --------------------------------------------------------------------------
 * A recursive-descent parser for the one dict literal numpy writes. `base` is the file offset of
 * the header's first byte, so errors point at the byte in the file. */

struct hparse {
    const char *s, *end;
    size_t base;
    const char *name;
    const char *start;
};

static int herr(const struct hparse *p, const char *what) {
    return nn_err("%s: .npy header, offset %zu: %s", p->name, p->base + (size_t)(p->s - p->start),
                  what);
}

static void skip_ws(struct hparse *p) {
    while (p->s < p->end && (*p->s == ' ' || *p->s == '\t' || *p->s == '\n' || *p->s == '\r'))
        p->s++;
}

/* A quoted string without escapes into out[cap]. */
static int parse_str(struct hparse *p, char *out, size_t cap) {
    if (p->s >= p->end || (*p->s != '\'' && *p->s != '"')) return herr(p, "expected a string");
    char q = *p->s++;
    size_t n = 0;
    while (p->s < p->end && *p->s != q) {
        if (*p->s == '\\') return herr(p, "escape sequences are not supported in strings");
        if (*p->s == '\n') return herr(p, "newline inside a string");
        if (n + 1 >= cap) return herr(p, "string too long");
        out[n++] = *p->s++;
    }
    if (p->s >= p->end) return herr(p, "unterminated string");
    p->s++;
    out[n] = 0;
    return 0;
}

static int parse_word(struct hparse *p, const char *w) {
    size_t n = strlen(w);
    if ((size_t)(p->end - p->s) < n || memcmp(p->s, w, n)) return -1;
    const char *after = p->s + n;
    if (after < p->end && ((*after >= 'a' && *after <= 'z') || (*after >= 'A' && *after <= 'Z') ||
                           (*after >= '0' && *after <= '9') || *after == '_'))
        return -1;
    p->s = after;
    return 0;
}

/* A tuple of non-negative integers: (), (5,), (53, 8, 8). Python 2's 'L' suffix is accepted. */
static int parse_shape(struct hparse *p, struct nn_npy *a) {
    if (p->s >= p->end || *p->s != '(') return herr(p, "'shape' must be a tuple");
    p->s++;
    a->ndim = 0;
    int need_comma_for_one = 1;
    for (;;) {
        skip_ws(p);
        if (p->s >= p->end) return herr(p, "unterminated shape tuple");
        if (*p->s == ')') break;
        if (*p->s == '-') return herr(p, "negative dimension in shape");
        if (*p->s < '0' || *p->s > '9') return herr(p, "expected an integer in shape");
        int64_t v = 0;
        while (p->s < p->end && *p->s >= '0' && *p->s <= '9') {
            if (v > (INT64_MAX - 9) / 10) return herr(p, "dimension too large");
            v = v * 10 + (*p->s++ - '0');
        }
        if (p->s < p->end && *p->s == 'L') p->s++;
        if (a->ndim == NN_NPY_MAX_DIM) return herr(p, "too many dimensions");
        a->shape[a->ndim++] = v;
        skip_ws(p);
        if (p->s < p->end && *p->s == ',') {
            p->s++;
            need_comma_for_one = 0;
            continue;
        }
        if (p->s < p->end && *p->s == ')') break;
        return herr(p, "expected ',' or ')' in shape");
    }
    if (a->ndim == 1 && need_comma_for_one)
        return herr(p, "'(n)' is not a tuple: a one-dimensional shape is written '(n,)'");
    p->s++;
    return 0;
}

static int parse_descr(struct hparse *p, struct nn_npy *a) {
    if (p->s < p->end && (*p->s == '[' || *p->s == '{'))
        return herr(p, "structured dtypes are not supported");
    const char *at = p->s;
    char d[16];
    if (parse_str(p, d, sizeof d)) return -1;
    static const struct {
        const char *s;
        enum nn_npy_dtype t;
    } known[] = {{"<f4", NN_NPY_F4}, {"<f8", NN_NPY_F8}, {"<i8", NN_NPY_I8}, {"<i4", NN_NPY_I4},
                 {"|u1", NN_NPY_U1}, {"<u1", NN_NPY_U1}, {"<f2", NN_NPY_F2}};
    for (size_t i = 0; i < sizeof known / sizeof *known; i++)
        if (!strcmp(d, known[i].s)) {
            a->dtype = known[i].t;
            return 0;
        }
    p->s = at;
    char msg[96];
    snprintf(msg, sizeof msg, "%s dtype '%s' is not supported (<f4 <f8 <i8 <i4 |u1 <f2)",
             d[0] == '>' ? "big-endian" : "", d);
    return herr(p, msg[0] == ' ' ? msg + 1 : msg);
}

/* 1 if [s, end) is valid UTF-8 (no overlongs, no surrogates). */
static int utf8_valid(const unsigned char *s, const unsigned char *end) {
    while (s < end) {
        unsigned c = *s;
        size_t n = c < 0x80 ? 0 : (c >> 5) == 6 ? 1 : (c >> 4) == 14 ? 2 : (c >> 3) == 30 ? 3 : 9;
        if (n == 9 || (size_t)(end - s) < n + 1) return 0;
        unsigned cp = n == 0 ? c : c & (0x3f >> n);
        for (size_t k = 1; k <= n; k++) {
            if ((s[k] & 0xc0) != 0x80) return 0;
            cp = cp << 6 | (s[k] & 0x3f);
        }
        static const unsigned min_cp[4] = {0, 0x80, 0x800, 0x10000};
        if (cp < min_cp[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
        s += n + 1;
    }
    return 1;
}

static int parse_header(struct hparse *p, struct nn_npy *a, int *fortran) {
    int seen_descr = 0, seen_fortran = 0, seen_shape = 0;
    if (p->end == p->start || p->end[-1] != '\n') return herr(p, "header does not end in '\\n'");
    skip_ws(p);
    if (p->s >= p->end || *p->s != '{') return herr(p, "header is not a dict literal");
    p->s++;
    for (;;) {
        skip_ws(p);
        if (p->s >= p->end) return herr(p, "unterminated dict");
        if (*p->s == '}') break;
        char key[32];
        const char *key_at = p->s;
        if (parse_str(p, key, sizeof key)) return -1;
        skip_ws(p);
        if (p->s >= p->end || *p->s != ':') return herr(p, "expected ':' after a key");
        p->s++;
        skip_ws(p);
        int *seen = !strcmp(key, "descr")           ? &seen_descr
                    : !strcmp(key, "fortran_order") ? &seen_fortran
                    : !strcmp(key, "shape")         ? &seen_shape
                                                    : NULL;
        if (!seen || (*seen)++) {
            p->s = key_at;
            return herr(p, seen ? "duplicate key"
                                : "unknown key (expected 'descr', 'fortran_order', 'shape')");
        }
        if (seen == &seen_descr) {
            if (parse_descr(p, a)) return -1;
        } else if (seen == &seen_shape) {
            if (parse_shape(p, a)) return -1;
        } else if (!parse_word(p, "True")) {
            *fortran = 1;
        } else if (parse_word(p, "False")) {
            return herr(p, "'fortran_order' must be True or False");
        }
        skip_ws(p);
        if (p->s < p->end && *p->s == ',') {
            p->s++;
            continue;
        }
        skip_ws(p);
        if (p->s < p->end && *p->s == '}') break;
        return herr(p, "expected ',' or '}'");
    }
    p->s++;
    skip_ws(p);
    if (p->s != p->end) return herr(p, "garbage after the dict");
    if (!seen_descr || !seen_fortran || !seen_shape)
        return herr(p, !seen_descr     ? "missing key 'descr'"
                       : !seen_fortran ? "missing key 'fortran_order'"
                                       : "missing key 'shape'");
    return 0;
}

/* ---- reading ----------------------------------------------------------------------------------
 */

/* Copy a Fortran-order array into C order: element (i0 … in−1) sits at Σ i_k·Π_{j<k} s_j. */
static void fortran_to_c(void *dst, const void *src, const struct nn_npy *a, size_t item) {
    int64_t idx[NN_NPY_MAX_DIM] = {0};
    size_t stride[NN_NPY_MAX_DIM];
    size_t st = 1;
    for (int k = 0; k < a->ndim; k++) {
        stride[k] = st;
        st *= (size_t)a->shape[k];
    }
    const unsigned char *s = src;
    unsigned char *d = dst;
    for (size_t i = 0; i < a->count; i++) {
        size_t off = 0;
        for (int k = 0; k < a->ndim; k++) off += (size_t)idx[k] * stride[k];
        memcpy(d + i * item, s + off * item, item);
        for (int k = a->ndim - 1; k >= 0; k--) {
            if (++idx[k] < a->shape[k]) break;
            idx[k] = 0;
        }
    }
}

int nn_npy_parse(struct nn_npy *a, const void *buf, size_t len, const char *name) {
    memset(a, 0, sizeof *a);
    const unsigned char *b = buf;
    if (len < 10) return nn_err("%s: %zu bytes: too short for a .npy file", name, len);
    if (memcmp(b, magic, sizeof magic)) return nn_err("%s: not a .npy file (bad magic)", name);
    int major = b[6], minor = b[7];
    if (major < 1 || major > 3 || minor != 0)
        return nn_err("%s: .npy version %d.%d is not supported (1.0, 2.0, 3.0)", name, major,
                      minor);
    size_t hoff = major == 1 ? 10 : 12, hlen;
    if (len < hoff) return nn_err("%s: truncated in the header length", name);
    hlen = major == 1
               ? (size_t)b[8] | (size_t)b[9] << 8
               : (size_t)b[8] | (size_t)b[9] << 8 | (size_t)b[10] << 16 | (size_t)b[11] << 24;
    if (hlen > len - hoff)
        return nn_err("%s: header of %zu bytes at offset %zu overruns the file (%zu bytes)", name,
                      hlen, hoff, len);
    const unsigned char *h = b + hoff;
    if (major == 3 && !utf8_valid(h, h + hlen))
        return nn_err("%s: .npy v3 header at offset %zu is not valid UTF-8", name, hoff);
    struct hparse p = {(const char *)h, (const char *)h + hlen, hoff, name, (const char *)h};
    int fortran = 0;
    if (parse_header(&p, a, &fortran)) return -1;

    size_t item = nn_npy_itemsize(a->dtype), count = 1;
    for (int k = 0; k < a->ndim; k++) {
        uint64_t d = (uint64_t)a->shape[k];
        if (d && count > SIZE_MAX / item / d)
            return nn_err("%s: shape overflows the address space", name);
        count *= (size_t)d;
    }
    size_t data_off = hoff + hlen, need = count * item, have = len - data_off;
    if (have != need)
        return nn_err("%s: %s data at offset %zu: %zu bytes for %zu elements of %zu bytes", name,
                      have < need ? "truncated" : "trailing bytes after the", data_off, have, count,
                      item);
    a->count = count;
    a->data = malloc(need ? need : 1);
    if (!a->data) return nn_err("%s: out of memory (%zu bytes)", name, need);
    if (fortran && a->ndim > 1)
        fortran_to_c(a->data, b + data_off, a, item);
    else
        memcpy(a->data, b + data_off, need);
    return 0;
}

int nn_npy_read(struct nn_npy *a, const char *path) {
    memset(a, 0, sizeof *a);
    FILE *f = fopen(path, "rb");
    if (!f) return nn_err("%s: %s", path, strerror(errno));
    unsigned char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            size_t nc = cap ? 2 * cap : 65536;
            unsigned char *nb = realloc(buf, nc);
            if (!nb) {
                free(buf);
                fclose(f);
                return nn_err("%s: out of memory", path);
            }
            buf = nb;
            cap = nc;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return nn_err("%s: read error", path);
    }
    int rc = nn_npy_parse(a, buf, len, path);
    free(buf);
    return rc;
}

static double half_to_double(uint16_t h) {
    int e = h >> 10 & 0x1f, m = h & 0x3ff;
    double v = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(m | 0x400, e - 25);
    return h & 0x8000 ? -v : v;
}

double nn_npy_get(const struct nn_npy *a, size_t i) {
    const unsigned char *p = (const unsigned char *)a->data + i * nn_npy_itemsize(a->dtype);
    switch (a->dtype) {
    case NN_NPY_F4: {
        float v;
        memcpy(&v, p, 4);
        return v;
    }
    case NN_NPY_F8: {
        double v;
        memcpy(&v, p, 8);
        return v;
    }
    case NN_NPY_I8: {
        int64_t v;
        memcpy(&v, p, 8);
        return (double)v;
    }
    case NN_NPY_I4: {
        int32_t v;
        memcpy(&v, p, 4);
        return v;
    }
    case NN_NPY_U1:
        return *p;
    case NN_NPY_F2: {
        uint16_t v;
        memcpy(&v, p, 2);
        return half_to_double(v);
    }
    }
    return NAN;
}

void nn_npy_free(struct nn_npy *a) {
    free(a->data);
    a->data = NULL;
}

/* ---- writing ----------------------------------------------------------------------------------
 */

/* Writes the header numpy < 1.24 writes (no spare growth padding): the dict with sorted keys,
 * spaces, '\n', so that magic + length + header is a multiple of 64 (a full 64 extra spaces when
 * it already is, as numpy computes it). Returns the header length or −1. */
static int make_header(char *out, size_t cap, enum nn_npy_dtype t, int ndim, const int64_t *shape) {
    char dims[NN_NPY_MAX_DIM * 24 + 4];
    size_t n = 0;
    dims[n++] = '(';
    for (int k = 0; k < ndim; k++)
        n +=
            (size_t)snprintf(dims + n, sizeof dims - n, k ? ", %lld" : "%lld", (long long)shape[k]);
    if (ndim == 1) dims[n++] = ',';
    dims[n++] = ')';
    dims[n] = 0;
    int len = snprintf(out, cap, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }",
                       nn_npy_descr(t), dims);
    size_t hlen = (size_t)len + 1, pad = 64 - (10 + hlen) % 64;
    if (hlen + pad + 1 > cap) return -1;
    memset(out + len, ' ', pad);
    out[len + pad] = '\n';
    return (int)(hlen + pad);
}

int nn_npy_write(const char *path, enum nn_npy_dtype t, int ndim, const int64_t *shape,
                 const void *data) {
    if (t == NN_NPY_F2) return nn_err("%s: writing <f2 is not supported", path);
    if (ndim < 0 || ndim > NN_NPY_MAX_DIM)
        return nn_err("%s: %d dimensions (at most %d)", path, ndim, NN_NPY_MAX_DIM);
    size_t item = nn_npy_itemsize(t), count = 1;
    for (int k = 0; k < ndim; k++) {
        if (shape[k] < 0) return nn_err("%s: negative dimension %lld", path, (long long)shape[k]);
        if (shape[k] && count > SIZE_MAX / item / (uint64_t)shape[k])
            return nn_err("%s: shape overflows the address space", path);
        count *= (size_t)shape[k];
    }
    char header[NN_NPY_MAX_DIM * 24 + 256];
    int hlen = make_header(header, sizeof header, t, ndim, shape);
    if (hlen < 0) return nn_err("%s: header too long", path);

    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    if (!tmp) return nn_err("%s: out of memory", path);
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp.XXXXXX", 12);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        nn_err("%s: cannot create a temporary file: %s", path, strerror(errno));
        free(tmp);
        return -1;
    }
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        close(fd);
        unlink(tmp);
        nn_err("%s: %s", path, strerror(errno));
        free(tmp);
        return -1;
    }
    unsigned char pre[10];
    memcpy(pre, magic, 6);
    pre[6] = 1;
    pre[7] = 0;
    pre[8] = (unsigned char)(hlen & 0xff);
    pre[9] = (unsigned char)(hlen >> 8);
    int ok = fwrite(pre, 1, 10, f) == 10 && fwrite(header, 1, (size_t)hlen, f) == (size_t)hlen &&
             (count == 0 || fwrite(data, item, count, f) == count);
    ok = (fflush(f) == 0) & ok;
    ok = (fclose(f) == 0) & ok;
    if (!ok || rename(tmp, path)) {
        nn_err("%s: write failed: %s", path, strerror(errno));
        unlink(tmp);
        free(tmp);
        return -1;
    }
    free(tmp);
    return 0;
}
