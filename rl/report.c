#include "report.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nn/error.h"
#include "nn/safetensors.h"

#define MAX_FILE (256u << 20) /* bytes of one run file */
#define MAX_ROWS 1000000      /* episodes or layers */
#define MAX_BITS 4096         /* entries of one w_bits / a_bits list */

/* ---- text buffer ------------------------------------------------------------------------- */

struct sb {
    char *p;
    size_t n, cap;
    int oom;
};

static void sb_grow(struct sb *b, size_t need) {
    if (b->oom || b->n + need + 1 <= b->cap) return;
    size_t cap = b->cap ? b->cap : 1 << 16;
    while (cap < b->n + need + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->oom = 1;
        return;
    }
    b->p = p;
    b->cap = cap;
}

static void sb_put(struct sb *b, const char *s, size_t len) {
    sb_grow(b, len);
    if (b->oom) return;
    memcpy(b->p + b->n, s, len);
    b->n += len;
    b->p[b->n] = 0;
}

static void sb_puts(struct sb *b, const char *s) { sb_put(b, s, strlen(s)); }

__attribute__((format(printf, 2, 3))) static void sb_printf(struct sb *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char small[512];
    int len = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (len < 0) return;
    if ((size_t)len < sizeof small) {
        sb_put(b, small, (size_t)len);
        return;
    }
    sb_grow(b, (size_t)len);
    if (b->oom) return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->n, (size_t)len + 1, fmt, ap);
    va_end(ap);
    b->n += (size_t)len;
}

/* s with & < > " ' replaced by entities: safe in element text and in quoted attributes. */
static void sb_esc(struct sb *b, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '&': sb_puts(b, "&amp;"); break;
        case '<': sb_puts(b, "&lt;"); break;
        case '>': sb_puts(b, "&gt;"); break;
        case '"': sb_puts(b, "&quot;"); break;
        case '\'': sb_puts(b, "&#39;"); break;
        default: sb_put(b, s, 1);
        }
    }
}

/* ---- run files ---------------------------------------------------------------------------- */

struct kv {
    char *key, *value;
};

enum ltype { L_CONV, L_DW, L_FC };
static const char *const ltype_name[] = {"conv", "dw", "fc"};

struct episode {
    int ep, best;
    double reward, top1, fp_top1, cost, lat, en, size, sigma;
    double t_ft, t_eval, t_agent, t_hw;
    double mean_w, mean_a; /* mean weight bits (float = 32) and quantized activation bits */
};

struct layer {
    int index, type, c_in, c_out, kernel, stride, w, a;
    char *name;
    double macs, weights, lat, en, lat8, en8;
};

struct run {
    const char *dir;
    struct kv *kv;
    int nkv;
    struct episode *ep;
    int nep, nbits; /* nbits: list length of the episodes (−1 before the first row) */
    struct layer *ly;
    int nly;
};

static void run_free(struct run *r) {
    for (int i = 0; i < r->nkv; i++) {
        free(r->kv[i].key);
        free(r->kv[i].value);
    }
    for (int i = 0; i < r->nly; i++) free(r->ly[i].name);
    free(r->kv);
    free(r->ep);
    free(r->ly);
}

static const char *run_get(const struct run *r, const char *key) {
    for (int i = r->nkv - 1; i >= 0; i--)
        if (!strcmp(r->kv[i].key, key)) return r->kv[i].value;
    return NULL;
}

static char *path_join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* The whole file, NUL-terminated; a NUL byte inside is an error (it would cut strings short). */
static int read_text(const char *path, char **text, size_t *len) {
    uint8_t *data;
    if (nn_read_file(path, &data, len, MAX_FILE)) return -1;
    *text = malloc(*len + 1);
    if (!*text) {
        free(data);
        return nn_err("%s: out of memory", path);
    }
    memcpy(*text, data, *len);
    (*text)[*len] = 0;
    free(data);
    if (strlen(*text) != *len) {
        int line = 1;
        for (size_t i = 0; (*text)[i]; i++) line += (*text)[i] == '\n';
        free(*text);
        return nn_err("%s:%d: NUL byte in a text file", path, line);
    }
    return 0;
}

static int grow(void **p, int *cap, int need, size_t item) {
    if (need <= *cap) return 0;
    int c = *cap ? *cap : 64;
    while (c < need) c *= 2;
    void *q = realloc(*p, (size_t)c * item);
    if (!q) return -1;
    *p = q;
    *cap = c;
    return 0;
}

static char *trim(char *s) {
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r')) s[--n] = 0;
    return s;
}

static int load_config(struct run *r, const char *path) {
    char *text;
    size_t len;
    if (read_text(path, &text, &len)) return -1;
    int cap = 0, line = 0, rc = 0;
    for (char *s = text; s && *s && !rc; line++) {
        char *nl = strchr(s, '\n');
        if (nl) *nl = 0;
        char *hash = strchr(s, '#');
        if (hash) *hash = 0;
        char *t = trim(s), *eq = strchr(t, '=');
        s = nl ? nl + 1 : NULL;
        if (!*t) continue;
        if (!eq) {
            rc = nn_err("%s:%d: expected 'key = value'", path, line + 1);
            break;
        }
        *eq = 0;
        char *key = trim(t), *value = trim(eq + 1);
        if (!*key) {
            rc = nn_err("%s:%d: empty key", path, line + 1);
            break;
        }
        if (grow((void **)&r->kv, &cap, r->nkv + 1, sizeof *r->kv)) {
            rc = nn_err("%s: out of memory", path);
            break;
        }
        struct kv *kv = &r->kv[r->nkv];
        kv->key = strdup(key);
        kv->value = strdup(value);
        if (!kv->key || !kv->value) {
            free(kv->key);
            free(kv->value);
            rc = nn_err("%s: out of memory", path);
            break;
        }
        r->nkv++;
    }
    free(text);
    return rc;
}

/* CSV rows parsed in place (RFC 4180 quoting; CR LF or LF line ends; blank lines skipped). */
struct csv {
    const char *path;
    char *text;
    size_t pos, len;
    int line, next_line; /* 1-based line of the row returned last / of the next row */
    char **f;
    int nf, cap;
};

static int csv_open(struct csv *c, const char *path) {
    memset(c, 0, sizeof *c);
    c->path = path;
    c->next_line = 1;
    return read_text(path, &c->text, &c->len);
}

static void csv_close(struct csv *c) {
    free(c->text);
    free(c->f);
}

