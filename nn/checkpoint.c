#include "checkpoint.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fakeq.h"
#include "graph.h"

/* ---- layouts ------------------------------------------------------------------------------ */

void nn_param_from_torch(const struct nn_graph *g, int p, const float *src, float *dst) {
    const struct nn_param *t = &g->params[p];
    const struct nn_node *n = &g->nodes[t->node];
    if (n->op == NN_OP_CONV && t->ndim == 4) {
        int co = t->shape[0], ci = t->shape[1], kh = t->shape[2], kw = t->shape[3];
        for (int o = 0; o < co; o++)
            for (int c = 0; c < ci; c++)
                for (int i = 0; i < kh; i++)
                    for (int j = 0; j < kw; j++)
                        dst[((size_t)(i * kw + j) * ci + c) * co + o] =
                            src[(((size_t)o * ci + c) * kh + i) * kw + j];
    } else if (n->op == NN_OP_LINEAR && t->ndim == 2) {
        int out = t->shape[0], in = t->shape[1];
        for (int o = 0; o < out; o++)
            for (int i = 0; i < in; i++) dst[(size_t)i * out + o] = src[(size_t)o * in + i];
    } else {
        memcpy(dst, src, t->numel * sizeof(float));
    }
}

void nn_param_to_torch(const struct nn_graph *g, int p, const float *src, float *dst) {
    const struct nn_param *t = &g->params[p];
    const struct nn_node *n = &g->nodes[t->node];
    if (n->op == NN_OP_CONV && t->ndim == 4) {
        int co = t->shape[0], ci = t->shape[1], kh = t->shape[2], kw = t->shape[3];
        for (int o = 0; o < co; o++)
            for (int c = 0; c < ci; c++)
                for (int i = 0; i < kh; i++)
                    for (int j = 0; j < kw; j++)
                        dst[(((size_t)o * ci + c) * kh + i) * kw + j] =
                            src[((size_t)(i * kw + j) * ci + c) * co + o];
    } else if (n->op == NN_OP_LINEAR && t->ndim == 2) {
        int out = t->shape[0], in = t->shape[1];
        for (int o = 0; o < out; o++)
            for (int i = 0; i < in; i++) dst[(size_t)o * in + i] = src[(size_t)i * out + o];
    } else {
        memcpy(dst, src, t->numel * sizeof(float));
    }
}

/* ---- loading a state dict ------------------------------------------------------------------ */

