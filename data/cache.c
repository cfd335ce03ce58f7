#include "cache.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "inflate.h"
#include "nn/error.h"
#include "nn/pool.h"
#include "nn/progress.h"
#include "transform.h"

#define MAGIC       "HAQCACHE"
#define VERSION     1
#define HEAD        256
#define DESC_OFF    104
#define DESC_LEN    152
#define CRC_OFF     88
#define MAX_SIDE    65535
#define MAX_CLASSES (1 << 20)
#define MAX_NAMES   (1 << 26)
#define MAX_IMAGES  ((uint64_t)1 << 40)

static uint64_t align_up(uint64_t x, uint64_t a) {
    return (x + a - 1) / a * a;
}

static void put32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> 8 * i);
}
static void put64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> 8 * i);
}
static uint32_t get32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t get64(const uint8_t *p) {
    return get32(p) | (uint64_t)get32(p + 4) << 32;
}
static void putf(uint8_t *p, float f) {
    uint32_t v;
    memcpy(&v, &f, 4);
    put32(p, v);
}
static float getf(const uint8_t *p) {
    uint32_t v = get32(p);
    float f;
    memcpy(&f, &v, 4);
    return f;
}

/* CRC-32 of the header bytes [0, end) with the header-CRC field read as zero. */
static uint32_t header_crc(const uint8_t *h, size_t end) {
    static const uint8_t zero[4];
    uint32_t c = data_crc32(0, h, CRC_OFF);
    c = data_crc32(c, zero, 4);
    return data_crc32(c, h + CRC_OFF + 4, end - CRC_OFF - 4);
}

/* ---- fitting images ------------------------------------------------------------------------ */

