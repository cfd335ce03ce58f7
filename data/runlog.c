#include "runlog.h"

#include <stdlib.h>
#include <string.h>

#include "nn/error.h"
#include "nn/safetensors.h"

int data_batches_open(struct data_source *src, int split, int batch, int out, int train,
                      uint64_t seed, int threads, const size_t *indices, size_t n_indices,
                      struct data_loader **L, struct nn_batches *b) {
    struct data_loader_cfg c = {split, batch, out, train, train, train, seed, threads, indices,
                                n_indices};
    *L = data_loader_new(src, &c);
    if (!*L) return -1;
    data_loader_as_batches(*L, b);
    return 0;
}

int data_csv_add(struct data_csv *c, const char *line) {
    size_t l = strlen(line);
    if (c->len + l + 1 > c->cap) {
        size_t nc = c->cap ? 2 * c->cap : 4096;
        while (nc < c->len + l + 1) nc *= 2;
        char *p = realloc(c->buf, nc);
        if (!p) return nn_err("%s: out of memory", c->path);
        c->buf = p;
        c->cap = nc;
    }
    memcpy(c->buf + c->len, line, l + 1);
    c->len += l;
    return nn_write_file_atomic(c->path, c->buf, c->len);
}

int data_csv_open(struct data_csv *c, const char *path, const char *header) {
    memset(c, 0, sizeof *c);
    c->path = strdup(path);
    if (!c->path) return nn_err("out of memory");
    return data_csv_add(c, header);
}

void data_csv_free(struct data_csv *c) {
    free(c->path);
    free(c->buf);
    memset(c, 0, sizeof *c);
}