static float half_to_float(uint16_t h) {
    uint32_t s = (uint32_t)(h >> 15) << 31, e = (h >> 10) & 31, m = h & 1023, bits;
    if (e == 0) {
        if (m == 0) bits = s;
        else { /* subnormal: normalize */
            int sh = 0;
            while (!(m & 1024)) {
                m <<= 1;
                sh++;
            }
            bits = s | (uint32_t)(113 - sh) << 23 | (m & 1023) << 13;
        }
    } else if (e == 31) {
        bits = s | 0x7f800000u | m << 13;
    } else {
        bits = s | (e + 112) << 23 | m << 13;
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* Convert n elements of a view to float; −1 for a dtype that is not floating point. */
static int to_float(const struct nn_tensor_view *v, size_t n, float *out) {
    const uint8_t *b = v->data;
    for (size_t i = 0; i < n; i++) {
        switch (v->dtype) {
        case NN_F32:
            memcpy(&out[i], b + 4 * i, 4);
            break;
        case NN_F64: {
            double d;
            memcpy(&d, b + 8 * i, 8);
            out[i] = (float)d;
            break;
        }
        case NN_F16: {
            uint16_t h;
            memcpy(&h, b + 2 * i, 2);
            out[i] = half_to_float(h);
            break;
        }
        case NN_BF16: {
            uint16_t h;
            memcpy(&h, b + 2 * i, 2);
            uint32_t bits = (uint32_t)h << 16;
            memcpy(&out[i], &bits, 4);
            break;
        }
        default:
            return -1;
        }
    }
    return 0;
}

static size_t view_numel(const struct nn_tensor_view *v) {
    size_t n = 1;
    for (int d = 0; d < v->ndim; d++) n *= (size_t)v->shape[d];
    return n;
}

static const struct nn_tensor_view *find_view(const struct nn_tensor_view *v, int n,
                                              const char *name, unsigned char *used) {
    for (int i = 0; i < n; i++)
        if (!strcmp(v[i].name, name)) {
            used[i] = 1;
            return &v[i];
        }
    return NULL;
}

/* Append a name to a comma-separated list in buf (first few only). */
static void list_add(char *buf, size_t cap, int *count, const char *name) {
    if (*count < 6) {
        size_t l = strlen(buf);
        snprintf(buf + l, cap - l, "%s%s", l ? ", " : "", name);
    }
    (*count)++;
}

static int shape_matches(const struct nn_tensor_view *v, const int *shape, int ndim) {
    if (v->ndim != ndim) return 0;
    for (int d = 0; d < ndim; d++)
        if (v->shape[d] != shape[d]) return 0;
    return 1;
}

int nn_state_load(struct nn_graph *g, const struct nn_tensor_view *v, int n, int ignore_unknown,
                  const char *source) {
    unsigned char *used = calloc((size_t)n + 1, 1);
    size_t maxn = 1;
    for (int p = 0; p < g->n_params; p++)
        if (g->params[p].numel > maxn) maxn = g->params[p].numel;
    float *tmp = malloc(maxn * sizeof(float));
    if (!used || !tmp) {
        free(used);
        free(tmp);
        return nn_err("%s: out of memory", source);
    }
    char missing[512] = "", badshape[512] = "", unknown[512] = "";
    int n_missing = 0, n_bad = 0, n_unknown = 0;
    for (int p = 0; p < g->n_params; p++) {
        const struct nn_param *t = &g->params[p];
        const struct nn_tensor_view *x = find_view(v, n, t->name, used);
        if (!x) {
            /* quantizer state is optional: a float network keeps the default range */
            if (!t->quant) list_add(missing, sizeof missing, &n_missing, t->name);
            continue;
        }
        if (!shape_matches(x, t->shape, t->ndim) || to_float(x, t->numel, tmp)) {
            list_add(badshape, sizeof badshape, &n_bad, t->name);
            continue;
        }
        nn_param_from_torch(g, p, tmp, nn_param_data(g, p));
    }
    for (int b = 0; b < g->n_bufs; b++) {
        const struct nn_param *t = &g->bufs[b];
        const struct nn_tensor_view *x = find_view(v, n, t->name, used);
        if (!x) {
            list_add(missing, sizeof missing, &n_missing, t->name);
            continue;
        }
        if (!shape_matches(x, t->shape, t->ndim) || to_float(x, t->numel, nn_buf_data(g, b)))
            list_add(badshape, sizeof badshape, &n_bad, t->name);
    }
    char name[NN_NAME_MAX + 32];
    for (int i = 0; i < g->n_nodes; i++) {
        struct nn_node *nd = &g->nodes[i];
        if (nd->op != NN_OP_BN) continue;
        snprintf(name, sizeof name, "%s.num_batches_tracked", nd->name);
        const struct nn_tensor_view *x = find_view(v, n, name, used);
        if (!x) continue; /* older checkpoints have none; PyTorch accepts that too */
        if (view_numel(x) != 1 || (x->dtype != NN_I64 && x->dtype != NN_I32)) {
            list_add(badshape, sizeof badshape, &n_bad, name);
            continue;
        }
        if (x->dtype == NN_I64) memcpy(&nd->u.bn.batches, x->data, 8);
        else {
            int32_t c;
            memcpy(&c, x->data, 4);
            nd->u.bn.batches = c;
        }
    }
    for (int i = 0; i < n; i++)
        if (!used[i]) list_add(unknown, sizeof unknown, &n_unknown, v[i].name);
    free(used);
    free(tmp);
    if (n_missing || n_bad || (n_unknown && !ignore_unknown)) {
        char msg[1800];
        int l = snprintf(msg, sizeof msg, "%s:", source);
        if (n_missing)
            l += snprintf(msg + l, sizeof msg - (size_t)l, " %d missing (%s%s);", n_missing,
                          missing, n_missing > 6 ? ", …" : "");
        if (n_bad)
            l += snprintf(msg + l, sizeof msg - (size_t)l, " %d with the wrong shape or type (%s%s);",
                          n_bad, badshape, n_bad > 6 ? ", …" : "");
        if (n_unknown && !ignore_unknown)
            snprintf(msg + l, sizeof msg - (size_t)l, " %d unknown (%s%s);", n_unknown, unknown,
                     n_unknown > 6 ? ", …" : "");
        return nn_err("%s", msg);
    }
    return 0;
}

/* ---- safetensors checkpoints --------------------------------------------------------------- */

static const struct nn_qattr *node_q(const struct nn_graph *g, int i) {
    const struct nn_node *n = &g->nodes[i];
    return n->op == NN_OP_CONV ? &n->u.conv.q : n->op == NN_OP_LINEAR ? &n->u.fc.q : NULL;
}

static int q_active(const struct nn_qattr *q) { return q && (q->w_bits || q->a_bits); }

static int weight_of(const struct nn_graph *g, int i) {
    const struct nn_node *n = &g->nodes[i];
    return n->op == NN_OP_CONV ? n->u.conv.w : n->u.fc.w;
}

/* "w:a,w:a,…" over the conv/linear nodes, w suffixed with c for per-channel thresholds. */
static char *bits_string(const struct nn_graph *g) {
    size_t cap = 16 * (size_t)g->n_nodes + 1, len = 0;
    char *s = malloc(cap);
    if (!s) return NULL;
    s[0] = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const struct nn_qattr *q = node_q(g, i);
        if (!q) continue;
        len += (size_t)snprintf(s + len, cap - len, "%s%d%s:%d", len ? "," : "", q->w_bits,
                                q->per_channel ? "c" : "", q->a_bits);
    }
    return s;
}

/* ---- packed codes ------------------------------------------------------------------------- */

void nn_pack_codes(const uint32_t *codes, size_t n, int bits, uint8_t *out) {
    memset(out, 0, nn_packed_bytes(n, bits));
    uint32_t mask = bits >= 32 ? 0xffffffffu : (1u << bits) - 1u;
    for (size_t i = 0; i < n; i++) {
        uint64_t v = codes[i] & mask;
        size_t bit = i * (size_t)bits;
        for (int k = 0; k < bits; k++, bit++)
            if (v >> k & 1u) out[bit >> 3] |= (uint8_t)(1u << (bit & 7));
    }
}

void nn_unpack_codes(const uint8_t *in, size_t n, int bits, uint32_t *codes) {
    for (size_t i = 0; i < n; i++) {
        uint32_t v = 0;
        size_t bit = i * (size_t)bits;
        for (int k = 0; k < bits; k++, bit++) v |= (uint32_t)(in[bit >> 3] >> (bit & 7) & 1u) << k;
        codes[i] = v;
    }
}

size_t nn_packed_bytes(size_t n, int bits) { return (n * (size_t)bits + 7) / 8; }

/* ---- the state dict, as a checkpoint or packed ------------------------------------------- */

/* The entries of a save and the memory they point into. */
struct saved {
    struct nn_st_entry *e;
    int k;
    float *conv;       /* torch-layout copies of the parameters */
    int64_t *counts;   /* BN counters */
    char (*names)[NN_NAME_MAX + 32];
    uint8_t *codes;    /* packed weights */
    float *extra_f;    /* codebooks and binary scales */
    unsigned char *wside; /* [k]: the entry belongs to a quantizable layer's weights */
};

static void saved_free(struct saved *s) {
    free(s->e);
    nn_free(s->conv);
    free(s->counts);
    free(s->names);
    free(s->codes);
    free(s->extra_f);
    free(s->wside);
    memset(s, 0, sizeof *s);
}

/* The sorted distinct values of w (at most cap); −1 when there are more. */
static int codebook(const float *w, size_t n, float *cb, int cap) {
    int m = 0;
    for (size_t i = 0; i < n; i++) {
        int lo = 0, hi = m; /* cb[0 … m) sorted: binary search for w[i] */
        while (lo < hi) {
            int mid = (lo + hi) / 2;
            if (cb[mid] < w[i]) lo = mid + 1;
            else hi = mid;
        }
        if (lo < m && cb[lo] == w[i]) continue;
        if (m == cap || isnan(w[i])) return -1;
        memmove(cb + lo + 1, cb + lo, (size_t)(m - lo) * sizeof(float));
        cb[lo] = w[i];
        m++;
    }
    return m;
}

/* Codes of one quantizable layer's weights (torch layout, n values, `cout` output channels as
 * the slowest axis) into pk; the side tensor (binary scale or codebook) into side. Returns the
 * code width, or −1 (nn_err). */
static int layer_codes(const struct nn_graph *g, int node, const struct nn_qattr *q, int kbits,
                       const float *w, size_t n, uint8_t *pk, float *side, uint32_t *tmp) {
    int cout = g->nodes[node].c;
    size_t per = n / (size_t)cout;
    if (kbits) { /* k-means: the weights hold at most 2^b distinct values */
        int k = 1 << kbits, m = codebook(w, n, side, k);
        if (m < 0)
            return nn_err("%s: more than %d distinct weights: not a %d-bit k-means layer",
                          g->nodes[node].name, k, kbits);
        for (int j = m; j < k; j++) side[j] = side[m - 1]; /* unused entries repeat the last */
        for (size_t i = 0; i < n; i++) {
            int lo = 0, hi = m - 1;
            while (lo < hi) {
                int mid = (lo + hi) / 2;
                if (side[mid] < w[i]) lo = mid + 1;
                else hi = mid;
            }
            tmp[i] = (uint32_t)lo;
        }
        nn_pack_codes(tmp, n, kbits, pk);
        return kbits;
    }
    int b = q->w_bits;
    if (b == 1) { /* sign bits (1 = negative) and mean|w| per tensor or channel */
        int groups = q->per_channel ? cout : 1;
        for (int c = 0; c < groups; c++) {
            double m = 0;
            size_t lo = q->per_channel ? (size_t)c * per : 0, cnt = q->per_channel ? per : n;
            for (size_t i = lo; i < lo + cnt; i++) m += fabsf(w[i]);
            side[c] = (float)(m / (double)(cnt ? cnt : 1));
        }
        for (size_t i = 0; i < n; i++) tmp[i] = w[i] < 0;
        nn_pack_codes(tmp, n, 1, pk);
        return 1;
    }
    /* linear: the integer the fake quantizer rounds to, two's complement in b bits */
    for (int c = 0; c < (q->per_channel ? cout : 1); c++) {
        float t = q->per_channel ? q->w_thresh_pc[c] : q->w_thresh;
        if (!(t > 0.0f) && nn_absmax(w, n) > 0.0f)
            return nn_err("%s: the weight threshold is not calibrated", g->nodes[node].name);
        float s = nn_fq_step(b, 1, t), inv = s > 0.0f ? 1.0f / s : 0.0f;
        size_t lo = q->per_channel ? (size_t)c * per : 0, cnt = q->per_channel ? per : n;
        for (size_t i = lo; i < lo + cnt; i++) {
            float v = w[i] < -t ? -t : w[i] > t ? t : w[i];
            tmp[i] = (uint32_t)(int32_t)rintf(v * inv);
        }
    }
    nn_pack_codes(tmp, n, b, pk);
    return b;
}

/* Build the entries of g's state dict. packed = 0: the checkpoint (every tensor as PyTorch
 * holds it, the quantizer state added). packed = 1: the inference form — quantized weights as
 * codes plus their threshold / scale / codebook, no BN counters; kbits[l] (may be NULL) marks
 * the l-th quantizable layer as k-means with that many bits. */
static int build(const struct nn_graph *g, int packed, const int *kbits, struct saved *s) {
    memset(s, 0, sizeof *s);
    int n_bn = 0, n_q = 0;
    size_t code_bytes = 0, side_floats = 0, maxw = 1;
    for (int i = 0, l = 0; i < g->n_nodes; i++) {
        n_bn += g->nodes[i].op == NN_OP_BN;
        const struct nn_qattr *q = node_q(g, i);
        if (!q) continue;
        n_q++;
        const struct nn_param *t = &g->params[weight_of(g, i)];
        int kb = packed && kbits ? kbits[l] : 0;
        l++;
        if (t->numel > maxw) maxw = t->numel;
        int b = kb ? kb : packed ? q->w_bits : 0;
        code_bytes += b ? nn_packed_bytes(t->numel, b) : 0;
        side_floats += kb ? (size_t)1 << kb : b == 1 ? (size_t)g->nodes[i].c : 0;
    }
    int total = g->n_params + g->n_bufs + n_bn + 2 * n_q;
    s->e = calloc((size_t)total + 1, sizeof *s->e);
    s->conv = nn_alloc_floats(g->n_param_floats + 1);
    s->counts = calloc((size_t)n_bn + 1, sizeof *s->counts);
    s->names = calloc((size_t)(n_bn + 3 * n_q) + 1, sizeof *s->names);
    s->codes = malloc(code_bytes + 1);
    s->extra_f = malloc((side_floats + 1) * sizeof(float));
    s->wside = calloc((size_t)total + 1, 1);
    uint32_t *tmp = malloc(maxw * sizeof(uint32_t));
    if (!s->e || !s->conv || !s->counts || !s->names || !s->codes || !s->extra_f || !s->wside ||
        !tmp) {
        free(tmp);
        saved_free(s);
        return nn_err("out of memory");
    }
    /* state-dict order: node by node, parameters, then buffers, then the BN counter; names[b]
     * holds the names the engine makes up (counters, thresholds, codes) */
    int k = 0, b = 0, nc = 0, l = 0;
    size_t co = 0, so = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const struct nn_qattr *q = node_q(g, i);
        int kb = q && packed && kbits ? kbits[l] : 0, wbits = kb ? kb : q && packed ? q->w_bits : 0;
        int wp = q ? weight_of(g, i) : -1;
        for (int p = 0; p < g->n_params; p++) {
            const struct nn_param *t = &g->params[p];
            if (t->node != i) continue;
            /* a float layer's range is not part of the state dict PyTorch knows */
            if (t->quant && !q_active(q)) continue;
            if (t->quant && packed && !q->a_bits) continue; /* only a range in use is paid for */
            nn_param_to_torch(g, p, nn_param_data(g, p), s->conv + t->off);
            if (p == wp || t->quant) s->wside[k] = 1;
            if (p == wp && wbits) { /* the weights as codes, and what decodes them */
                size_t nb = nn_packed_bytes(t->numel, wbits);
                if (layer_codes(g, i, q, kb, s->conv + t->off, t->numel, s->codes + co,
                                s->extra_f + so, tmp) < 0) {
                    free(tmp);
                    saved_free(s);
                    return -1;
                }
                snprintf(s->names[b], sizeof s->names[b], "%s.codes", t->name);
                s->e[k++] = (struct nn_st_entry){s->names[b++], NN_U8, 1, {(int64_t)nb},
                                                 s->codes + co, nb};
                co += nb;
                int side = kb ? 1 << kb : wbits == 1 ? (q->per_channel ? g->nodes[i].c : 1) : 0;
                if (side) {
                    s->wside[k] = 1;
                    snprintf(s->names[b], sizeof s->names[b], "%s.%s", t->name,
                             kb ? "codebook" : "scale");
                    s->e[k++] = (struct nn_st_entry){s->names[b++], NN_F32, 1, {side},
                                                     s->extra_f + so, (size_t)side * 4};
                    so += (size_t)side;
                }
                continue;
            }
            s->e[k] = (struct nn_st_entry){t->name, NN_F32, t->ndim, {0}, s->conv + t->off,
                                           t->numel * sizeof(float)};
            for (int d = 0; d < t->ndim; d++) s->e[k].shape[d] = t->shape[d];
            k++;
        }
        for (int q2 = 0; q2 < g->n_bufs; q2++) {
            const struct nn_param *t = &g->bufs[q2];
            if (t->node != i) continue;
            s->e[k] = (struct nn_st_entry){t->name, NN_F32, t->ndim, {0}, nn_buf_data(g, q2),
                                           t->numel * sizeof(float)};
            for (int d = 0; d < t->ndim; d++) s->e[k].shape[d] = t->shape[d];
            k++;
        }
        if (g->nodes[i].op == NN_OP_BN && !packed) {
            s->counts[nc] = g->nodes[i].u.bn.batches;
            snprintf(s->names[b], sizeof s->names[b], "%s.num_batches_tracked", g->nodes[i].name);
            s->e[k++] = (struct nn_st_entry){s->names[b++], NN_I64, 0, {0}, &s->counts[nc++], 8};
        }
        if (q_active(q) && q->w_bits >= 2 && !kb) { /* the calibrated weight threshold(s) */
            s->wside[k] = 1;
            snprintf(s->names[b], sizeof s->names[b], "%s.weight_range", g->nodes[i].name);
            int per = q->per_channel && q->w_thresh_pc;
            s->e[k] = (struct nn_st_entry){s->names[b++], NN_F32, 1, {per ? g->nodes[i].c : 1},
                                           per ? (const void *)q->w_thresh_pc
                                               : (const void *)&q->w_thresh,
                                           (per ? (size_t)g->nodes[i].c : 1) * sizeof(float)};
            k++;
        }
        if (q) l++;
    }
    free(tmp);
    s->k = k;
    return 0;
}

