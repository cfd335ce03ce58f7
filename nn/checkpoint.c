#include "checkpoint.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
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

int nn_ckpt_save(const char *path, const struct nn_graph *g, const struct nn_model_cfg *cfg,
                 const char *const *extra, int n_extra) {
    int n_bn = 0, n_q = 0, quantized = nn_graph_quantized(g);
    for (int i = 0; i < g->n_nodes; i++) {
        n_bn += g->nodes[i].op == NN_OP_BN;
        n_q += node_q(g, i) != NULL;
    }
    int total = g->n_params + g->n_bufs + n_bn + n_q;
    struct nn_st_entry *e = calloc((size_t)total + 1, sizeof *e);
    float *conv = nn_alloc_floats(g->n_param_floats + 1);
    int64_t *counts = calloc((size_t)n_bn + 1, sizeof *counts);
    char (*names)[NN_NAME_MAX + 32] = calloc((size_t)(n_bn + n_q) + 1, sizeof *names);
    if (!e || !conv || !counts || !names) {
        free(e);
        nn_free(conv);
        free(counts);
        free(names);
        return nn_err("%s: out of memory", path);
    }
    /* state-dict order: node by node, parameters, then buffers, then the BN counter; names[b]
     * holds the names the engine makes up (counters, thresholds), counts[nc] the counters */
    int k = 0, b = 0, nc = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const struct nn_qattr *q = node_q(g, i);
        for (int p = 0; p < g->n_params; p++) {
            const struct nn_param *t = &g->params[p];
            if (t->node != i) continue;
            /* a float layer's range is not part of the state dict PyTorch knows */
            if (t->quant && !q_active(q)) continue;
            nn_param_to_torch(g, p, nn_param_data(g, p), conv + t->off);
            e[k] = (struct nn_st_entry){t->name, NN_F32, t->ndim, {0}, conv + t->off,
                                        t->numel * sizeof(float)};
            for (int d = 0; d < t->ndim; d++) e[k].shape[d] = t->shape[d];
            k++;
        }
        for (int q = 0; q < g->n_bufs; q++) {
            const struct nn_param *t = &g->bufs[q];
            if (t->node != i) continue;
            e[k] = (struct nn_st_entry){t->name, NN_F32, t->ndim, {0}, nn_buf_data(g, q),
                                        t->numel * sizeof(float)};
            for (int d = 0; d < t->ndim; d++) e[k].shape[d] = t->shape[d];
            k++;
        }
        if (g->nodes[i].op == NN_OP_BN) {
            counts[nc] = g->nodes[i].u.bn.batches;
            snprintf(names[b], sizeof names[b], "%s.num_batches_tracked", g->nodes[i].name);
            e[k++] = (struct nn_st_entry){names[b], NN_I64, 0, {0}, &counts[nc], 8};
            b++;
            nc++;
        }
        if (q_active(q) && q->w_bits >= 2) { /* the calibrated weight threshold(s) */
            snprintf(names[b], sizeof names[b], "%s.weight_range", g->nodes[i].name);
            int per = q->per_channel && q->w_thresh_pc;
            e[k] = (struct nn_st_entry){names[b], NN_F32, 1, {per ? g->nodes[i].c : 1},
                                        per ? (const void *)q->w_thresh_pc
                                            : (const void *)&q->w_thresh,
                                        (per ? (size_t)g->nodes[i].c : 1) * sizeof(float)};
            k++;
            b++;
        }
    }
    char width[32], classes[16], input[16], inch[16], drop[32];
    snprintf(width, sizeof width, "%.7g", (double)cfg->width);
    snprintf(classes, sizeof classes, "%d", cfg->classes);
    snprintf(input, sizeof input, "%d", cfg->input);
    snprintf(inch, sizeof inch, "%d", cfg->in_channels > 0 ? cfg->in_channels : 3);
    snprintf(drop, sizeof drop, "%.7g", (double)cfg->dropout);
    const char *base[] = {"format", "haq", "arch", cfg->arch, "width", width, "classes", classes,
                          "input", input, "stem", nn_model_small_stem(cfg) ? "small" : "imagenet",
                          "in_channels", inch, "dropout", drop};
    int nb = (int)(sizeof base / sizeof *base) / 2;
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
        rc = nn_st_write(path, e, k, meta, nm);
    } else {
        nn_err("%s: out of memory", path);
    }
    free(bits);
    free(meta);
    free(e);
    nn_free(conv);
    free(counts);
    free(names);
    return rc;
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

/* Restore the per-layer bits of a quantized checkpoint ("bits" metadata) and its weight
 * thresholds (<node>.weight_range). */
static int apply_bits(struct nn_graph *g, const struct nn_st_file *f, const char *path) {
    const char *s = nn_st_meta(f, "bits");
    if (nn_graph_quant_prepare(g)) return nn_err_ctx("%s: ", path);
    char name[NN_NAME_MAX + 32];
    for (int i = 0; i < g->n_nodes; i++) {
        struct nn_qattr *q = nn_node_q(g, i);
        if (!q) continue;
        char *end;
        long w = strtol(s, &end, 10);
        int per = *end == 'c';
        if (per) end++;
        if (end == s || *end != ':') return nn_err("%s: bad 'bits' metadata near '%.20s'", path, s);
        s = end + 1;
        long a = strtol(s, &end, 10);
        if (end == s || (*end && *end != ',') || w < 0 || w > 8 || a < 0 || a > 8)
            return nn_err("%s: bad 'bits' metadata near '%.20s'", path, s);
        s = *end ? end + 1 : end;
        q->w_bits = (int)w;
        q->a_bits = (int)a;
        q->per_channel = per;
        q->a_signed = nn_node_input_signed(g, i);
        if (q->w_bits < 2) continue;
        snprintf(name, sizeof name, "%s.weight_range", g->nodes[i].name);
        const struct nn_st_tensor *t = nn_st_find(f, name);
        size_t want = per ? (size_t)g->nodes[i].c : 1;
        if (!t || t->dtype != NN_F32 || t->numel != want)
            return nn_err("%s: %s missing or not %zu float32 values", path, name, want);
        memcpy(per ? q->w_thresh_pc : &q->w_thresh, t->data, want * sizeof(float));
    }
    if (*s) return nn_err("%s: 'bits' metadata lists more layers than the network has", path);
    return 0;
}

struct nn_graph *nn_ckpt_load(const char *path, int max_batch, int trainable,
                              struct nn_model_cfg *cfg) {
    struct nn_st_file f;
    if (nn_st_open(path, &f)) return NULL;
    struct nn_graph *g = NULL;
    struct nn_tensor_view *v = NULL;
    if (nn_ckpt_cfg(&f, path, cfg)) goto out;
    g = nn_model_build(cfg);
    if (!g || nn_graph_alloc(g, max_batch, trainable)) {
        nn_err_ctx("%s: ", path);
        goto fail;
    }
    v = calloc((size_t)f.n + 1, sizeof *v);
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
    /* tensors a later stage added (a quantization policy's state, say) are not errors */
    if (nn_state_load(g, v, f.n, 1, path)) goto fail;
    if (nn_st_meta(&f, "bits") && apply_bits(g, &f, path)) goto fail;
    goto out;
fail:
    nn_graph_free(g);
    g = NULL;
out:
    free(v);
    nn_st_close(&f);
    return g;
}
