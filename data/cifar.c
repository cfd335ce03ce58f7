/* CIFAR-10 (cifar10:DIR) from its binary version: data_batch_1.bin … data_batch_5.bin (the
 * training split, in that order) and test_batch.bin (the held-out split), in DIR or in
 * DIR/cifar-10-batches-bin as the archive unpacks. Each record is one label byte (0–9) and
 * 3072 pixel bytes: the 32×32 red plane, then green, then blue, rows top to bottom. A file
 * whose size is not a positive multiple of 3073 bytes, or a label outside 0–9, is an error
 * naming the file. batches.meta.txt, when present, names the classes (the first 10 non-empty
 * lines). The records are held in memory as read (180 MB) and interleaved per image on load. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dataset.h"
#include "inflate.h"
#include "nn/error.h"

#define REC   3073
#define PLANE 1024

struct cifar {
    uint8_t *rec[2]; /* [count][REC] */
    char *names[10];
    char *meta; /* batches.meta.txt, cut into names[] */
};

static const char *const cifar_names[10] = {"airplane", "automobile", "bird",  "cat",  "deer",
                                            "dog",      "frog",       "horse", "ship", "truck"};

static void cifar_free(struct cifar *c) {
    free(c->rec[0]);
    free(c->rec[1]);
    free(c->meta);
    free(c);
}

static int cifar_load(struct data_source *s, int split, size_t idx, struct data_image *im,
                      int *label) {
    const struct cifar *c = s->impl;
    if (split < 0 || split > 1 || idx >= s->count[split])
        return nn_err("cifar10: image %zu of split %d out of range", idx, split);
    if (data_image_alloc(im, 32, 32, 3)) return -1;
    const uint8_t *r = c->rec[split] + idx * REC;
    for (int p = 0; p < PLANE; p++)
        for (int ch = 0; ch < 3; ch++) im->px[p * 3 + ch] = r[1 + ch * PLANE + p];
    *label = r[0];
    return 0;
}

static void cifar_close(struct data_source *s) {
    cifar_free(s->impl);
    free(s);
}

static const struct data_source_ops cifar_ops = {cifar_load, cifar_close, NULL};

/* Append the records of one batch file to *buf (*n records so far). */
static int read_batch(const char *path, uint8_t **buf, size_t *n) {
    uint8_t *b;
    size_t len;
    if (data_read_file(path, &b, &len)) return -1;
    if (len == 0 || len % REC) {
        free(b);
        return nn_err("%s: %zu bytes, not a whole number of %d-byte records", path, len, REC);
    }
    for (size_t i = 0; i < len / REC; i++)
        if (b[i * REC] > 9) {
            int label = b[i * REC];
            free(b);
            return nn_err("%s: record %zu has label %d, not a class 0..9", path, i, label);
        }
    uint8_t *nb = realloc(*buf, (*n * REC) + len);
    if (!nb) {
        free(b);
        return nn_err("%s: out of memory", path);
    }
    memcpy(nb + *n * REC, b, len);
    free(b);
    *buf = nb;
    *n += len / REC;
    return 0;
}

/* Class names from batches.meta.txt; 0 also when the file is absent. */
static int read_meta(const char *dir, struct cifar *c) {
    char path[4200];
    snprintf(path, sizeof path, "%.4000s/batches.meta.txt", dir);
    if (access(path, F_OK)) return 0;
    size_t n;
    uint8_t *m;
    if (data_read_file(path, &m, &n)) return -1;
    c->meta = (char *)m;
    int k = 0;
    for (char *p = c->meta, *end = c->meta + n; p < end && k < 10;) {
        char *nl = memchr(p, '\n', (size_t)(end - p)), *e = nl ? nl : end;
        while (p < e && isspace((unsigned char)*p)) p++;
        char *q = e;
        while (q > p && isspace((unsigned char)q[-1])) q--;
        *q = 0;
        if (q > p) c->names[k++] = p;
        p = e + 1;
    }
    if (k < 10) return nn_err("%s: %d class names, expected 10", path, k);
    return 0;
}

int data_open_cifar10(const char *spec, const char *rest, struct data_source **out) {
    if (!*rest) return nn_err("data '%s': a directory is required (cifar10:DIR)", spec);
    struct cifar *c = calloc(1, sizeof *c);
    struct data_source *s = calloc(1, sizeof *s);
    if (!c || !s) {
        free(c);
        free(s);
        return nn_err("cifar10: out of memory");
    }
    char dir[4096], path[4200];
    if ((size_t)snprintf(dir, sizeof dir - 32, "%s", rest) >= sizeof dir - 32)
        return nn_err("data '%s': path too long", spec);
    snprintf(path, sizeof path, "%s/data_batch_1.bin", dir);
    if (access(path, F_OK)) { /* the archive's own directory inside DIR */
        snprintf(path, sizeof path, "%s/cifar-10-batches-bin/data_batch_1.bin", rest);
        if (!access(path, F_OK)) snprintf(dir, sizeof dir, "%s/cifar-10-batches-bin", rest);
    }
    size_t count[2] = {0, 0};
    int rc = 0;
    for (int b = 1; b <= 5 && !rc; b++) {
        snprintf(path, sizeof path, "%s/data_batch_%d.bin", dir, b);
        rc = read_batch(path, &c->rec[0], &count[0]);
    }
    if (!rc) {
        snprintf(path, sizeof path, "%s/test_batch.bin", dir);
        rc = read_batch(path, &c->rec[1], &count[1]);
    }
    if (!rc) rc = read_meta(dir, c);
    if (rc) {
        nn_err_ctx("data '%s': ", spec);
        cifar_free(c);
        free(s);
        return -1;
    }
    s->ops = &cifar_ops;
    s->impl = c;
    snprintf(s->kind, sizeof s->kind, "cifar10");
    s->classes = 10;
    s->class_names = c->meta ? (const char *const *)c->names : cifar_names;
    s->c = 3;
    s->h = s->w = 32;
    s->count[DATA_TRAIN] = count[0];
    s->count[DATA_VAL] = count[1];
    /* per-channel mean and std of the 50,000 training images' pixels */
    static const float mean[3] = {0.4914f, 0.4822f, 0.4465f}, std[3] = {0.2470f, 0.2435f, 0.2616f};
    memcpy(s->mean, mean, sizeof mean);
    memcpy(s->std, std, sizeof std);
    snprintf(s->desc, sizeof s->desc, "cifar10 %.80s: 10 classes, 32x32 RGB, %zu train + %zu test",
             dir, count[0], count[1]);
    *out = s;
    return 0;
}