/* Save g (path set) or account for the packed form (path NULL, sz set): the same entries and
 * metadata either way, so the accounting is the file's size. */
static int save(const char *path, const struct nn_graph *g, const struct nn_model_cfg *cfg,
                const char *const *extra, int n_extra, int packed, const int *kbits,
                struct nn_packed_size *sz) {
    struct saved sv;
    if (build(g, packed, kbits, &sv)) return path ? nn_err_ctx("%s: ", path) : -1;
    char width[32], classes[16], input[16], inch[16], drop[32];
    snprintf(width, sizeof width, "%.7g", (double)cfg->width);
    snprintf(classes, sizeof classes, "%d", cfg->classes);
    snprintf(input, sizeof input, "%d", cfg->input);
    snprintf(inch, sizeof inch, "%d", cfg->in_channels > 0 ? cfg->in_channels : 3);
    snprintf(drop, sizeof drop, "%.7g", (double)cfg->dropout);
    const char *base[] = {"format", packed ? "haq-packed" : "haq", "arch", cfg->arch,
                          "width", width, "classes", classes, "input", input,
                          "stem", nn_model_small_stem(cfg) ? "small" : "imagenet",
                          "in_channels", inch, "dropout", drop};
    int nb = (int)(sizeof base / sizeof *base) / 2, quantized = nn_graph_quantized(g);
    const char **meta = malloc((size_t)(nb + n_extra + 1) * 2 * sizeof(char *));
    char *bits = quantized ? bits_string(g) : NULL;
    int rc = -1;
    if (meta && (!quantized || bits)) {
        memcpy(meta, base, sizeof base);
        for (int i = 0; i < 2 * n_extra; i++) meta[2 * nb + i] = extra[i];
        int nm = nb + n_extra;
        if (bits) {
            meta[2 * nm] = "bits";
            meta[2 * nm + 1] = bits;
            nm++;
        }
        if (path) {
            rc = nn_st_write(path, sv.e, sv.k, meta, nm);
        } else {
            memset(sz, 0, sizeof *sz);
            rc = nn_st_header_bytes(sv.e, sv.k, meta, nm, &sz->header_bytes);
            for (int i = 0; i < g->n_nodes; i++)
                if (node_q(g, i)) sz->fp32_weight_bytes += 4 * g->params[weight_of(g, i)].numel;
            /* the tensors of quantizable layers' weights (codes, thresholds, scales, codebooks,
             * float weights, activation ranges) against everything else (BN, biases) */
            for (int j = 0; j < sv.k; j++) {
                if (sv.wside[j]) sz->weight_bytes += sv.e[j].nbytes;
                else sz->other_bytes += sv.e[j].nbytes;
            }
            sz->payload_bytes = sz->weight_bytes + sz->other_bytes;
            sz->file_bytes = sz->header_bytes + sz->payload_bytes;
        }
    } else {
        nn_err("%s: out of memory", path ? path : "packed accounting");
    }
    free(bits);
    free(meta);
    saved_free(&sv);
    return rc;
}