/* The next row's fields in c->f[0 … nf−1]: 1, 0 at the end, −1 on an error (nn_err). */
static int csv_row(struct csv *c) {
    char *t = c->text;
    while (c->pos < c->len && (t[c->pos] == '\n' || t[c->pos] == '\r')) {
        if (t[c->pos] == '\n') c->next_line++;
        c->pos++;
    }
    if (c->pos >= c->len) return 0;
    c->line = c->next_line;
    c->nf = 0;
    for (;;) {
        if (grow((void **)&c->f, &c->cap, c->nf + 1, sizeof *c->f))
            return nn_err("%s: out of memory", c->path);
        char *start = t + c->pos, *w = start;
        c->f[c->nf++] = start;
        char end;
        if (*start == '"') {
            c->pos++;
            for (;;) {
                if (c->pos >= c->len)
                    return nn_err("%s:%d: unterminated quoted field", c->path, c->line);
                char ch = t[c->pos++];
                if (ch == '"') {
                    if (c->pos < c->len && t[c->pos] == '"') {
                        *w++ = '"';
                        c->pos++;
                        continue;
                    }
                    break;
                }
                if (ch == '\n') c->next_line++;
                *w++ = ch;
            }
            if (c->pos < c->len && t[c->pos] == '\r') c->pos++;
            end = c->pos < c->len ? t[c->pos] : 0;
            if (end && end != ',' && end != '\n')
                return nn_err("%s:%d: a character after a quoted field", c->path, c->line);
        } else {
            while (c->pos < c->len && t[c->pos] != ',' && t[c->pos] != '\n') c->pos++;
            w = t + c->pos;
            end = c->pos < c->len ? t[c->pos] : 0;
            if (w > start && w[-1] == '\r') w--;
        }
        *w = 0;
        if (end) c->pos++;
        if (end != ',') {
            if (end == '\n') c->next_line++;
            return 1;
        }
    }
}

static int parse_num(const struct csv *c, const char *col, const char *s, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    while (*end == ' ') end++;
    if (end == s || *end || !isfinite(v) || errno == ERANGE)
        return nn_err("%s:%d: column '%s': bad number '%.40s'", c->path, c->line, col, s);
    *out = v;
    return 0;
}

static int parse_int(const struct csv *c, const char *col, const char *s, long lo, long hi,
                     int *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    while (*end == ' ') end++;
    if (end == s || *end || errno == ERANGE)
        return nn_err("%s:%d: column '%s': bad integer '%.40s'", c->path, c->line, col, s);
    if (v < lo || v > hi)
        return nn_err("%s:%d: column '%s': %ld is outside [%ld, %ld]", c->path, c->line, col, v,
                      lo, hi);
    *out = (int)v;
    return 0;
}

/* Column indices of names[0 … n−1] in the header row; every one is required. */
/* Find the columns names[0 … n−1] in the header line; those from nreq on may be missing
 * (idx −1). Returns the header's column count or −1. */
static int csv_header(struct csv *c, const char *const *names, int n, int nreq, int *idx) {
    int rc = csv_row(c);
    if (rc < 0) return -1;
    if (rc == 0) return nn_err("%s: empty file (no header line)", c->path);
    for (int k = 0; k < n; k++) {
        idx[k] = -1;
        for (int j = 0; j < c->nf; j++)
            if (!strcmp(trim(c->f[j]), names[k])) idx[k] = j;
        if (idx[k] < 0 && k < nreq)
            return nn_err("%s:%d: the header has no column '%s'", c->path, c->line, names[k]);
    }
    return c->nf;
}

/* A bit-width: w 1…8 or 32 (float), a 1…8, 32, 0 or −1 (the last three: unquantized). */
static int valid_bits(int b, int act) { return (b >= 1 && b <= 8) || b == 32 || (act && b <= 0); }

/* A space-separated list of bits; returns the count or −1. Sums the quantized widths into *sum,
 * counting float weights as 32 and skipping unquantized activations (*nq counts the rest). */
static int parse_bits(const struct csv *c, const char *col, const char *s, int act, double *sum,
                      int *nq) {
    int n = 0;
    *sum = 0;
    *nq = 0;
    for (;;) {
        while (*s == ' ') s++;
        if (!*s) break;
        char *end;
        errno = 0;
        long v = strtol(s, &end, 10);
        if (end == s || (*end && *end != ' ') || errno == ERANGE || v < -1 || v > 32 ||
            !valid_bits((int)v, act))
            return nn_err("%s:%d: column '%s': bad bit-width at entry %d", c->path, c->line, col,
                          n + 1);
        if (++n > MAX_BITS)
            return nn_err("%s:%d: column '%s': more than %d entries", c->path, c->line, col,
                          MAX_BITS);
        if (!act || (v >= 1 && v <= 8)) {
            *sum += (double)v;
            (*nq)++;
        }
        s = end;
    }
    return n;
}

/* The loaders' loop: open path, find the columns cols[0 … n−1] (from nreq on optional), and
 * call row(ctx, csv, idx, path) for every data row after checking its column count. 0 or −1. */
typedef int (*csv_row_fn)(void *ctx, const struct csv *c, const int *idx, const char *path);

static int csv_each(const char *path, const char *const *cols, int n, int nreq, csv_row_fn row,
                    void *ctx) {
    struct csv c;
    if (csv_open(&c, path)) return -1;
    int idx[32], rc = -1;
    assert(n <= 32);
    if (csv_header(&c, cols, n, nreq, idx) >= 0) {
        int ncol = c.nf;
        while ((rc = csv_row(&c)) > 0) {
            if (c.nf != ncol) {
                rc = nn_err("%s:%d: %d columns, the header has %d", path, c.line, c.nf, ncol);
                break;
            }
            if (row(ctx, &c, idx, path)) {
                rc = -1;
                break;
            }
        }
    }
    csv_close(&c);
    return rc < 0 ? -1 : 0;
}

/* A loader's state: the run and the capacity of the array it grows. */
struct load {
    struct run *r;
    int cap;
};

/* episodes.csv; the timing columns are optional there (the search writes them to timing.csv,
 * so that episodes.csv is the same for a resumed run as for an uninterrupted one). */
enum {
    E_EP, E_REWARD, E_TOP1, E_FP, E_COST, E_LAT, E_EN, E_SIZE, E_SIGMA, E_BEST, E_W, E_A,
    E_TFT, E_TEVAL, E_TAGENT, E_THW, E_N
};
static const char *const ep_cols[E_N] = {
    "episode",   "reward",     "top1",  "fp_top1", "cost_ratio", "latency_ms",
    "energy_mj", "size_bytes", "sigma", "best",    "w_bits",     "a_bits",
    "t_finetune", "t_eval",    "t_agent", "t_hw"};

/* Room for row n of an array of at most max rows, or NULL (nn_err names the file and line). */
static void *next_row(void **arr, int *cap, int n, int max, size_t item, const char *what,
                      const char *path, int line) {
    if (n >= max) {
        nn_err("%s:%d: more than %d %s", path, line, max, what);
        return NULL;
    }
    if (grow(arr, cap, n + 1, item)) {
        nn_err("%s: out of memory", path);
        return NULL;
    }
    return (char *)*arr + (size_t)n * item;
}

