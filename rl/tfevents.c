#include "tfevents.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "nn/error.h"
#include "nn/safetensors.h"

#define MAX_TAG 4096

struct rl_tfevents {
    FILE *f;
    char *path;
};

/* ---- CRC-32C ------------------------------------------------------------------------------ */

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
        crc_table[i] = c;
    }
}

uint32_t rl_crc32c(const void *data, size_t n) {
    pthread_once(&crc_once, crc_init);
    const unsigned char *p = data;
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) c = crc_table[(c ^ p[i]) & 0xff] ^ (c >> 8);
    return c ^ 0xffffffffu;
}

uint32_t rl_crc32c_mask(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }

/* ---- protobuf ----------------------------------------------------------------------------- */

/* Wire types: 0 varint, 1 64-bit, 2 length-delimited, 5 32-bit. */
static size_t put_varint(unsigned char *p, uint64_t v) {
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (unsigned char)v;
    return n;
}

static size_t put_key(unsigned char *p, int field, int wire) {
    return put_varint(p, (uint64_t)field << 3 | (uint64_t)wire);
}

static size_t put_le(unsigned char *p, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; i++) p[i] = (unsigned char)(v >> (8 * i));
    return (size_t)bytes;
}

static size_t put_double(unsigned char *p, int field, double v) {
    uint64_t u;
    memcpy(&u, &v, 8);
    size_t n = put_key(p, field, 1);
    return n + put_le(p + n, u, 8);
}

static size_t put_bytes(unsigned char *p, int field, const void *s, size_t len) {
    size_t n = put_key(p, field, 2);
    n += put_varint(p + n, len);
    memcpy(p + n, s, len);
    return n + len;
}

static double wall_time(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + tv.tv_usec * 1e-6;
}

/* ---- records ------------------------------------------------------------------------------ */

static int put_record(struct rl_tfevents *w, const unsigned char *data, size_t len) {
    unsigned char head[12], tail[4];
    put_le(head, len, 8);
    put_le(head + 8, rl_crc32c_mask(rl_crc32c(head, 8)), 4);
    put_le(tail, rl_crc32c_mask(rl_crc32c(data, len)), 4);
    if (fwrite(head, 1, 12, w->f) != 12 || fwrite(data, 1, len, w->f) != len ||
        fwrite(tail, 1, 4, w->f) != 4)
        return nn_err("%s: write failed: %s", w->path, strerror(errno));
    return 0;
}

struct rl_tfevents *rl_tfevents_open(const char *dir) {
    if (nn_mkdirs(dir)) return NULL;
    char host[256] = "", clean[256];
    size_t k = 0;
    if (gethostname(host, sizeof host - 1)) host[0] = 0;
    host[sizeof host - 1] = 0;
    for (size_t i = 0; host[i] && k < 64; i++) {
        char c = host[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '.' || c == '_' || c == '-')
            clean[k++] = c;
    }
    clean[k] = 0;
    if (!k) strcpy(clean, "haq");
    double now = wall_time();
    struct rl_tfevents *w = calloc(1, sizeof *w);
    size_t cap = strlen(dir) + 160;
    if (w) w->path = malloc(cap);
    if (!w || !w->path) {
        free(w);
        nn_err("%s: out of memory", dir);
        return NULL;
    }
    int fd = -1;
    for (int i = 0; i < 1000 && fd < 0; i++) {
        int len = snprintf(w->path, cap, "%s/events.out.tfevents.%lld.%s", dir, (long long)now,
                           clean);
        if (i) snprintf(w->path + len, cap - (size_t)len, ".%d", i);
        fd = open(w->path, O_WRONLY | O_CREAT | O_EXCL, 0666);
        if (fd < 0 && errno != EEXIST) break;
    }
    if (fd < 0 || !(w->f = fdopen(fd, "wb"))) {
        nn_err("%s: %s", w->path, strerror(errno));
        if (fd >= 0) close(fd);
        free(w->path);
        free(w);
        return NULL;
    }
    static const char version[] = "brain.Event:2";
    unsigned char ev[64];
    size_t n = put_double(ev, 1, now);
    n += put_bytes(ev + n, 3, version, sizeof version - 1);
    if (put_record(w, ev, n) || rl_tfevents_flush(w)) {
        fclose(w->f);
        unlink(w->path);
        free(w->path);
        free(w);
        return NULL;
    }
    return w;
}

const char *rl_tfevents_path(const struct rl_tfevents *w) { return w->path; }

int rl_tfevents_scalar(struct rl_tfevents *w, const char *tag, int64_t step, double value) {
    size_t tl = strlen(tag);
    if (!tl || tl > MAX_TAG) return nn_err("%s: a tag of %zu bytes", w->path, tl);
    /* Value{tag, simple_value} inside Summary{value} inside Event{wall_time, step, summary} */
    unsigned char val[MAX_TAG + 32], sum[MAX_TAG + 48], ev[MAX_TAG + 96];
    size_t nv = put_bytes(val, 1, tag, tl);
    float f = (float)value;
    uint32_t u;
    memcpy(&u, &f, 4);
    nv += put_key(val + nv, 2, 5);
    nv += put_le(val + nv, u, 4);
    size_t ns = put_bytes(sum, 1, val, nv);
    size_t n = put_double(ev, 1, wall_time());
    n += put_key(ev + n, 2, 0);
    n += put_varint(ev + n, (uint64_t)step);
    n += put_bytes(ev + n, 5, sum, ns);
    return put_record(w, ev, n);
}

int rl_tfevents_flush(struct rl_tfevents *w) {
    if (fflush(w->f)) return nn_err("%s: write failed: %s", w->path, strerror(errno));
    return 0;
}

void rl_tfevents_close(struct rl_tfevents *w) {
    if (!w) return;
    fclose(w->f);
    free(w->path);
    free(w);
}