int nn_ckpt_save(const char *path, const struct nn_graph *g, const struct nn_model_cfg *cfg,
                 const char *const *extra, int n_extra) {
    return save(path, g, cfg, extra, n_extra, 0, NULL, NULL);
}

int nn_packed_save(const char *path, const struct nn_graph *g, const struct nn_model_cfg *cfg,
                   const int *kbits, const char *const *extra, int n_extra) {
    return save(path, g, cfg, extra, n_extra, 1, kbits, NULL);
}

int nn_packed_account(const struct nn_graph *g, const struct nn_model_cfg *cfg, const int *kbits,
                      const char *const *extra, int n_extra, struct nn_packed_size *sz) {
    return save(NULL, g, cfg, extra, n_extra, 1, kbits, sz);
}

static int meta_num(const struct nn_st_file *f, const char *path, const char *key, double lo,
                    double hi, double *out) {
    const char *s = nn_st_meta(f, key);
    if (!s) return nn_err("%s: metadata has no '%s'", path, key);
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v >= lo && v <= hi))
        return nn_err("%s: metadata '%s' = '%s' is out of range", path, key, s);
    *out = v;
    return 0;
}

int nn_ckpt_cfg(const struct nn_st_file *f, const char *path, struct nn_model_cfg *cfg) {
    const char *arch = nn_st_meta(f, "arch");
    if (!arch) return nn_err("%s: no architecture in the metadata (not a haq checkpoint?)", path);
    *cfg = nn_model_defaults(NULL);
    for (int i = 0; nn_model_archs[i]; i++)
        if (!strcmp(arch, nn_model_archs[i])) cfg->arch = nn_model_archs[i];
    if (!cfg->arch) return nn_err("%s: unknown architecture '%s' in the metadata", path, arch);
    double w = 0, c = 0, in = 0, ch = 3, d = 0.2;
    if (meta_num(f, path, "width", 0.01, 8, &w) || meta_num(f, path, "classes", 1, 1e6, &c) ||
        meta_num(f, path, "input", 8, 4096, &in))
        return -1;
    if (nn_st_meta(f, "in_channels") && meta_num(f, path, "in_channels", 1, 4, &ch)) return -1;
    if (nn_st_meta(f, "dropout") && meta_num(f, path, "dropout", 0, 0.99, &d)) return -1;
    cfg->width = (float)w;
    cfg->classes = (int)c;
    cfg->input = (int)in;
    cfg->in_channels = (int)ch;
    cfg->dropout = (float)d;
    const char *stem = nn_st_meta(f, "stem");
    cfg->stem = !stem ? NN_STEM_AUTO : !strcmp(stem, "small") ? NN_STEM_SMALL : NN_STEM_IMAGENET;
    return 0;
}