static int episode_row(void *ctx, const struct csv *c, const int *idx, const char *path) {
    struct run *r = ((struct load *)ctx)->r;
    struct episode *e = next_row((void **)&r->ep, &((struct load *)ctx)->cap, r->nep, MAX_ROWS,
                                 sizeof *r->ep, "episodes", path, c->line);
    if (!e) return -1;
    double *num[E_N] = {NULL,     &e->reward, &e->top1,    &e->fp_top1, &e->cost, &e->lat,
                        &e->en,   &e->size,   &e->sigma,   NULL,        NULL,     NULL,
                        &e->t_ft, &e->t_eval, &e->t_agent, &e->t_hw};
    for (int k = 0; k < E_N; k++) {
        if (!num[k]) continue;
        if (idx[k] < 0)
            *num[k] = 0;
        else if (parse_num(c, ep_cols[k], c->f[idx[k]], num[k]))
            return -1;
    }
    if (parse_int(c, "episode", c->f[idx[E_EP]], 0, 1L << 30, &e->ep) ||
        parse_int(c, "best", c->f[idx[E_BEST]], 0, 1, &e->best))
        return -1;
    int qw, qa;
    int nw = parse_bits(c, "w_bits", c->f[idx[E_W]], 0, &e->mean_w, &qw);
    if (nw < 0) return -1;
    int na = parse_bits(c, "a_bits", c->f[idx[E_A]], 1, &e->mean_a, &qa);
    if (na < 0) return -1;
    if (nw != na) {
        nn_err("%s:%d: %d weight bit-widths but %d activation bit-widths", path, c->line, nw,
               na);
        return -1;
    }
    if (r->nbits >= 0 && nw != r->nbits) {
        nn_err("%s:%d: %d layers, earlier episodes have %d", path, c->line, nw, r->nbits);
        return -1;
    }
    r->nbits = nw;
    e->mean_w = qw ? e->mean_w / qw : 0;
    e->mean_a = qa ? e->mean_a / qa : 0;
    r->nep++;
    return 0;
}

static int load_episodes(struct run *r, const char *path) {
    struct load l = {r, 0};
    r->nbits = -1;
    return csv_each(path, ep_cols, E_N, E_TFT, episode_row, &l);
}

/* timing.csv (episode,t_finetune,t_eval,t_agent,t_hw): fills the episodes' times. */
static const char *const tm_cols[5] = {"episode", "t_finetune", "t_eval", "t_agent", "t_hw"};

static int timing_row(void *ctx, const struct csv *c, const int *idx, const char *path) {
    struct run *r = ((struct load *)ctx)->r;
    (void)path;
    int ep;
    double t[4];
    if (parse_int(c, "episode", c->f[idx[0]], 0, 1L << 30, &ep)) return -1;
    for (int k = 0; k < 4; k++)
        if (parse_num(c, tm_cols[k + 1], c->f[idx[k + 1]], &t[k])) return -1;
    for (int i = 0; i < r->nep; i++) {
        if (r->ep[i].ep != ep) continue;
        r->ep[i].t_ft = t[0];
        r->ep[i].t_eval = t[1];
        r->ep[i].t_agent = t[2];
        r->ep[i].t_hw = t[3];
    }
    return 0;
}

static int load_timing(struct run *r, const char *path) {
    struct load l = {r, 0};
    return csv_each(path, tm_cols, 5, 5, timing_row, &l);
}

enum {
    L_IDX, L_NAME, L_TYPE, L_CIN, L_COUT, L_KERNEL, L_STRIDE, L_MACS, L_WEIGHTS, L_W, L_A,
    L_LAT, L_EN, L_LAT8, L_EN8, L_N
};
static const char *const ly_cols[L_N] = {
    "layer",   "name",   "type",   "c_in",       "c_out",     "kernel",
    "stride",  "macs",   "weights", "w_bits",    "a_bits",    "latency_ms",
    "energy_mj", "latency_ms_8", "energy_mj_8"};

static int layer_row(void *ctx, const struct csv *c, const int *idx, const char *path) {
    struct run *r = ((struct load *)ctx)->r;
    struct layer *l = next_row((void **)&r->ly, &((struct load *)ctx)->cap, r->nly, MAX_BITS,
                               sizeof *r->ly, "layers", path, c->line);
    if (!l) return -1;
    memset(l, 0, sizeof *l);
    const char *type = trim(c->f[idx[L_TYPE]]);
    l->type = -1;
    for (int t = 0; t < 3; t++)
        if (!strcmp(type, ltype_name[t])) l->type = t;
    if (l->type < 0) {
        nn_err("%s:%d: column 'type': '%.40s' is not conv, dw or fc", path, c->line, type);
        return -1;
    }
    int *ints[L_N] = {[L_IDX] = &l->index, [L_CIN] = &l->c_in,     [L_COUT] = &l->c_out,
                      [L_KERNEL] = &l->kernel, [L_STRIDE] = &l->stride};
    for (int k = 0; k < L_N; k++)
        if (ints[k] && parse_int(c, ly_cols[k], c->f[idx[k]], 0, 1L << 30, ints[k]))
            return -1;
    if (parse_int(c, "w_bits", c->f[idx[L_W]], 1, 32, &l->w) ||
        parse_int(c, "a_bits", c->f[idx[L_A]], -1, 32, &l->a))
        return -1;
    if (!valid_bits(l->w, 0) || !valid_bits(l->a, 1)) {
        nn_err("%s:%d: bit-widths %d/%d (w 1..8 or 32, a 1..8, 32, 0 or -1)", path, c->line,
               l->w, l->a);
        return -1;
    }
    double *num[L_N] = {[L_MACS] = &l->macs, [L_WEIGHTS] = &l->weights, [L_LAT] = &l->lat,
                        [L_EN] = &l->en,     [L_LAT8] = &l->lat8,       [L_EN8] = &l->en8};
    for (int k = 0; k < L_N; k++)
        if (num[k] && parse_num(c, ly_cols[k], c->f[idx[k]], num[k])) return -1;
    l->name = strdup(c->f[idx[L_NAME]]);
    if (!l->name) {
        nn_err("%s: out of memory", path);
        return -1;
    }
    r->nly++;
    return 0;
}

static int load_layers(struct run *r, const char *path) {
    struct load l = {r, 0};
    return csv_each(path, ly_cols, L_N, L_N, layer_row, &l);
}

static int load_run(struct run *r, const char *dir) {
    memset(r, 0, sizeof *r);
    r->dir = dir;
    const char *names[4] = {"config.txt", "episodes.csv", "layers.csv", "timing.csv"};
    char *p[4];
    int rc = 0;
    for (int i = 0; i < 4; i++) p[i] = path_join(dir, names[i]);
    if (!p[0] || !p[1] || !p[2] || !p[3])
        rc = nn_err("%s: out of memory", dir);
    else if (load_config(r, p[0]) || load_episodes(r, p[1]))
        rc = -1;
    else if (access(p[3], F_OK) == 0 && load_timing(r, p[3]))
        rc = -1;
    else if ((r->nep > 0 || access(p[2], F_OK) == 0) && load_layers(r, p[2]))
        rc = -1;
    else if (r->nep > 0 && r->nly != r->nbits)
        rc = nn_err("%s: %d layers, but the episodes in %s have %d bit-widths", p[2], r->nly,
                    p[1], r->nbits);
    for (int i = 0; i < 4; i++) free(p[i]);
    return rc;
}

/* ---- charts ------------------------------------------------------------------------------- */

/* A linear axis mapping values [lo, hi] onto pixels [p0, p1], with ticks every `step` from
 * the first multiple of step at or above lo. */
struct axis {
    double lo, hi, p0, p1, step;
};

static double ax(const struct axis *a, double v) {
    return a->p0 + (v - a->lo) / (a->hi - a->lo) * (a->p1 - a->p0);
}

