#include "image.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/inflate.h"
#include "nn/error.h"

int data_image_alloc(struct data_image *img, int w, int h, int c) {
    if (w <= 0 || h <= 0 || c <= 0 || (size_t)w > SIZE_MAX / (size_t)h / (size_t)c)
        return nn_err("image: bad size %d×%d×%d", w, h, c);
    size_t need = (size_t)w * (size_t)h * (size_t)c;
    if (need > img->cap || !img->px) {
        uint8_t *p = malloc(need);
        if (!p) return nn_err("image: out of memory for %zu bytes", need);
        free(img->px);
        img->px = p;
        img->cap = need;
    }
    img->w = w;
    img->h = h;
    img->c = c;
    return 0;
}

void data_image_free(struct data_image *img) {
    free(img->px);
    memset(img, 0, sizeof *img);
}

int data_image_write_pnm(const char *path, const struct data_image *img) {
    if (img->c != 1 && img->c != 3)
        return nn_err("%s: PNM needs 1 or 3 channels, not %d", path, img->c);
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 5);
    if (!tmp) return nn_err("%s: out of memory", path);
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        int e = errno;
        free(tmp);
        return nn_err("%s: %s", path, strerror(e));
    }
    size_t bytes = (size_t)img->w * (size_t)img->h * (size_t)img->c;
    int ok = fprintf(f, "P%d\n%d %d\n255\n", img->c == 3 ? 6 : 5, img->w, img->h) > 0 &&
             fwrite(img->px, 1, bytes, f) == bytes;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        int e = errno;
        remove(tmp);
        free(tmp);
        return nn_err("%s: write failed: %s", path, strerror(e));
    }
    free(tmp);
    return 0;
}

/* Next header integer, skipping white space and '#' comments. */
static int pnm_int(const uint8_t *b, size_t n, size_t *p, int *v) {
    for (;;) {
        while (*p < n && (b[*p] == ' ' || b[*p] == '\t' || b[*p] == '\n' || b[*p] == '\r')) ++*p;
        if (*p < n && b[*p] == '#') {
            while (*p < n && b[*p] != '\n') ++*p;
            continue;
        }
        break;
    }
    if (*p >= n || b[*p] < '0' || b[*p] > '9') return nn_err("pnm: bad header at byte %zu", *p);
    long x = 0;
    while (*p < n && b[*p] >= '0' && b[*p] <= '9') {
        x = x * 10 + (b[(*p)++] - '0');
        if (x > 1 << 24) return nn_err("pnm: number too large at byte %zu", *p);
    }
    *v = (int)x;
    return 0;
}

int data_pnm_decode(const uint8_t *buf, size_t n, struct data_image *img) {
    if (n < 2 || buf[0] != 'P' || (buf[1] != '5' && buf[1] != '6'))
        return nn_err("pnm: not a binary P5/P6 image");
    int c = buf[1] == '6' ? 3 : 1, w, h, maxval;
    size_t p = 2;
    if (pnm_int(buf, n, &p, &w) || pnm_int(buf, n, &p, &h) || pnm_int(buf, n, &p, &maxval))
        return -1;
    if (maxval != 255) return nn_err("pnm: maxval %d (only 255 is supported)", maxval);
    p++; /* the single white-space byte before the raster */
    if (w <= 0 || h <= 0 || p > n || (n - p) / (size_t)c / (size_t)w < (size_t)h)
        return nn_err("pnm: %d×%d raster truncated", w, h);
    if (data_image_alloc(img, w, h, c)) return -1;
    memcpy(img->px, buf + p, (size_t)w * (size_t)h * (size_t)c);
    return 0;
}

int data_image_read_pnm(const char *path, struct data_image *img) {
    uint8_t *buf;
    size_t n;
    if (data_read_file(path, &buf, &n)) return -1;
    int rc = data_pnm_decode(buf, n, img);
    free(buf);
    return rc ? nn_err_ctx("%s: ", path) : 0;
}