/* The "bits" metadata, "w[c]:a,…" over the conv/linear nodes, into w[], a[], per[] (n_q
 * entries each). A file without it has every layer in float. */
static int parse_bits(const struct nn_st_file *f, const char *path, int n_q, int *w, int *a,
                      int *per) {
    const char *s = nn_st_meta(f, "bits");
    for (int l = 0; l < n_q; l++) w[l] = a[l] = per[l] = 0;
    if (!s) return 0;
    for (int l = 0; l < n_q; l++) {
        char *end;
        long wb = strtol(s, &end, 10);
        per[l] = *end == 'c';
        if (per[l]) end++;
        if (end == s || *end != ':') return nn_err("%s: bad 'bits' metadata near '%.20s'", path, s);
        s = end + 1;
        long ab = strtol(s, &end, 10);
        if (end == s || (*end && *end != ',') || wb < 0 || wb > 8 || ab < 0 || ab > 8 ||
            (!*end && l + 1 < n_q))
            return nn_err("%s: bad 'bits' metadata near '%.20s' (layer %d of %d)", path, s, l + 1,
                          n_q);
        s = *end ? end + 1 : end;
        w[l] = (int)wb;
        a[l] = (int)ab;
    }
    if (*s) return nn_err("%s: 'bits' metadata lists more layers than the network has", path);
    return 0;
}