int data_resize_crop(const struct data_image *in, int S, struct data_image *out) {
    if (data_image_alloc(out, S, S, in->c)) return -1;
    size_t n = (size_t)S * S * in->c;
    if (in->w == S && in->h == S) {
        memcpy(out->px, in->px, n);
        return 0;
    }
    float *tmp = malloc(n * sizeof *tmp);
    if (!tmp) return nn_err("cache: out of memory for a %dx%d image", S, S);
    double side = in->w < in->h ? in->w : in->h;
    data_resample(in, (in->w - side) / 2, (in->h - side) / 2, side, side, S, S, 1, tmp);
    for (size_t i = 0; i < n; i++) {
        float v = tmp[i] + 0.5f;
        out->px[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
    }
    free(tmp);
    return 0;
}

/* ---- writing ------------------------------------------------------------------------------- */

struct data_cache_cfg data_cache_defaults(int size) {
    struct data_cache_cfg c;
    memset(&c, 0, sizeof c);
    c.size = size;
    c.from[0] = DATA_TRAIN;
    c.from[1] = DATA_VAL;
    return c;
}

/* One chunk of images [first, first + n) of the cache, filled in parallel. */
struct fill {
    struct data_source *src;
    const struct data_cache_cfg *cfg;
    size_t n_split0; /* images of the cache's train split */
    size_t first;
    int h, w, c;
    size_t img_bytes;
    uint8_t *px;                 /* [n][img_bytes] */
    uint32_t *labels;            /* the whole file's labels */
    struct data_image *im, *fit; /* per thread */
    size_t *fail_at;             /* per thread: first failing image, or SIZE_MAX */
    char (*err)[NN_ERRMSG_MAX];
};

static int fill_one(struct fill *f, size_t i, int tid) {
    size_t g = f->first + i;
    int k = g < f->n_split0 ? 0 : 1;
    size_t j = k ? g - f->n_split0 : g;
    size_t idx = f->cfg->idx[k] ? f->cfg->idx[k][j] : j;
    int label;
    struct data_image *im = &f->im[tid];
    if (data_load(f->src, f->cfg->from[k], idx, im, &label)) return -1;
    if (im->c != f->c)
        return nn_err("%s: image %zu of split %d has %d channels, the set %d", f->src->kind, idx,
                      f->cfg->from[k], im->c, f->c);
    if (label < 0 || label >= f->src->classes)
        return nn_err("%s: image %zu of split %d has label %d outside 0..%d", f->src->kind, idx,
                      f->cfg->from[k], label, f->src->classes - 1);
    f->labels[g] = (uint32_t)label;
    uint8_t *dst = f->px + i * f->img_bytes;
    if (f->cfg->size == 0) {
        if (im->w != f->w || im->h != f->h)
            return nn_err("%s: image %zu of split %d is %dx%d, not the set's %dx%d", f->src->kind,
                          idx, f->cfg->from[k], im->w, im->h, f->w, f->h);
        memcpy(dst, im->px, f->img_bytes);
        return 0;
    }
    if (data_resize_crop(im, f->cfg->size, &f->fit[tid])) return -1;
    memcpy(dst, f->fit[tid].px, f->img_bytes);
    return 0;
}

static void fill_part(void *arg, size_t lo, size_t hi, int tid) {
    struct fill *f = arg;
    for (size_t i = lo; i < hi; i++)
        if (fill_one(f, i, tid)) {
            f->fail_at[tid] = f->first + i;
            snprintf(f->err[tid], NN_ERRMSG_MAX, "%s", nn_errmsg());
            return;
        }
}

static int write_all(FILE *fp, const void *p, size_t n, const char *tmp) {
    if (n && fwrite(p, 1, n, fp) != n) return nn_err("%s: write failed: %s", tmp, strerror(errno));
    return 0;
}

/* The header and class-name table, pix_off bytes. */
static uint8_t *make_header(const struct data_source *src, const struct data_cache_cfg *cfg, int h,
                            int w, uint64_t n0, uint64_t n1, uint32_t names_bytes, uint64_t pix_off,
                            uint64_t lab_off, uint32_t lab_crc, uint32_t pix_crc) {
    uint8_t *b = calloc(1, pix_off);
    if (!b) return NULL;
    memcpy(b, MAGIC, 8);
    put32(b + 8, VERSION);
    put32(b + 12, (uint32_t)h);
    put32(b + 16, (uint32_t)w);
    put32(b + 20, (uint32_t)src->c);
    put32(b + 24, (uint32_t)src->classes);
    put32(b + 28, names_bytes);
    put64(b + 32, n0);
    put64(b + 40, n1);
    for (int i = 0; i < 3; i++) {
        putf(b + 48 + 4 * i, src->mean[i]);
        putf(b + 60 + 4 * i, src->std[i]);
    }
    put64(b + 72, pix_off);
    put64(b + 80, lab_off);
    put32(b + 92, lab_crc);
    put32(b + 96, pix_crc);
    put32(b + 100, (uint32_t)cfg->size);
    snprintf((char *)b + DESC_OFF, DESC_LEN, "%.151s", cfg->desc ? cfg->desc : src->desc);
    uint8_t *p = b + HEAD;
    for (int k = 0; names_bytes && k < src->classes; k++) {
        size_t l = strlen(src->class_names[k]) + 1;
        memcpy(p, src->class_names[k], l);
        p += l;
    }
    put32(b + CRC_OFF, header_crc(b, pix_off));
    return b;
}

int data_cache_write(struct data_source *src, const char *path, const struct data_cache_cfg *cfg) {
    int h = cfg->size ? cfg->size : src->h, w = cfg->size ? cfg->size : src->w;
    if (cfg->size < 0 || cfg->size > MAX_SIDE)
        return nn_err("cache: size %d outside 1..%d", cfg->size, MAX_SIDE);
    if (h <= 0 || w <= 0)
        return nn_err("%s: images vary in size; give the cache a size (--size S)", src->kind);
    if (src->c != 1 && src->c != 3) return nn_err("%s: %d channels", src->kind, src->c);
    size_t n[2];
    for (int k = 0; k < 2; k++) {
        if (cfg->from[k] != DATA_TRAIN && cfg->from[k] != DATA_VAL)
            return nn_err("cache: bad source split %d", cfg->from[k]);
        n[k] = cfg->idx[k] ? cfg->n[k] : src->count[cfg->from[k]];
        for (size_t i = 0; cfg->idx[k] && i < n[k]; i++)
            if (cfg->idx[k][i] >= src->count[cfg->from[k]])
                return nn_err("cache: index %zu outside the %zu images of split %d", cfg->idx[k][i],
                              src->count[cfg->from[k]], cfg->from[k]);
    }
    uint64_t total = (uint64_t)n[0] + n[1];
    if (total == 0) return nn_err("%s: no images to cache", src->kind);
    uint32_t names_bytes = 0;
    for (int k = 0; src->class_names && k < src->classes; k++)
        names_bytes += (uint32_t)strlen(src->class_names[k]) + 1;
    if (names_bytes > MAX_NAMES) names_bytes = 0; /* too long to keep: the cache goes unnamed */
    size_t img_bytes = (size_t)h * w * src->c;
    uint64_t pix_off = align_up(HEAD + (uint64_t)names_bytes, 64);
    uint64_t lab_off = align_up(pix_off + total * img_bytes, 8);

    int nth = nn_pool_size();
    size_t chunk = 32 * (size_t)nth;
    struct fill f = {.src = src,
                     .cfg = cfg,
                     .n_split0 = n[0],
                     .h = h,
                     .w = w,
                     .c = src->c,
                     .img_bytes = img_bytes};
    f.px = malloc(chunk * img_bytes);
    f.labels = malloc(total * sizeof(uint32_t));
    f.im = calloc((size_t)nth, sizeof *f.im);
    f.fit = calloc((size_t)nth, sizeof *f.fit);
    f.fail_at = malloc((size_t)nth * sizeof *f.fail_at);
    f.err = malloc((size_t)nth * sizeof *f.err);
    size_t pl = strlen(path);
    char *tmp = malloc(pl + 32);
    FILE *fp = NULL;
    uint8_t *head = NULL;
    int rc = 0;
    if (!f.px || !f.labels || !f.im || !f.fit || !f.fail_at || !f.err || !tmp) {
        rc = nn_err("cache: out of memory");
        goto done;
    }
    snprintf(tmp, pl + 32, "%s.tmp.%ld", path, (long)getpid());
    fp = fopen(tmp, "wb");
    if (!fp) {
        rc = nn_err("%s: %s", tmp, strerror(errno));
        goto done;
    }
    /* the header is written last, when the CRCs are known: zeros hold its place */
    uint8_t zero[64] = {0};
    for (uint64_t o = 0; !rc && o < pix_off; o += 64) rc = write_all(fp, zero, 64, tmp);
    struct nn_progress prog;
    int show = cfg->label && *cfg->label;
    if (show) nn_progress_start(&prog, cfg->label, (size_t)total, "img");
    uint32_t pix_crc = 0;
    for (uint64_t first = 0; !rc && first < total; first += chunk) {
        size_t m = total - first < chunk ? (size_t)(total - first) : chunk;
        f.first = (size_t)first;
        for (int t = 0; t < nth; t++) f.fail_at[t] = SIZE_MAX;
        nn_parallel_for(m, 1, fill_part, &f);
        size_t bad = SIZE_MAX;
        int bad_t = 0;
        for (int t = 0; t < nth; t++)
            if (f.fail_at[t] < bad) {
                bad = f.fail_at[t];
                bad_t = t;
            }
        if (bad != SIZE_MAX) {
            rc = nn_err("%s", f.err[bad_t]);
            break;
        }
        pix_crc = data_crc32(pix_crc, f.px, m * img_bytes);
        rc = write_all(fp, f.px, m * img_bytes, tmp);
        if (show) nn_progress_update(&prog, (size_t)(first + m), NULL);
    }
    if (show) nn_progress_end(&prog);
    if (rc) goto done;
    size_t pad = (size_t)(lab_off - (pix_off + total * img_bytes));
    rc = write_all(fp, zero, pad, tmp);
    for (uint64_t i = 0; i < total; i++) put32((uint8_t *)&f.labels[i], f.labels[i]);
    uint32_t lab_crc = data_crc32(0, f.labels, total * 4);
    if (!rc) rc = write_all(fp, f.labels, total * 4, tmp);
    head = rc ? NULL
              : make_header(src, cfg, h, w, n[0], n[1], names_bytes, pix_off, lab_off, lab_crc,
                            pix_crc);
    if (!rc && !head) rc = nn_err("cache: out of memory");
    if (!rc && fseek(fp, 0, SEEK_SET)) rc = nn_err("%s: %s", tmp, strerror(errno));
    if (!rc) rc = write_all(fp, head, pix_off, tmp);
    if (!rc && (fflush(fp) || (fsync(fileno(fp)) && errno != EINVAL)))
        rc = nn_err("%s: write failed: %s", tmp, strerror(errno));
    if (fclose(fp) && !rc) rc = nn_err("%s: write failed: %s", tmp, strerror(errno));
    fp = NULL;
    if (!rc && rename(tmp, path))
        rc = nn_err("%s: cannot rename %s: %s", path, tmp, strerror(errno));
done:
    if (fp) fclose(fp);
    if (rc && tmp) remove(tmp);
    for (int t = 0; f.im && t < nth; t++) data_image_free(&f.im[t]);
    for (int t = 0; f.fit && t < nth; t++) data_image_free(&f.fit[t]);
    free(head);
    free(tmp);
    free(f.px);
    free(f.labels);
    free(f.im);
    free(f.fit);
    free(f.fail_at);
    free(f.err);
    return rc;
}

/* ---- reading ------------------------------------------------------------------------------- */

struct cache {
    const uint8_t *map;
    size_t len;
    const uint8_t *px, *labels;
    size_t img_bytes, first[2]; /* first image of each split */
    const char **names;
    uint32_t pix_crc;
};

static int cache_load(struct data_source *s, int split, size_t idx, struct data_image *im,
                      int *label) {
    const struct cache *c = s->impl;
    if (split < 0 || split > 1 || idx >= s->count[split])
        return nn_err("cache: image %zu of split %d out of range", idx, split);
    size_t g = c->first[split] + idx;
    if (data_image_alloc(im, s->w, s->h, s->c)) return -1;
    memcpy(im->px, c->px + g * c->img_bytes, c->img_bytes);
    *label = (int)get32(c->labels + 4 * g);
    return 0;
}

static void cache_free(struct cache *c) {
    if (c->map) munmap((void *)c->map, c->len);
    free(c->names);
    free(c);
}

static void cache_close(struct data_source *s) {
    cache_free(s->impl);
    free(s);
}

static const struct data_source_ops cache_ops = {cache_load, cache_close, NULL};

int data_cache_verify(const struct data_source *s) {
    if (s->ops != &cache_ops) return nn_err("%s: not a cache", s->kind);
    const struct cache *c = s->impl;
    size_t n = (s->count[0] + s->count[1]) * c->img_bytes;
    if (data_crc32(0, c->px, n) != c->pix_crc)
        return nn_err("%s: the pixels do not match their CRC (damaged file)", s->desc);
    return 0;
}

/* Check the mapped file and fill s; messages name what is wrong (the caller adds the path). */
static int cache_parse(struct cache *c, struct data_source *s) {
    const uint8_t *b = c->map;
    if (memcmp(b, MAGIC, 8)) return nn_err("not a cache file (bad magic)");
    if (get32(b + 8) != VERSION)
        return nn_err("cache version %u, this engine reads %d", get32(b + 8), VERSION);
    uint32_t h = get32(b + 12), w = get32(b + 16), ch = get32(b + 20), classes = get32(b + 24);
    uint32_t names_bytes = get32(b + 28);
    uint64_t n0 = get64(b + 32), n1 = get64(b + 40), pix_off = get64(b + 72);
    uint64_t lab_off = get64(b + 80);
    if (h < 1 || h > MAX_SIDE || w < 1 || w > MAX_SIDE || (ch != 1 && ch != 3))
        return nn_err("bad image shape %ux%ux%u", h, w, ch);
    if (classes < 1 || classes > MAX_CLASSES || names_bytes > MAX_NAMES)
        return nn_err("bad class count %u or name table of %u bytes", classes, names_bytes);
    if (n0 > MAX_IMAGES || n1 > MAX_IMAGES || n0 + n1 == 0)
        return nn_err("bad image counts %llu + %llu", (unsigned long long)n0,
                      (unsigned long long)n1);
    uint64_t n = n0 + n1, img = (uint64_t)h * w * ch;
    if (pix_off != align_up(HEAD + (uint64_t)names_bytes, 64))
        return nn_err("pixel offset %llu, expected %llu", (unsigned long long)pix_off,
                      (unsigned long long)align_up(HEAD + (uint64_t)names_bytes, 64));
    if (n > (UINT64_MAX / 2) / img || pix_off > c->len)
        return nn_err("%llu images of %llu bytes do not fit in %zu bytes", (unsigned long long)n,
                      (unsigned long long)img, c->len);
    uint64_t want_lab = align_up(pix_off + n * img, 8);
    if (lab_off != want_lab || lab_off > c->len || c->len - lab_off != 4 * n)
        return nn_err("%zu bytes, but the header describes %llu images of %ux%ux%u in %llu bytes",
                      c->len, (unsigned long long)n, w, h, ch,
                      (unsigned long long)(want_lab + 4 * n));
    if (get32(b + CRC_OFF) != header_crc(b, (size_t)pix_off))
        return nn_err("the header does not match its CRC (damaged file)");
    c->labels = b + lab_off;
    if (get32(b + 92) != data_crc32(0, c->labels, 4 * n))
        return nn_err("the labels do not match their CRC (damaged file)");
    for (uint64_t i = 0; i < n; i++)
        if (get32(c->labels + 4 * i) >= classes)
            return nn_err("image %llu has label %u, the cache has %u classes",
                          (unsigned long long)i, get32(c->labels + 4 * i), classes);
    for (int i = 0; i < 3; i++) {
        s->mean[i] = getf(b + 48 + 4 * i);
        s->std[i] = getf(b + 60 + 4 * i);
        if (!isfinite(s->mean[i]) || !(s->std[i] > 0) || !isfinite(s->std[i]))
            return nn_err("bad normalization mean %g std %g", (double)s->mean[i],
                          (double)s->std[i]);
    }
    if (names_bytes) { /* exactly `classes` NUL-terminated strings */
        c->names = malloc(classes * sizeof *c->names);
        if (!c->names) return nn_err("out of memory");
        const char *p = (const char *)b + HEAD, *end = p + names_bytes;
        for (uint32_t k = 0; k < classes; k++) {
            const char *z = p < end ? memchr(p, 0, (size_t)(end - p)) : NULL;
            if (!z) return nn_err("the class-name table ends before class %u", k);
            c->names[k] = p;
            p = z + 1;
        }
        if (p != end) return nn_err("the class-name table has bytes after its %u names", classes);
        s->class_names = c->names;
    }
    c->px = b + pix_off;
    c->img_bytes = (size_t)img;
    c->first[0] = 0;
    c->first[1] = (size_t)n0;
    c->pix_crc = get32(b + 96);
    s->h = (int)h;
    s->w = (int)w;
    s->c = (int)ch;
    s->classes = (int)classes;
    s->count[DATA_TRAIN] = (size_t)n0;
    s->count[DATA_VAL] = (size_t)n1;
    char from[DESC_LEN];
    memcpy(from, b + DESC_OFF, DESC_LEN);
    from[DESC_LEN - 1] = 0;
    uint32_t size = get32(b + 100);
    snprintf(s->desc, sizeof s->desc, "cache %ux%u%s of %.100s", w, h, size ? " (fitted)" : "",
             from);
    return 0;
}

int data_open_cache(const char *spec, const char *rest, struct data_source **out) {
    if (!*rest) return nn_err("data '%s': a file is required (cache:FILE)", spec);
    int fd = open(rest, O_RDONLY);
    if (fd < 0) return nn_err("%s: %s", rest, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        close(fd);
        return nn_err("%s: not a regular file", rest);
    }
    struct cache *c = calloc(1, sizeof *c);
    struct data_source *s = calloc(1, sizeof *s);
    if (!c || !s) {
        close(fd);
        free(c);
        free(s);
        return nn_err("%s: out of memory", rest);
    }
    c->len = (size_t)st.st_size;
    if (c->len < HEAD) {
        close(fd);
        free(c);
        free(s);
        return nn_err("%s: %zu bytes, shorter than a cache header", rest, (size_t)st.st_size);
    }
    void *m = mmap(NULL, c->len, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (m == MAP_FAILED) {
        free(c);
        free(s);
        return nn_err("%s: cannot map: %s", rest, strerror(e));
    }
    c->map = m;
    int rc = cache_parse(c, s);
    if (rc) {
        nn_err_ctx("%s: ", rest);
        cache_free(c);
        free(s);
        return -1;
    }
    s->ops = &cache_ops;
    s->impl = c;
    snprintf(s->kind, sizeof s->kind, "cache");
    *out = s;
    return 0;
}
