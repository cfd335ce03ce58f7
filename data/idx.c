/* Fashion-MNIST (fashion-mnist[:DIR]) from its four IDX files, gzip-compressed as distributed
 * (train-images-idx3-ubyte.gz …) or not (the same names without .gz; the .gz is read when both
 * exist). Default DIR: /usr/share/datasets/fashion-mnist, where Debian's dataset-fashion-mnist
 * package puts them.
 *
 * IDX (LeCun's format): a big-endian magic 0x00000803 (unsigned bytes, 3 dimensions) for
 * images and 0x00000801 for labels, then each dimension as a big-endian uint32, then the data
 * row-major. The magic, the dimensions and the exact file size are checked, images and labels
 * must agree in count, both splits in image size, and every label must be one of the 10
 * classes. Images are 28×28 gray (c = 1); 60,000 train and 10,000 test (the held-out split).
 * The whole set is held in memory (55 MB). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dataset.h"
#include "inflate.h"
#include "nn/error.h"

#define FMNIST_DEFAULT_DIR "/usr/share/datasets/fashion-mnist"

static const char *const fmnist_names[10] = {"T-shirt/top", "Trouser",   "Pullover", "Dress",
                                             "Coat",        "Sandal",    "Shirt",    "Sneaker",
                                             "Bag",         "Ankle boot"};

struct idx_set {
    uint8_t *img_buf[2], *lab_buf[2]; /* whole decoded files */
    const uint8_t *px[2], *lab[2];    /* their data parts */
};

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* DIR/base.gz gunzipped, else DIR/base as it is; `path` receives the name read. */
static int read_idx_file(const char *dir, const char *base, uint8_t **buf, size_t *n, char *path,
                         size_t cap) {
    if ((size_t)snprintf(path, cap, "%s/%s.gz", dir, base) >= cap)
        return nn_err("%s: path too long", dir);
    if (access(path, F_OK) == 0) return data_gunzip_file(path, buf, n);
    snprintf(path, cap, "%s/%s", dir, base);
    if (access(path, F_OK) == 0) return data_read_file(path, buf, n);
    return nn_err("%s/%s(.gz): no such file", dir, base);
}

/* Check an IDX file of `dims` dimensions with magic type byte 0x08 (unsigned bytes); dim[]
 * receives the dimensions. */
static int idx_header(const char *path, const uint8_t *b, size_t n, int dims, uint32_t *dim) {
    size_t head = 4 + 4 * (size_t)dims;
    if (n < head) return nn_err("%s: %zu bytes, shorter than an IDX header", path, n);
    if (b[0] || b[1] || b[2] != 0x08 || b[3] != dims)
        return nn_err("%s: magic %02x%02x%02x%02x, expected 000008%02x (IDX, unsigned bytes, "
                      "%d dimensions)",
                      path, b[0], b[1], b[2], b[3], dims, dims);
    uint64_t total = 1;
    for (int i = 0; i < dims; i++) {
        dim[i] = be32(b + 4 + 4 * i);
        total *= dim[i];
        if (total > ((uint64_t)1 << 40)) return nn_err("%s: dimensions too large", path);
    }
    if (n - head != total)
        return nn_err("%s: %zu data bytes, the header announces %llu", path, n - head,
                      (unsigned long long)total);
    return 0;
}

static void idx_free(struct idx_set *d) {
    for (int s = 0; s < 2; s++) {
        free(d->img_buf[s]);
        free(d->lab_buf[s]);
    }
    free(d);
}

static int idx_load(struct data_source *s, int split, size_t idx, struct data_image *im,
                    int *label) {
    const struct idx_set *d = s->impl;
    if (split < 0 || split > 1 || idx >= s->count[split])
        return nn_err("fashion-mnist: image %zu of split %d out of range", idx, split);
    size_t px = (size_t)s->h * s->w;
    if (data_image_alloc(im, s->w, s->h, 1)) return -1;
    memcpy(im->px, d->px[split] + idx * px, px);
    *label = d->lab[split][idx];
    return 0;
}

static void idx_close(struct data_source *s) {
    idx_free(s->impl);
    free(s);
}

static const struct data_source_ops idx_ops = {idx_load, idx_close, NULL};

int data_open_fashion_mnist(const char *spec, const char *rest, struct data_source **out) {
    static const char *const base[2][2] = {
        {"train-images-idx3-ubyte", "train-labels-idx1-ubyte"},
        {"t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"},
    };
    const char *dir = *rest ? rest : FMNIST_DEFAULT_DIR;
    struct idx_set *d = calloc(1, sizeof *d);
    struct data_source *s = calloc(1, sizeof *s);
    if (!d || !s) {
        free(d);
        free(s);
        return nn_err("fashion-mnist: out of memory");
    }
    char path[4096];
    uint32_t dim[2][3] = {{0}}, ldim = 0;
    int rc = 0;
    for (int sp = 0; sp < 2 && !rc; sp++) {
        size_t n;
        rc = read_idx_file(dir, base[sp][0], &d->img_buf[sp], &n, path, sizeof path) ||
             idx_header(path, d->img_buf[sp], n, 3, dim[sp]);
        if (!rc && (dim[sp][1] < 1 || dim[sp][2] < 1 || dim[sp][1] > 4096 || dim[sp][2] > 4096))
            rc = nn_err("%s: image size %ux%u", path, dim[sp][1], dim[sp][2]);
        if (!rc && sp == 1 && (dim[1][1] != dim[0][1] || dim[1][2] != dim[0][2]))
            rc = nn_err("%s: %ux%u images, the training images are %ux%u", path, dim[1][1],
                        dim[1][2], dim[0][1], dim[0][2]);
        if (rc) break;
        d->px[sp] = d->img_buf[sp] + 16;
        rc = read_idx_file(dir, base[sp][1], &d->lab_buf[sp], &n, path, sizeof path) ||
             idx_header(path, d->lab_buf[sp], n, 1, &ldim);
        if (!rc && ldim != dim[sp][0])
            rc = nn_err("%s: %u labels for %u images", path, ldim, dim[sp][0]);
        if (rc) break;
        d->lab[sp] = d->lab_buf[sp] + 8;
        for (uint32_t i = 0; i < ldim && !rc; i++)
            if (d->lab[sp][i] >= 10)
                rc = nn_err("%s: label %u of image %u is not a class 0..9", path, d->lab[sp][i], i);
    }
    if (rc) {
        nn_err_ctx("data '%s': ", spec);
        idx_free(d);
        free(s);
        return -1;
    }
    s->ops = &idx_ops;
    s->impl = d;
    snprintf(s->kind, sizeof s->kind, "fashion-mnist");
    s->classes = 10;
    s->class_names = fmnist_names;
    s->c = 1;
    s->h = (int)dim[0][1];
    s->w = (int)dim[0][2];
    s->count[DATA_TRAIN] = dim[0][0];
    s->count[DATA_VAL] = dim[1][0];
    /* mean and std of the 60,000 training images' pixels (tests recompute them) */
    s->mean[0] = s->mean[1] = s->mean[2] = 0.2860f;
    s->std[0] = s->std[1] = s->std[2] = 0.3530f;
    snprintf(s->desc, sizeof s->desc, "fashion-mnist %.80s: 10 classes, %dx%d gray, %zu + %zu test",
             dir, s->w, s->h, s->count[0], s->count[1]);
    *out = s;
    return 0;
}