/* A float32 side tensor of a packed layer with exactly `want` values. */
static const float *side_tensor(const struct nn_st_file *f, const char *path, const char *name,
                                size_t want, float *buf) {
    const struct nn_st_tensor *t = nn_st_find(f, name);
    if (!t || t->dtype != NN_F32 || t->numel != want) {
        nn_err("%s: %s missing or not %zu float32 values", path, name, want);
        return NULL;
    }
    memcpy(buf, t->data, want * sizeof(float));
    for (size_t i = 0; i < want; i++)
        if (!isfinite(buf[i])) {
            nn_err("%s: %s holds a value that is not finite", path, name);
            return NULL;
        }
    return buf;
}

/* Decode the packed weights of a haq-packed file into float views (torch layout) appended to
 * v[*n]; out receives the floats (one buffer, freed by the caller). */
static int packed_views(const struct nn_graph *g, const struct nn_st_file *f, const char *path,
                        struct nn_tensor_view *v, int *n, float **out) {
    int n_q = 0;
    size_t total = 0, maxn = 1;
    for (int i = 0; i < g->n_nodes; i++)
        if (node_q(g, i)) {
            size_t m = g->params[weight_of(g, i)].numel;
            n_q++, total += m, maxn = m > maxn ? m : maxn;
        }
    int *w = calloc((size_t)n_q + 1, 3 * sizeof(int));
    float *buf = nn_alloc_floats(total + 1), *side = malloc((maxn + 256) * sizeof(float));
    uint32_t *codes = malloc(maxn * sizeof(uint32_t));
    int rc = -1;
    char name[NN_NAME_MAX + 48];
    if (!w || !buf || !side || !codes) {
        nn_err("%s: out of memory", path);
        goto done;
    }
    int *a = w + n_q, *per = w + 2 * n_q;
    if (parse_bits(f, path, n_q, w, a, per)) goto done;
    size_t off = 0;
    for (int i = 0, l = 0; i < g->n_nodes; i++) {
        if (!node_q(g, i)) continue;
        const struct nn_param *t = &g->params[weight_of(g, i)];
        int cout = g->nodes[i].c, bits = w[l], pc = per[l];
        l++;
        snprintf(name, sizeof name, "%s.codes", t->name);
        const struct nn_st_tensor *ct = nn_st_find(f, name);
        if (!ct) continue; /* a float layer: its weights are stored as they are */
        snprintf(name, sizeof name, "%s.codebook", t->name);
        const struct nn_st_tensor *cb = nn_st_find(f, name);
        if (cb) { /* k-means: the codebook's size gives the width */
            bits = 0;
            while (bits < 8 && ((size_t)1 << bits) < cb->numel) bits++;
            if (((size_t)1 << bits) != cb->numel || bits < 1) {
                nn_err("%s: %s has %zu entries, not 2^b for b in 1 … 8", path, name, cb->numel);
                goto done;
            }
            if (!side_tensor(f, path, name, cb->numel, side)) goto done;
        } else if (bits < 1) {
            nn_err("%s: %s.codes without a bit width in the 'bits' metadata", path, t->name);
            goto done;
        }
        if (ct->dtype != NN_U8 || ct->nbytes != nn_packed_bytes(t->numel, bits)) {
            nn_err("%s: %s.codes is not %zu bytes of uint8 (%zu values at %d bits)", path,
                   t->name, nn_packed_bytes(t->numel, bits), t->numel, bits);
            goto done;
        }
        nn_unpack_codes(ct->data, t->numel, bits, codes);
        float *dst = buf + off;
        size_t per_ch = t->numel / (size_t)cout;
        if (cb) {
            for (size_t j = 0; j < t->numel; j++) dst[j] = side[codes[j]];
        } else if (bits == 1) {
            snprintf(name, sizeof name, "%s.scale", t->name);
            if (!side_tensor(f, path, name, pc ? (size_t)cout : 1, side)) goto done;
            for (size_t j = 0; j < t->numel; j++) {
                float m = side[pc ? j / per_ch : 0];
                dst[j] = codes[j] ? -m : m;
            }
        } else {
            snprintf(name, sizeof name, "%s.weight_range", g->nodes[i].name);
            if (!side_tensor(f, path, name, pc ? (size_t)cout : 1, side)) goto done;
            uint32_t sign = 1u << (bits - 1);
            for (size_t j = 0; j < t->numel; j++) {
                int32_t q = (int32_t)(codes[j] ^ sign) - (int32_t)sign; /* sign-extend */
                float sc = nn_fq_step(bits, 1, side[pc ? j / per_ch : 0]);
                dst[j] = (float)q * sc;
            }
        }
        struct nn_tensor_view *x = &v[(*n)++];
        x->name = t->name;
        x->dtype = NN_F32;
        x->ndim = t->ndim;
        for (int d = 0; d < t->ndim; d++) x->shape[d] = t->shape[d];
        x->data = dst;
        off += t->numel;
    }
    rc = 0;
done:
    free(w);
    free(side);
    free(codes);
    if (rc) nn_free(buf);
    else *out = buf;
    return rc;
}