/* 1, 2 or 5 × 10^k, the nearest to raw from above. */
static double nice_step(double raw) {
    double p = pow(10, floor(log10(raw))), m = raw / p;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

/* The axis over [lo, hi] with about `ticks` ticks; when snap, the ends move out to ticks.
 * A degenerate range is widened around its value. */
static struct axis axis_make(double lo, double hi, int ticks, int snap, double p0, double p1) {
    if (!(hi > lo)) {
        double pad = fabs(lo) > 1e-9 ? fabs(lo) * 0.05 : 1;
        lo -= pad;
        hi += pad;
    }
    struct axis a = {lo, hi, p0, p1, nice_step((hi - lo) / ticks)};
    if (snap) {
        a.lo = floor(lo / a.step + 1e-9) * a.step;
        a.hi = ceil(hi / a.step - 1e-9) * a.step;
    }
    return a;
}

static int decimals(double step) {
    if (!(step > 0) || !isfinite(step)) return 0;
    int d = (int)ceil(-log10(step) - 1e-9);
    return d < 0 ? 0 : d > 6 ? 6 : d;
}

enum { TICK_LEFT, TICK_RIGHT, TICK_BOTTOM };

/* Tick marks, grid lines (left axis only) and labels of a; `at` is the x of a vertical axis or
 * the y of the horizontal one; [g0, g1] the grid's extent across. The k-th tick is computed
 * from the first (v += step stalls where step is below the values' precision, e.g. values
 * near 1e17 a few units apart) and there are at most MAX_TICKS; an axis whose range or step
 * is not finite (values near ±DBL_MAX) gets none. */
#define MAX_TICKS 100
static void ticks(struct sb *b, const struct axis *a, int side, double at, double g0, double g1) {
    int d = decimals(a->step);
    double first = ceil(a->lo / a->step - 1e-9) * a->step;
    if (!isfinite(first) || !isfinite(a->hi) || !(a->step > 0) || !isfinite(a->step)) return;
    for (int k = 0; k < MAX_TICKS; k++) {
        double v = first + k * a->step;
        if (v > a->hi + a->step * 1e-6) break;
        double p = ax(a, v), shown = fabs(v) < a->step * 1e-6 ? 0 : v;
        if (side == TICK_BOTTOM) {
            sb_printf(b, "<line class=\"tk\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", p,
                      at, p, at + 5);
            sb_printf(b, "<text class=\"tl\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.*f"
                         "</text>\n", p, at + 17, d, shown);
        } else {
            double dir = side == TICK_LEFT ? -1 : 1;
            if (side == TICK_LEFT)
                sb_printf(b, "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" "
                             "y2=\"%.1f\"/>", g0, p, g1, p);
            sb_printf(b, "<line class=\"tk\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>",
                      at, p, at + 5 * dir, p);
            sb_printf(b, "<text class=\"tl\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\">%.*f"
                         "</text>\n", at + 8 * dir, p + 4, side == TICK_LEFT ? "end" : "start",
                      d, shown);
        }
    }
}

static void axis_title(struct sb *b, double x, double y, int vertical, const char *cls,
                       const char *text) {
    if (vertical)
        sb_printf(b, "<text class=\"at %s\" transform=\"translate(%.1f,%.1f) rotate(-90)\" "
                     "text-anchor=\"middle\">%s</text>\n", cls, x, y, text);
    else
        sb_printf(b, "<text class=\"at %s\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s"
                     "</text>\n", cls, x, y, text);
}

static void frame(struct sb *b, double x0, double y0, double x1, double y1) {
    sb_printf(b, "<rect class=\"frame\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>\n",
              x0, y0, x1 - x0, y1 - y0);
}

static void legend_item(struct sb *b, double x, double y, const char *swatch, const char *text) {
    sb_printf(b, "<g transform=\"translate(%.1f,%.1f)\">%s<text class=\"lg\" x=\"18\" y=\"4\">"
                 "%s</text></g>\n", x, y, swatch, text);
}

#define SVG_W 1060.0
#define PX0   72.0   /* plot area left */
#define PX1   988.0  /* plot area right */

/* Episodes 0 … warm−1 are warm-up: the leading run of episodes with σ = 0. */
static int warmup_count(const struct run *r) {
    int w = 0;
    while (w < r->nep && r->ep[w].sigma == 0) w++;
    return w;
}

/* The episode axis and the warm-up shade shared by the reward and σ charts. */
static struct axis episode_axis(const struct run *r) {
    double lo = 0, hi = 1;
    for (int i = 0; i < r->nep; i++) {
        if (r->ep[i].ep < lo || i == 0) lo = r->ep[i].ep;
        if (r->ep[i].ep > hi || i == 0) hi = r->ep[i].ep;
    }
    struct axis a = axis_make(lo, hi > lo ? hi : lo + 1, 10, 0, PX0, PX1);
    double pad = (a.hi - a.lo) * 0.01 + 0.5;
    a.lo -= pad;
    a.hi += pad;
    a.step = nice_step((hi - lo > 0 ? hi - lo : 1) / 10);
    if (a.step < 1) a.step = 1;
    return a;
}

static void warm_shade(struct sb *b, const struct run *r, const struct axis *x, double y0,
                       double y1) {
    int w = warmup_count(r);
    if (!w) return;
    double x0 = ax(x, r->ep[0].ep - 0.5), x1 = ax(x, r->ep[w - 1].ep + 0.5);
    if (x0 < x->p0) x0 = x->p0;
    sb_printf(b, "<rect class=\"warm\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>\n",
              x0, y0, x1 - x0, y1 - y0);
    sb_printf(b, "<text class=\"wl\" x=\"%.1f\" y=\"%.1f\">warm-up</text>\n", x0 + 5, y0 + 14);
}

/* Reward and top-1 per episode (two axes), best-so-far reward, new-best episodes marked. */
static void chart_reward(struct sb *b, const struct run *r) {
    const double y0 = 30, y1 = 250, H = 300;
    struct axis x = episode_axis(r);
    double rlo = r->ep[0].reward, rhi = rlo, tlo = r->ep[0].top1, thi = tlo;
    int linear = 1;
    for (int i = 0; i < r->nep; i++) {
        const struct episode *e = &r->ep[i];
        rlo = fmin(rlo, e->reward);
        rhi = fmax(rhi, e->reward);
        tlo = fmin(tlo, e->top1);
        thi = fmax(thi, e->top1);
        double pred = 0.1 * (e->top1 - e->fp_top1);
        if (fabs(pred - e->reward) > 1e-4 + 1e-4 * fabs(e->reward)) linear = 0;
    }
    struct axis yr = axis_make(rlo, rhi, 6, 1, y1, y0), yt;
    /* reward = 0.1·(top1 − fp) for every row (HAQ's reward): the right axis is the left one
     * relabelled, so the accuracy line runs through the reward dots. */
    double fp = r->ep[0].fp_top1;
    for (int i = 0; i < r->nep && linear; i++)
        if (fabs(r->ep[i].fp_top1 - fp) > 1e-9) linear = 0;
    if (linear) {
        yt = axis_make(fp + 10 * yr.lo, fp + 10 * yr.hi, 8, 0, y1, y0);
        yt.lo = fp + 10 * yr.lo;
        yt.hi = fp + 10 * yr.hi;
    } else {
        yt = axis_make(tlo, thi, 8, 1, y1, y0);
    }
    sb_printf(b, "<svg class=\"chart\" viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" height=\"%.0f\" "
                 "role=\"img\" aria-label=\"reward and accuracy per episode\">\n",
              SVG_W, H, SVG_W, H);
    warm_shade(b, r, &x, y0, y1);
    ticks(b, &yr, TICK_LEFT, PX0, PX0, PX1);
    ticks(b, &yt, TICK_RIGHT, PX1, 0, 0);
    ticks(b, &x, TICK_BOTTOM, y1, 0, 0);
    frame(b, PX0, y0, PX1, y1);
    axis_title(b, 20, (y0 + y1) / 2, 1, "c-rw", "reward");
    axis_title(b, SVG_W - 12, (y0 + y1) / 2, 1, "c-acc", "top-1 (%)");
    axis_title(b, (PX0 + PX1) / 2, y1 + 38, 0, "", "episode");
    sb_puts(b, "<polyline class=\"acc\" points=\"");
    for (int i = 0; i < r->nep; i++)
        sb_printf(b, "%.1f,%.1f ", ax(&x, r->ep[i].ep), ax(&yt, r->ep[i].top1));
    sb_puts(b, "\"/>\n<polyline class=\"bsf\" points=\"");
    double best = r->ep[0].reward;
    for (int i = 0; i < r->nep; i++) {
        double px = ax(&x, r->ep[i].ep);
        if (i) sb_printf(b, "%.1f,%.1f ", px, ax(&yr, best));
        best = fmax(best, r->ep[i].reward);
        sb_printf(b, "%.1f,%.1f ", px, ax(&yr, best));
    }
    sb_puts(b, "\"/>\n");
    int warm = warmup_count(r);
    for (int i = 0; i < r->nep; i++) {
        const struct episode *e = &r->ep[i];
        double px = ax(&x, e->ep), py = ax(&yr, e->reward);
        sb_printf(b, "<circle class=\"rw%s\" cx=\"%.1f\" cy=\"%.1f\" r=\"2.6\"><title>episode %d"
                     ": reward %.4f, top-1 %.2f %%, σ %.3f</title></circle>\n",
                  i < warm ? " w" : "", px, py, e->ep, e->reward, e->top1, e->sigma);
        if (e->best)
            sb_printf(b, "<circle class=\"nb\" cx=\"%.1f\" cy=\"%.1f\" r=\"5\"/>\n", px, py);
    }
    double lx = PX0 + 10, ly = y0 - 14;
    legend_item(b, lx, ly, "<circle class=\"sw rw\" cx=\"6\" r=\"3\"/>", "reward");
    legend_item(b, lx + 90, ly, "<circle class=\"sw rw w\" cx=\"6\" r=\"3\"/>", "reward (warm-up)");
    legend_item(b, lx + 240, ly, "<line class=\"sw bsf\" x1=\"0\" x2=\"14\"/>", "best so far");
    legend_item(b, lx + 360, ly, "<circle class=\"sw nb\" cx=\"6\" r=\"4.5\"/>", "new best");
    legend_item(b, lx + 460, ly, "<line class=\"sw acc\" x1=\"0\" x2=\"14\"/>",
                linear ? "top-1 (right axis; reward = 0.1·(top-1 − fp top-1))"
                       : "top-1 (right axis)");
    sb_puts(b, "</svg>\n");
}

/* Exploration σ per episode. */
static void chart_sigma(struct sb *b, const struct run *r) {
    const double y0 = 12, y1 = 112, H = 158;
    struct axis x = episode_axis(r);
    double hi = 0;
    for (int i = 0; i < r->nep; i++) hi = fmax(hi, r->ep[i].sigma);
    struct axis y = axis_make(0, hi > 0 ? hi : 1, 3, 1, y1, y0);
    sb_printf(b, "<svg class=\"chart\" viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" height=\"%.0f\" "
                 "role=\"img\" aria-label=\"exploration sigma per episode\">\n",
              SVG_W, H, SVG_W, H);
    warm_shade(b, r, &x, y0, y1);
    ticks(b, &y, TICK_LEFT, PX0, PX0, PX1);
    ticks(b, &x, TICK_BOTTOM, y1, 0, 0);
    frame(b, PX0, y0, PX1, y1);
    axis_title(b, 20, (y0 + y1) / 2, 1, "c-sig", "σ");
    axis_title(b, (PX0 + PX1) / 2, y1 + 38, 0, "", "episode");
    sb_puts(b, "<polyline class=\"sig\" points=\"");
    for (int i = 0; i < r->nep; i++)
        sb_printf(b, "%.1f,%.1f ", ax(&x, r->ep[i].ep), ax(&y, r->ep[i].sigma));
    sb_puts(b, "\"/>\n</svg>\n");
}

static const char *bits_label(int b, char *buf, size_t n) {
    if (b == 32 || b <= 0) return "fp";
    snprintf(buf, n, "%d", b);
    return buf;
}

/* The best policy: weight bits up, activation bits down, one slot per layer. */
static void chart_policy(struct sb *b, const struct run *r) {
    const double yt = 34, ymid = 184, yb = 334, H = 456;
    int top = 8;
    for (int i = 0; i < r->nly; i++) {
        if (r->ly[i].w <= 8 && r->ly[i].w > top) top = r->ly[i].w;
        if (r->ly[i].a <= 8 && r->ly[i].a > top) top = r->ly[i].a;
    }
    struct axis up = {0, top, ymid, yt, 2}, down = {0, top, ymid, yb, 2};
    double slot = (PX1 - PX0) / r->nly, bw = fmax(1, slot * 0.72);
    sb_printf(b, "<svg class=\"chart\" viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" height=\"%.0f\" "
                 "role=\"img\" aria-label=\"bit-widths of the best policy\">\n",
              SVG_W, H, SVG_W, H);
    ticks(b, &up, TICK_LEFT, PX0, PX0, PX1);
    ticks(b, &down, TICK_LEFT, PX0, PX0, PX1);
    frame(b, PX0, yt, PX1, yb);
    sb_printf(b, "<line class=\"mid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", PX0,
              ymid, PX1, ymid);
    axis_title(b, 22, (yt + ymid) / 2, 1, "", "weight bits");
    axis_title(b, 22, (ymid + yb) / 2, 1, "", "activation bits");
    char buf[16];
    for (int i = 0; i < r->nly; i++) {
        const struct layer *l = &r->ly[i];
        double cx = PX0 + slot * (i + 0.5), x0 = cx - bw / 2;
        int wf = l->w > 8, af = l->a > 8 || l->a <= 0;
        double hw = ax(&up, wf ? top : l->w), ha = af ? ymid : ax(&down, l->a);
        sb_printf(b, "<rect class=\"wbar t-%s%s\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
                     "height=\"%.1f\"><title>", ltype_name[l->type], wf ? " fp" : "", x0, hw, bw,
                  ymid - hw);
        sb_esc(b, l->name);
        sb_printf(b, " (%s): weights %s bits</title></rect>\n", ltype_name[l->type],
                  wf ? "float" : bits_label(l->w, buf, sizeof buf));
        sb_printf(b, "<rect class=\"abar t-%s\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
                     "height=\"%.1f\"><title>", ltype_name[l->type], x0, ymid, bw, ha - ymid);
        sb_esc(b, l->name);
        sb_printf(b, " (%s): activations %s</title></rect>\n", ltype_name[l->type],
                  af ? "not quantized" : bits_label(l->a, buf, sizeof buf));
        if (slot >= 9) {
            sb_printf(b, "<text class=\"bv\" x=\"%.1f\" y=\"%.1f\">%s</text>", cx, hw - 3,
                      bits_label(l->w, buf, sizeof buf));
            sb_printf(b, "<text class=\"bv\" x=\"%.1f\" y=\"%.1f\">%s</text>\n", cx, ha + 10,
                      bits_label(l->a, buf, sizeof buf));
        }
        sb_printf(b, "<text class=\"ln\" text-anchor=\"end\" transform=\"translate(%.1f,%.1f) "
                     "rotate(-60)\">", cx + 3, yb + 19);
        sb_esc(b, l->name);
        sb_puts(b, "</text>\n");
    }
    double lx = PX0 + 10, ly = 14;
    legend_item(b, lx, ly, "<rect class=\"sw t-conv\" y=\"-6\" width=\"12\" height=\"12\"/>",
                "conv (weights)");
    legend_item(b, lx + 130, ly, "<rect class=\"sw t-dw\" y=\"-6\" width=\"12\" height=\"12\"/>",
                "depthwise conv (weights)");
    legend_item(b, lx + 310, ly, "<rect class=\"sw t-fc\" y=\"-6\" width=\"12\" height=\"12\"/>",
                "fully connected (weights)");
    legend_item(b, lx + 500, ly,
                "<rect class=\"sw abar t-conv\" y=\"-6\" width=\"12\" height=\"12\"/>",
                "lighter: activations (“fp”: float weights / unquantized input)");
    sb_puts(b, "</svg>\n");
}

/* Per-layer cost of the best policy beside uniform 8/8 (latency or energy). */
static void chart_cost(struct sb *b, const struct run *r, int energy) {
    const double y0 = 34, y1 = 214, H = 262;
    double hi = 0, tq = 0, t8 = 0;
    for (int i = 0; i < r->nly; i++) {
        double q = energy ? r->ly[i].en : r->ly[i].lat, e = energy ? r->ly[i].en8 : r->ly[i].lat8;
        hi = fmax(hi, fmax(q, e));
        tq += q;
        t8 += e;
    }
    struct axis y = axis_make(0, hi > 0 ? hi : 1, 5, 1, y1, y0);
    double slot = (PX1 - PX0) / r->nly, bw = fmax(0.5, slot * 0.4);
    const char *unit = energy ? "mJ" : "ms", *what = energy ? "energy" : "latency";
    const char *c8 = energy ? "en8" : "lat8", *cq = energy ? "enq" : "latq";
    sb_printf(b, "<svg class=\"chart\" viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" height=\"%.0f\" "
                 "role=\"img\" aria-label=\"per-layer %s\">\n",
              SVG_W, H, SVG_W, H, what);
    ticks(b, &y, TICK_LEFT, PX0, PX0, PX1);
    frame(b, PX0, y0, PX1, y1);
    char title[64];
    snprintf(title, sizeof title, "%s (%s)", what, unit);
    axis_title(b, 20, (y0 + y1) / 2, 1, "", title);
    axis_title(b, (PX0 + PX1) / 2, y1 + 40, 0, "", "layer");
    int every = slot >= 14 ? 1 : slot >= 7 ? 2 : 5;
    for (int i = 0; i < r->nly; i++) {
        const struct layer *l = &r->ly[i];
        double q = energy ? l->en : l->lat, e = energy ? l->en8 : l->lat8;
        double cx = PX0 + slot * (i + 0.5), p8 = ax(&y, e), pq = ax(&y, q);
        sb_printf(b, "<rect class=\"%s\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\">"
                     "<title>", c8, cx - bw, p8, bw, y1 - p8);
        sb_esc(b, l->name);
        sb_printf(b, ": %.4g %s at 8/8</title></rect>", e, unit);
        sb_printf(b, "<rect class=\"%s t-%s\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
                     "height=\"%.1f\"><title>", cq, ltype_name[l->type], cx, pq, bw, y1 - pq);
        sb_esc(b, l->name);
        sb_printf(b, ": %.4g %s at w%d/a%d (%.2f× of 8/8)</title></rect>\n", q, unit, l->w, l->a,
                  e > 0 ? q / e : 0);
        if (i % every == 0 || i == r->nly - 1)
            sb_printf(b, "<text class=\"tl\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%d"
                         "</text>\n", cx, y1 + 15, l->index);
    }
    char line[160];
    snprintf(line, sizeof line, "best policy (by layer type) — total %.4g %s (%.2f× of 8/8)", tq,
             unit, t8 > 0 ? tq / t8 : 0);
    char total8[96];
    snprintf(total8, sizeof total8, "uniform 8/8 — total %.4g %s", t8, unit);
    legend_item(b, PX0 + 10, 16, "<rect class=\"sw lat8\" y=\"-6\" width=\"12\" height=\"12\"/>",
                total8);
    legend_item(b, PX0 + 290, 16, "<rect class=\"sw t-conv\" y=\"-6\" width=\"12\" height=\"12\"/>",
                line);
    sb_puts(b, "</svg>\n");
}

/* Cost ratio against top-1 of every episode, the budget and the best episode. */
static void chart_scatter(struct sb *b, const struct run *r, int best, double budget,
                          const char *metric) {
    const double y0 = 34, y1 = 344, H = 396, X0 = PX0, X1 = 760;
    double xlo = r->ep[0].cost, xhi = xlo, ylo = r->ep[0].top1, yhi = ylo;
    for (int i = 0; i < r->nep; i++) {
        xlo = fmin(xlo, r->ep[i].cost);
        xhi = fmax(xhi, r->ep[i].cost);
        ylo = fmin(ylo, r->ep[i].top1);
        yhi = fmax(yhi, r->ep[i].top1);
    }
    double fp = r->ep[0].fp_top1;
    if (budget > 0) {
        xlo = fmin(xlo, budget);
        xhi = fmax(xhi, budget);
    }
    yhi = fmax(yhi, fp);
    xhi += (xhi - xlo) * 0.03;
    struct axis x = axis_make(xlo, xhi, 8, 1, X0, X1), y = axis_make(ylo, yhi, 6, 1, y1, y0);
    sb_printf(b, "<svg class=\"chart\" viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" height=\"%.0f\" "
                 "role=\"img\" aria-label=\"cost against accuracy\">\n",
              SVG_W, H, SVG_W, H);
    ticks(b, &y, TICK_LEFT, X0, X0, X1);
    ticks(b, &x, TICK_BOTTOM, y1, 0, 0);
    frame(b, X0, y0, X1, y1);
    axis_title(b, 20, (y0 + y1) / 2, 1, "", "top-1 (%)");
    char xt[96];
    snprintf(xt, sizeof xt, "cost ratio (%s)", metric);
    struct sb esc = {0};
    sb_esc(&esc, xt);
    axis_title(b, (X0 + X1) / 2, y1 + 38, 0, "", esc.p ? esc.p : "");
    free(esc.p);
    double pf = ax(&y, fp);
    sb_printf(b, "<line class=\"fpl\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
                 "<text class=\"ann\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">fp top-1 %.2f %%"
                 "</text>\n", X0, pf, X1, pf, X1 - 6, pf - 5, fp);
    if (budget > 0) {
        double pb = ax(&x, budget);
        sb_printf(b, "<line class=\"budget\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
                     "<text class=\"ann c-bud\" x=\"%.1f\" y=\"%.1f\">budget %.3g</text>\n", pb,
                  y0, pb, y1, pb + 5, y1 - 8, budget);
    }
    int warm = warmup_count(r);
    for (int i = 0; i < r->nep; i++) {
        const struct episode *e = &r->ep[i];
        /* colour from light (early) to dark (late) episodes; warm-up ones grey */
        double t = r->nep > 1 ? (double)i / (r->nep - 1) : 1;
        int lum = (int)(78 - 46 * t);
        if (i < warm)
            sb_printf(b, "<circle class=\"pt w\" cx=\"%.1f\" cy=\"%.1f\" r=\"3.6\">",
                      ax(&x, e->cost), ax(&y, e->top1));
        else
            sb_printf(b, "<circle class=\"pt\" cx=\"%.1f\" cy=\"%.1f\" r=\"3.6\" "
                         "style=\"fill:hsl(212,70%%,%d%%)\">", ax(&x, e->cost), ax(&y, e->top1),
                      lum);
        sb_printf(b, "<title>episode %d: top-1 %.2f %%, cost ratio %.4f, mean bits w %.2f a %.2f"
                     "</title></circle>\n", e->ep, e->top1, e->cost, e->mean_w, e->mean_a);
    }
    if (best >= 0) {
        const struct episode *e = &r->ep[best];
        double px = ax(&x, e->cost), py = ax(&y, e->top1);
        sb_printf(b, "<circle class=\"bestmark\" cx=\"%.1f\" cy=\"%.1f\" r=\"8\"/>"
                     "<text class=\"ann c-best\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\">best: "
                     "episode %d, %.2f %%, %.3f</text>\n", px, py, px + (px > X1 - 180 ? -12 : 12),
                  py - 10, px > X1 - 180 ? "end" : "start", e->ep, e->top1, e->cost);
    }
    double lx = X1 + 30, ly = y0 + 12;
    legend_item(b, lx, ly, "<circle class=\"sw pt w\" cx=\"6\" r=\"4\"/>", "warm-up episode");
    legend_item(b, lx, ly + 24,
                "<circle class=\"sw pt\" cx=\"6\" r=\"4\" style=\"fill:hsl(212,70%,72%)\"/>",
                "early episode");
    legend_item(b, lx, ly + 48,
                "<circle class=\"sw pt\" cx=\"6\" r=\"4\" style=\"fill:hsl(212,70%,32%)\"/>",
                "late episode");
    legend_item(b, lx, ly + 72, "<circle class=\"sw bestmark\" cx=\"6\" r=\"6\"/>",
                "best reward");
    legend_item(b, lx, ly + 96, "<line class=\"sw budget\" x1=\"6\" y1=\"-7\" x2=\"6\" y2=\"7\"/>",
                "budget (cost ratio)");
    legend_item(b, lx, ly + 120, "<line class=\"sw fpl\" x1=\"0\" x2=\"14\"/>", "fp32 top-1");
    sb_puts(b, "</svg>\n");
}

/* ---- the page ----------------------------------------------------------------------------- */

static const char css[] =
    "body{font:14px/1.45 -apple-system,'Segoe UI',Helvetica,Arial,sans-serif;color:#1d2330;"
    "background:#f4f5f7;margin:0}\n"
    "main{max-width:1100px;margin:0 auto;padding:18px 20px 40px}\n"
    "h1{font-size:24px;margin:6px 0 2px}h2{font-size:17px;margin:0 0 4px}\n"
    ".sub{color:#5b6475;margin:0 0 14px;word-break:break-all}\n"
    "section{background:#fff;border:1px solid #dde1e7;border-radius:6px;padding:14px 18px;"
    "margin:0 0 16px}\n"
    ".note{color:#5b6475;margin:0 0 6px;font-size:13px}\n"
    ".cols{display:flex;gap:18px;flex-wrap:wrap}.cols>div{flex:1 1 320px}\n"
    "table{border-collapse:collapse;width:100%;font-size:13px}\n"
    "td,th{padding:3px 8px;border-bottom:1px solid #eceef2;text-align:left;vertical-align:top}\n"
    "th{color:#5b6475;font-weight:600;width:42%}td{font-variant-numeric:tabular-nums;"
    "word-break:break-all}\n"
    ".empty{padding:24px;text-align:center;color:#5b6475;font-size:16px}\n"
    "svg.chart{display:block;max-width:100%;height:auto;font-family:inherit}\n"
    ".frame{fill:none;stroke:#9aa3b2}.grid{stroke:#eceef2}.tk{stroke:#9aa3b2}\n"
    ".tl{font-size:11px;fill:#4a5263}.at{font-size:12px;fill:#1d2330;font-weight:600}\n"
    ".lg{font-size:12px;fill:#1d2330}.ann{font-size:12px;fill:#4a5263}\n"
    ".warm{fill:#eef0f4}.wl{font-size:11px;fill:#7a8496;font-style:italic}\n"
    ".rw{fill:#2f6fd0}.rw.w{fill:#a9b1bf}.nb{fill:none;stroke:#d23c3c;stroke-width:1.5}\n"
    ".bsf{fill:none;stroke:#d23c3c;stroke-width:2}\n"
    ".acc{fill:none;stroke:#2e9d62;stroke-width:1.2;opacity:.85}\n"
    ".sig{fill:none;stroke:#8a55c6;stroke-width:1.8}\n"
    ".c-rw{fill:#2f6fd0}.c-acc{fill:#2e9d62}.c-sig{fill:#8a55c6}.c-bud{fill:#c2571a}"
    ".c-best{fill:#d23c3c;font-weight:600}\n"
    ".t-conv{fill:#3568b8}.t-dw{fill:#e58a1f}.t-fc{fill:#7b4fb3}\n"
    ".abar{opacity:.5}.wbar.fp{opacity:.3}.mid{stroke:#1d2330}\n"
    ".bv{font-size:9px;fill:#4a5263;text-anchor:middle}.ln{font-size:9.5px;fill:#4a5263}\n"
    ".lat8,.en8{fill:#c4c9d2}\n"
    ".pt{stroke:#fff;stroke-width:.6}.pt.w{fill:#b9bfca}\n"
    ".bestmark{fill:none;stroke:#d23c3c;stroke-width:2.4}\n"
    ".budget{stroke:#c2571a;stroke-width:1.6;stroke-dasharray:6 4}\n"
    ".fpl{stroke:#2e9d62;stroke-width:1.4;stroke-dasharray:3 3}\n"
    ".tb{display:flex;height:14px;border-radius:3px;overflow:hidden;margin:6px 0 2px}\n"
    ".tb span{display:block;height:100%}\n"
    ".key{display:inline-block;width:10px;height:10px;border-radius:2px;margin:0 4px 0 10px}\n";

static void row(struct sb *b, const char *key, const char *value_html) {
    sb_printf(b, "<tr><th>%s</th><td>%s</td></tr>\n", key, value_html);
}

static void row_f(struct sb *b, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void row_f(struct sb *b, const char *key, const char *fmt, ...) {
    char v[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v, sizeof v, fmt, ap);
    va_end(ap);
    row(b, key, v);
}

static int best_index(const struct run *r) {
    int best = -1;
    for (int i = 0; i < r->nep; i++)
        if (best < 0 || r->ep[i].reward > r->ep[best].reward) best = i;
    return best;
}

static double config_num(const struct run *r, const char *key, double dflt) {
    const char *s = run_get(r, key);
    if (!s) return dflt;
    char *end;
    double v = strtod(s, &end);
    return end != s && !*end && isfinite(v) ? v : dflt;
}

static void time_breakdown(struct sb *b, const struct run *r) {
    static const char *const names[4] = {"fine-tune", "evaluation", "agent", "hardware model"};
    static const char *const colours[4] = {"#3568b8", "#2e9d62", "#e58a1f", "#8a55c6"};
    double m[4] = {0, 0, 0, 0}, total = 0;
    for (int i = 0; i < r->nep; i++) {
        m[0] += r->ep[i].t_ft;
        m[1] += r->ep[i].t_eval;
        m[2] += r->ep[i].t_agent;
        m[3] += r->ep[i].t_hw;
    }
    for (int k = 0; k < 4; k++) {
        m[k] /= r->nep;
        total += m[k];
    }
    char v[160];
    snprintf(v, sizeof v, "%.3f s per episode, %.1f s in all", total, total * r->nep);
    row(b, "mean episode time", v);
    for (int k = 0; k < 4; k++) {
        snprintf(v, sizeof v, "%.3f s (%.0f %%)", m[k], total > 0 ? 100 * m[k] / total : 0);
        char key[64];
        snprintf(key, sizeof key, "&nbsp;&nbsp;%s", names[k]);
        row(b, key, v);
    }
    sb_puts(b, "<tr><td colspan=\"2\"><div class=\"tb\">");
    for (int k = 0; k < 4; k++)
        if (total > 0 && m[k] > 0)
            sb_printf(b, "<span style=\"width:%.2f%%;background:%s\" title=\"%s\"></span>",
                      100 * m[k] / total, colours[k], names[k]);
    sb_puts(b, "</div>");
    for (int k = 0; k < 4; k++)
        sb_printf(b, "<span class=\"key\" style=\"background:%s\"></span>%s", colours[k],
                  names[k]);
    sb_puts(b, "</td></tr>\n");
}

static void page(struct sb *b, const struct run *r) {
    int best = best_index(r);
    double budget = config_num(r, "ratio", -1);
    const char *metric = run_get(r, "metric");
    if (!metric) metric = "cost";
    sb_puts(b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
               "<title>HAQ search report — ");
    sb_esc(b, r->dir);
    sb_printf(b, "</title>\n<style>\n%s</style>\n</head>\n<body>\n<main>\n", css);
    sb_puts(b, "<h1>HAQ search report</h1>\n<p class=\"sub\">run directory ");
    sb_esc(b, r->dir);
    const char *arch = run_get(r, "arch"), *hw = run_get(r, "hw");
    if (arch || hw) {
        sb_puts(b, " · ");
        sb_esc(b, arch ? arch : "?");
        sb_puts(b, " on ");
        sb_esc(b, hw ? hw : "?");
    }
    sb_puts(b, "</p>\n<section class=\"cols\">\n<div><h2>Summary</h2><table>\n");
    if (!r->nep) {
        row(b, "episodes", "no episodes yet");
    } else {
        const struct episode *e = &r->ep[best];
        int warm = warmup_count(r);
        row_f(b, "episodes", "%d (%d warm-up)", r->nep, warm);
        row_f(b, "quantizable layers", "%d", r->nly);
        row_f(b, "fp top-1", "%.2f %%", e->fp_top1);
        row_f(b, "best top-1", "<b>%.2f %%</b> (episode %d, %+.2f points)", e->top1, e->ep,
              e->top1 - e->fp_top1);
        row_f(b, "best reward", "%.4f", e->reward);
        char bud[64] = "";
        if (budget > 0) snprintf(bud, sizeof bud, " (budget %.3g)", budget);
        char key[80];
        struct sb m = {0};
        sb_esc(&m, metric);
        snprintf(key, sizeof key, "best cost ratio (%.40s)", m.p ? m.p : "");
        free(m.p);
        row_f(b, key, "<b>%.4f</b>%s", e->cost, bud);
        row_f(b, "best latency / energy", "%.4g ms / %.4g mJ", e->lat, e->en);
        row_f(b, "best size", "%.0f bytes (%.2f MB)", e->size, e->size / 1e6);
        row_f(b, "best mean bits", "w %.2f / a %.2f", e->mean_w, e->mean_a);
        time_breakdown(b, r);
    }
    sb_puts(b, "</table></div>\n<div><h2>Configuration</h2><table>\n");
    for (int i = 0; i < r->nkv; i++) {
        sb_puts(b, "<tr><th>");
        sb_esc(b, r->kv[i].key);
        sb_puts(b, "</th><td>");
        sb_esc(b, r->kv[i].value);
        sb_puts(b, "</td></tr>\n");
    }
    if (!r->nkv) sb_puts(b, "<tr><td>(empty config.txt)</td></tr>\n");
    sb_puts(b, "</table></div>\n</section>\n");
    if (!r->nep) {
        sb_puts(b, "<section><p class=\"empty\">no episodes yet</p></section>\n");
    } else {
        sb_puts(b, "<section><h2>Reward and accuracy per episode</h2><p class=\"note\">Every "
                   "episode's reward with the best so far; warm-up episodes act at random.</p>\n");
        chart_reward(b, r);
        sb_puts(b, "<h2>Exploration σ</h2>\n");
        chart_sigma(b, r);
        sb_puts(b, "</section>\n<section><h2>Cost and accuracy of every episode</h2>\n");
        chart_scatter(b, r, best, budget, metric);
        sb_puts(b, "</section>\n");
    }
    if (r->nly) {
        sb_puts(b, "<section><h2>Best policy: bits per layer</h2><p class=\"note\">Weights up, "
                   "activations down, coloured by layer type.</p>\n");
        chart_policy(b, r);
        sb_puts(b, "</section>\n<section><h2>Per-layer latency and energy: best policy against "
                   "uniform 8-bit</h2>\n");
        chart_cost(b, r, 0);
        chart_cost(b, r, 1);
        sb_puts(b, "</section>\n");
    }
    sb_puts(b, "</main>\n</body>\n</html>\n");
}

int rl_report_write_summary(const char *dir, const char *out_path,
                            struct rl_report_summary *sum) {
    struct run r;
    if (load_run(&r, dir)) {
        run_free(&r);
        return -1;
    }
    char *def = out_path ? NULL : path_join(dir, "report.html");
    const char *out = out_path ? out_path : def;
    int rc = 0;
    struct sb b = {0};
    if (!out) {
        rc = nn_err("%s: out of memory", dir);
        goto done;
    }
    page(&b, &r);
    if (b.oom) {
        rc = nn_err("%s: out of memory", out);
        goto done;
    }
    if (nn_write_file_atomic(out, b.p, b.n)) {
        rc = -1;
        goto done;
    }
    if (sum) {
        int best = best_index(&r);
        sum->episodes = r.nep;
        sum->layers = r.nly;
        sum->best_episode = best >= 0 ? r.ep[best].ep : -1;
        sum->best_reward = best >= 0 ? r.ep[best].reward : 0;
        sum->best_top1 = best >= 0 ? r.ep[best].top1 : 0;
        sum->best_cost_ratio = best >= 0 ? r.ep[best].cost : 0;
    }
done:
    free(b.p);
    free(def);
    run_free(&r);
    return rc;
}

int rl_report_write(const char *dir, const char *out_path) {
    return rl_report_write_summary(dir, out_path, NULL);
}