/* Restore the per-layer bits of a quantized checkpoint ("bits" metadata) and its weight
 * thresholds (<node>.weight_range). */
static int apply_bits(struct nn_graph *g, const struct nn_st_file *f, const char *path) {
    int n_q = 0;
    for (int i = 0; i < g->n_nodes; i++) n_q += node_q(g, i) != NULL;
    int *w = calloc((size_t)n_q + 1, 3 * sizeof(int));
    if (!w) return nn_err("%s: out of memory", path);
    int *a = w + n_q, *per = w + 2 * n_q, rc = -1;
    if (parse_bits(f, path, n_q, w, a, per)) goto done;
    if (nn_graph_quant_prepare(g)) {
        nn_err_ctx("%s: ", path);
        goto done;
    }
    char name[NN_NAME_MAX + 32];
    for (int i = 0, l = 0; i < g->n_nodes; i++) {
        struct nn_qattr *q = nn_node_q(g, i);
        if (!q) continue;
        q->w_bits = w[l];
        q->a_bits = a[l];
        q->per_channel = per[l];
        q->a_signed = nn_node_input_signed(g, i);
        l++;
        if (q->w_bits < 2) continue;
        snprintf(name, sizeof name, "%s.weight_range", g->nodes[i].name);
        size_t want = q->per_channel ? (size_t)g->nodes[i].c : 1;
        float *dst = q->per_channel ? q->w_thresh_pc : &q->w_thresh;
        if (!side_tensor(f, path, name, want, dst)) goto done;
        for (size_t c = 0; c < want; c++)
            if (dst[c] < 0) {
                nn_err("%s: %s is negative", path, name);
                goto done;
            }
    }
    rc = 0;
done:
    free(w);
    return rc;
}

struct nn_graph *nn_ckpt_load(const char *path, int max_batch, int trainable,
                              struct nn_model_cfg *cfg) {
    struct nn_st_file f;
    if (nn_st_open(path, &f)) return NULL;
    struct nn_graph *g = NULL;
    struct nn_tensor_view *v = NULL;
    float *decoded = NULL;
    if (nn_ckpt_cfg(&f, path, cfg)) goto out;
    g = nn_model_build(cfg);
    if (!g || nn_graph_alloc(g, max_batch, trainable)) {
        nn_err_ctx("%s: ", path);
        goto fail;
    }
    v = calloc((size_t)f.n + (size_t)g->n_nodes + 1, sizeof *v);
    if (!v) {
        nn_err("%s: out of memory", path);
        goto fail;
    }
    for (int i = 0; i < f.n; i++) {
        v[i].name = f.t[i].name;
        v[i].dtype = f.t[i].dtype;
        v[i].ndim = f.t[i].ndim;
        memcpy(v[i].shape, f.t[i].shape, sizeof v[i].shape);
        v[i].data = f.t[i].data;
    }
    int nv = f.n;
    const char *fmt = nn_st_meta(&f, "format");
    if (fmt && !strcmp(fmt, "haq-packed") && packed_views(g, &f, path, v, &nv, &decoded))
        goto fail;
    /* tensors a later stage added (a quantization policy's state, say) are not errors */
    if (nn_state_load(g, v, nv, 1, path)) goto fail;
    if (nn_st_meta(&f, "bits") && apply_bits(g, &f, path)) goto fail;
    goto out;
fail:
    nn_graph_free(g);
    g = NULL;
out:
    free(v);
    nn_free(decoded);
    nn_st_close(&f);
    return g;
}
