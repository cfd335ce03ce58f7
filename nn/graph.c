#include "graph.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "conv.h"
#include "cpu.h"
#include "error.h"
#include "fakeq.h"

/* Every tensor in the parameter, gradient and buffer blocks starts on a 64-byte boundary. */
#define ALIGN_FLOATS 16

static size_t round_up(size_t n) { return (n + ALIGN_FLOATS - 1) & ~(size_t)(ALIGN_FLOATS - 1); }

struct nn_graph *nn_graph_new(int h, int w, int c) {
    if (h < 1 || w < 1 || c < 1) {
        nn_err("graph: invalid input shape %dx%dx%d", h, w, c);
        return NULL;
    }
    struct nn_graph *g = calloc(1, sizeof *g);
    if (!g) {
        nn_err("out of memory (graph)");
        return NULL;
    }
    g->cap_nodes = 64;
    g->nodes = calloc((size_t)g->cap_nodes, sizeof *g->nodes);
    if (!g->nodes) {
        free(g);
        nn_err("out of memory (graph)");
        return NULL;
    }
    struct nn_node *in = &g->nodes[0];
    strcpy(in->name, "input");
    in->op = NN_OP_INPUT;
    in->h = h;
    in->w = w;
    in->c = c;
    g->n_nodes = 1;
    nn_rng_seed(&g->rng, 0);
    return g;
}

void nn_graph_free(struct nn_graph *g) {
    if (!g) return;
    free(g->nodes);
    free(g->params);
    free(g->bufs);
    nn_free(g->param_data);
    nn_free(g->grad_data);
    nn_free(g->buf_data);
    nn_arena_free(&g->act);
    free(g->grad_live);
    free(g->prof);
    nn_free(g->qx);
    nn_free(g->qdx);
    nn_free(g->qparam);
    nn_free(g->qthresh);
    free(g);
}

/* ---- building ------------------------------------------------------------------------------- */

static int fail(struct nn_graph *g) {
    g->failed = 1;
    return -1;
}

/* A new node after checking the inputs; NULL (graph marked failed) on error. */
static struct nn_node *push(struct nn_graph *g, const char *name, enum nn_op op, int a, int b,
                            int n_in) {
    if (g->failed) return NULL;
    if (g->param_data) {
        nn_err("graph: node '%s' added after allocation", name);
        fail(g);
        return NULL;
    }
    int ins[2] = {a, b};
    for (int k = 0; k < n_in; k++)
        if (ins[k] < 0 || ins[k] >= g->n_nodes) {
            nn_err("graph: node '%s' reads node %d of %d", name, ins[k], g->n_nodes);
            fail(g);
            return NULL;
        }
    if (strlen(name) >= NN_NAME_MAX) {
        nn_err("graph: node name '%.40s…' longer than %d bytes", name, NN_NAME_MAX - 1);
        fail(g);
        return NULL;
    }
    if (g->n_nodes == g->cap_nodes) {
        struct nn_node *nn = realloc(g->nodes, 2 * (size_t)g->cap_nodes * sizeof *nn);
        if (!nn) {
            nn_err("out of memory (graph nodes)");
            fail(g);
            return NULL;
        }
        g->nodes = nn;
        g->cap_nodes *= 2;
    }
    struct nn_node *n = &g->nodes[g->n_nodes];
    memset(n, 0, sizeof *n);
    strcpy(n->name, name);
    n->op = op;
    n->in[0] = a;
    n->in[1] = b;
    n->n_in = n_in;
    return n;
}

static int add_tensor_q(struct nn_graph *g, int buffer, int node, const char *suffix, int ndim,
                        const int *shape, int decay, int quant);

static int add_tensor(struct nn_graph *g, int buffer, int node, const char *suffix, int ndim,
                      const int *shape, int decay) {
    return add_tensor_q(g, buffer, node, suffix, ndim, shape, decay, 0);
}

static int add_tensor_q(struct nn_graph *g, int buffer, int node, const char *suffix, int ndim,
                        const int *shape, int decay, int quant) {
    struct nn_param **tab = buffer ? &g->bufs : &g->params;
    int *count = buffer ? &g->n_bufs : &g->n_params, *cap = buffer ? &g->cap_bufs : &g->cap_params;
    size_t *total = buffer ? &g->n_buf_floats : &g->n_param_floats;
    if (*count == *cap) {
        int nc = *cap ? 2 * *cap : 64;
        struct nn_param *t = realloc(*tab, (size_t)nc * sizeof *t);
        if (!t) {
            nn_err("out of memory (parameter table)");
            return fail(g);
        }
        *tab = t;
        *cap = nc;
    }
    struct nn_param *p = &(*tab)[*count];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s.%s", g->nodes[node].name, suffix);
    p->ndim = ndim;
    p->numel = 1;
    for (int i = 0; i < ndim; i++) {
        p->shape[i] = shape[i];
        p->numel *= (size_t)shape[i];
    }
    p->off = *total;
    p->decay = decay;
    p->node = node;
    p->quant = quant;
    *total += round_up(p->numel);
    return (*count)++;
}

int nn_conv(struct nn_graph *g, const char *name, int in, int cout, int kh, int kw, int stride,
            int pad_h, int pad_w, int groups, int bias) {
    struct nn_node *n = push(g, name, NN_OP_CONV, in, 0, 1);
    if (!n) return -1;
    const struct nn_node *x = &g->nodes[in];
    struct nn_conv_shape s;
    if (nn_conv_shape_init(&s, 1, x->h, x->w, x->c, cout, kh, kw, stride, pad_h, pad_w,
                           groups)) {
        nn_err_ctx("%s: ", name);
        return fail(g);
    }
    int idx = g->n_nodes;
    n->h = s.ho;
    n->w = s.wo;
    n->c = cout;
    n->u.conv = (struct nn_conv_attr){kh, kw, stride, pad_h, pad_w, groups, x->c, -1, -1, {0}};
    g->n_nodes++;
    int wshape[4] = {cout, x->c / groups, kh, kw}, one = 1;
    n->u.conv.w = add_tensor(g, 0, idx, "weight", 4, wshape, 1);
    if (bias) n->u.conv.b = add_tensor(g, 0, idx, "bias", 1, &cout, 0);
    /* the release's name; trained with weight decay as there */
    g->nodes[idx].u.conv.q.range = add_tensor_q(g, 0, idx, "activation_range", 1, &one, 1, 1);
    return g->failed ? -1 : idx;
}

int nn_bn(struct nn_graph *g, const char *name, int in, enum nn_act act) {
    struct nn_node *n = push(g, name, NN_OP_BN, in, 0, 1);
    if (!n) return -1;
    const struct nn_node *x = &g->nodes[in];
    int idx = g->n_nodes, c = x->c;
    n->h = x->h;
    n->w = x->w;
    n->c = c;
    n->u.bn.eps = 1e-5f;
    n->u.bn.momentum = 0.1f;
    n->u.bn.act = act;
    g->n_nodes++;
    n->u.bn.gamma = add_tensor(g, 0, idx, "weight", 1, &c, 0);
    n->u.bn.beta = add_tensor(g, 0, idx, "bias", 1, &c, 0);
    n->u.bn.rmean = add_tensor(g, 1, idx, "running_mean", 1, &c, 0);
    n->u.bn.rvar = add_tensor(g, 1, idx, "running_var", 1, &c, 0);
    return g->failed ? -1 : idx;
}

static int same_shape_node(struct nn_graph *g, struct nn_node *n, int in) {
    const struct nn_node *x = &g->nodes[in];
    n->h = x->h;
    n->w = x->w;
    n->c = x->c;
    return g->n_nodes++;
}

int nn_act(struct nn_graph *g, const char *name, int in, enum nn_act act) {
    struct nn_node *n = push(g, name, NN_OP_ACT, in, 0, 1);
    if (!n) return -1;
    n->u.act = act;
    return same_shape_node(g, n, in);
}

int nn_add(struct nn_graph *g, const char *name, int a, int b) {
    struct nn_node *n = push(g, name, NN_OP_ADD, a, b, 2);
    if (!n) return -1;
    const struct nn_node *x = &g->nodes[a], *y = &g->nodes[b];
    if (x->h != y->h || x->w != y->w || x->c != y->c) {
        nn_err("%s: adding %dx%dx%d to %dx%dx%d", name, x->h, x->w, x->c, y->h, y->w, y->c);
        return fail(g);
    }
    return same_shape_node(g, n, a);
}

int nn_maxpool(struct nn_graph *g, const char *name, int in, int k, int s, int p) {
    struct nn_node *n = push(g, name, NN_OP_MAXPOOL, in, 0, 1);
    if (!n) return -1;
    const struct nn_node *x = &g->nodes[in];
    if (k < 1 || s < 1 || p < 0 || 2 * p > k || x->h + 2 * p < k || x->w + 2 * p < k) {
        nn_err("%s: max pool %d/%d pad %d does not fit %dx%d", name, k, s, p, x->h, x->w);
        return fail(g);
    }
    n->h = (x->h + 2 * p - k) / s + 1;
    n->w = (x->w + 2 * p - k) / s + 1;
    n->c = x->c;
    n->u.pool = (struct nn_pool_attr){k, s, p, NULL};
    return g->n_nodes++;
}

int nn_avgpool(struct nn_graph *g, const char *name, int in) {
    struct nn_node *n = push(g, name, NN_OP_AVGPOOL, in, 0, 1);
    if (!n) return -1;
    n->h = n->w = 1;
    n->c = g->nodes[in].c;
    return g->n_nodes++;
}

int nn_linear(struct nn_graph *g, const char *name, int in, int out_f, int bias) {
    struct nn_node *n = push(g, name, NN_OP_LINEAR, in, 0, 1);
    if (!n) return -1;
    const struct nn_node *x = &g->nodes[in];
    if (out_f < 1) {
        nn_err("%s: %d output features", name, out_f);
        return fail(g);
    }
    int idx = g->n_nodes, in_f = x->h * x->w * x->c;
    n->h = n->w = 1;
    n->c = out_f;
    n->u.fc = (struct nn_linear_attr){in_f, -1, -1, {0}};
    g->n_nodes++;
    int wshape[2] = {out_f, in_f}, one = 1;
    n->u.fc.w = add_tensor(g, 0, idx, "weight", 2, wshape, 1);
    if (bias) n->u.fc.b = add_tensor(g, 0, idx, "bias", 1, &out_f, 0);
    g->nodes[idx].u.fc.q.range = add_tensor_q(g, 0, idx, "activation_range", 1, &one, 1, 1);
    return g->failed ? -1 : idx;
}

int nn_dropout(struct nn_graph *g, const char *name, int in, float p) {
    struct nn_node *n = push(g, name, NN_OP_DROPOUT, in, 0, 1);
    if (!n) return -1;
    if (!(p >= 0.0f && p < 1.0f)) {
        nn_err("%s: dropout probability %g outside [0, 1)", name, (double)p);
        return fail(g);
    }
    n->u.drop.p = p;
    return same_shape_node(g, n, in);
}

/* ---- allocation and initialization ---------------------------------------------------------- */

static size_t node_elems(const struct nn_node *n, int batch) {
    return (size_t)batch * n->h * n->w * n->c;
}

static size_t arena_bytes(size_t floats) { return (floats * sizeof(float) + 63) & ~(size_t)63; }

/* Take a free slot for a gradient of `need` floats: the smallest free one that fits, else the
 * largest free one (it grows), else a new one. */
static void take_slot(size_t need, size_t *size, unsigned char *busy, int *slots, int *slot) {
    int best = -1;
    for (int q = 0; q < *slots; q++) {
        if (busy[q]) continue;
        if (best < 0) best = q;
        else if (size[q] >= need && (size[best] < need || size[q] < size[best])) best = q;
        else if (size[best] < need && size[q] > size[best]) best = q;
    }
    if (best < 0) {
        best = (*slots)++;
        size[best] = 0;
    }
    if (size[best] < need) size[best] = need;
    busy[best] = 1;
    *slot = best;
}

/* Gradient buffers are shared: node i's gradient lives during backward from the step of its
 * last consumer (which writes it first) to its own step (which reads it), so buffers whose
 * lives do not overlap take the same memory. Plan the slots in backward order, each slot as
 * large as the largest gradient it holds; returns the floats needed and writes each node's
 * offset into off[] (the input and the last node get slots of their own). */
static size_t plan_gradients(const struct nn_graph *g, int batch, size_t *off) {
    int n = g->n_nodes;
    int *slot_of = malloc((size_t)n * sizeof(int));
    size_t *size = malloc((size_t)(n + 1) * sizeof(size_t));
    unsigned char *busy = calloc((size_t)n + 1, 1);
    size_t total = 0;
    if (!slot_of || !size || !busy) { /* no plan: a buffer each */
        for (int i = 0; i < n; i++) {
            off[i] = total;
            total += (arena_bytes(node_elems(&g->nodes[i], batch)) / sizeof(float));
        }
        free(slot_of);
        free(size);
        free(busy);
        return total;
    }
    int slots = 0;
    for (int i = 0; i < n; i++) slot_of[i] = -1;
    take_slot(node_elems(&g->nodes[n - 1], batch), size, busy, &slots, &slot_of[n - 1]);
    for (int k = n - 1; k > 0; k--) { /* the loss wrote node n−1's gradient before step n−1 */
        const struct nn_node *nd = &g->nodes[k];
        for (int q = 0; q < nd->n_in; q++) {
            int t = nd->in[q];
            if (t > 0 && slot_of[t] < 0)
                take_slot(node_elems(&g->nodes[t], batch), size, busy, &slots, &slot_of[t]);
        }
        if (slot_of[k] >= 0) busy[slot_of[k]] = 0; /* read during step k, dead after */
    }
    size_t *slot_off = malloc(((size_t)slots + 1) * sizeof(size_t));
    if (slot_off) {
        for (int q = 0; q < slots; q++) {
            slot_off[q] = total;
            total += arena_bytes(size[q]) / sizeof(float);
        }
    }
    for (int i = 0; i < n; i++) {
        if (i > 0 && slot_of[i] >= 0 && slot_off) {
            off[i] = slot_off[slot_of[i]];
        } else { /* the input (its gradient is kept for input_grad) or an unreached node */
            off[i] = total;
            total += arena_bytes(node_elems(&g->nodes[i], batch)) / sizeof(float);
        }
    }
    free(slot_off);
    free(slot_of);
    free(size);
    free(busy);
    return total;
}

int nn_graph_alloc(struct nn_graph *g, int max_batch, int trainable) {
    if (g->failed) return nn_err("graph: a builder call failed; cannot allocate");
    if (g->param_data) return nn_err("graph: already allocated");
    if (max_batch < 1) return nn_err("graph: max batch %d", max_batch);
    g->max_batch = max_batch;
    g->trainable = trainable;
    g->param_data = nn_alloc_floats(g->n_param_floats + ALIGN_FLOATS);
    g->buf_data = nn_alloc_floats(g->n_buf_floats + ALIGN_FLOATS);
    if (trainable) g->grad_data = nn_alloc_floats(g->n_param_floats + ALIGN_FLOATS);
    g->grad_live = calloc((size_t)g->n_nodes, 1);
    if (!g->param_data || !g->buf_data || (trainable && !g->grad_data) || !g->grad_live)
        return nn_err("out of memory (%zu parameters)", g->n_param_floats);

    size_t *goff = trainable ? malloc((size_t)g->n_nodes * sizeof(size_t)) : NULL;
    if (trainable && !goff) return nn_err("out of memory (graph plan)");
    size_t grad_floats = trainable ? plan_gradients(g, max_batch, goff) : 0;
    size_t bytes = arena_bytes(grad_floats), scratch = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const struct nn_node *n = &g->nodes[i];
        size_t e = node_elems(n, max_batch);
        bytes += arena_bytes(e);
        if (n->op == NN_OP_BN) bytes += 2 * arena_bytes((size_t)n->c);
        if (n->op == NN_OP_MAXPOOL) bytes += arena_bytes(e);
        if (n->op == NN_OP_DROPOUT && trainable) bytes += arena_bytes(e);
        if (n->op == NN_OP_CONV) {
            const struct nn_node *x = &g->nodes[n->in[0]];
            const struct nn_conv_attr *a = &n->u.conv;
            struct nn_conv_shape s;
            nn_conv_shape_init(&s, max_batch, x->h, x->w, x->c, n->c, a->kh, a->kw, a->stride,
                               a->pad_h, a->pad_w, a->groups);
            size_t need = nn_conv_scratch_floats(&s);
            if (need > scratch) scratch = need;
        }
    }
    bytes += arena_bytes(scratch);
    if (nn_arena_init(&g->act, bytes)) {
        free(goff);
        return nn_err_ctx("activations for batch %d: ", max_batch);
    }
    g->scratch_floats = scratch;
    g->scratch = scratch ? nn_arena_floats(&g->act, scratch) : NULL;
    float *grads = grad_floats ? nn_arena_floats(&g->act, grad_floats) : NULL;
    for (int i = 0; i < g->n_nodes; i++) {
        struct nn_node *n = &g->nodes[i];
        size_t e = node_elems(n, max_batch);
        n->out = nn_arena_floats(&g->act, e);
        if (trainable) n->dout = grads + goff[i];
        if (n->op == NN_OP_BN) {
            n->u.bn.save_mean = nn_arena_floats(&g->act, (size_t)n->c);
            n->u.bn.save_invstd = nn_arena_floats(&g->act, (size_t)n->c);
        }
        if (n->op == NN_OP_MAXPOOL) n->u.pool.arg = (int32_t *)nn_arena_floats(&g->act, e);
        if (n->op == NN_OP_DROPOUT && trainable) n->u.drop.mask = nn_arena_floats(&g->act, e);
    }
    free(goff);
    /* Deterministic defaults until nn_graph_init or a checkpoint sets real values. */
    for (int p = 0; p < g->n_params; p++)
        if (g->params[p].quant) nn_param_data(g, p)[0] = 6.0f; /* HAQ's initial range */
    for (int i = 0; i < g->n_nodes; i++) {
        const struct nn_node *n = &g->nodes[i];
        if (n->op != NN_OP_BN) continue;
        float *gam = nn_param_data(g, n->u.bn.gamma), *rv = nn_buf_data(g, n->u.bn.rvar);
        for (int c = 0; c < n->c; c++) gam[c] = rv[c] = 1.0f;
    }
    return 0;
}

void nn_graph_init(struct nn_graph *g, struct nn_rng *rng) {
    for (int i = 0; i < g->n_nodes; i++) {
        const struct nn_node *n = &g->nodes[i];
        if (n->op == NN_OP_CONV) {
            const struct nn_param *p = &g->params[n->u.conv.w];
            double fan_out = (double)n->c * n->u.conv.kh * n->u.conv.kw / n->u.conv.groups;
            double sd = sqrt(2.0 / fan_out);
            float *w = nn_param_data(g, n->u.conv.w);
            for (size_t k = 0; k < p->numel; k++) w[k] = (float)(sd * nn_rng_normal(rng));
            if (n->u.conv.b >= 0)
                memset(nn_param_data(g, n->u.conv.b), 0, (size_t)n->c * sizeof(float));
        } else if (n->op == NN_OP_LINEAR) {
            const struct nn_param *p = &g->params[n->u.fc.w];
            float *w = nn_param_data(g, n->u.fc.w);
            for (size_t k = 0; k < p->numel; k++) w[k] = (float)(0.01 * nn_rng_normal(rng));
            if (n->u.fc.b >= 0)
                memset(nn_param_data(g, n->u.fc.b), 0, (size_t)n->c * sizeof(float));
        } else if (n->op == NN_OP_BN) {
            float *gam = nn_param_data(g, n->u.bn.gamma), *bet = nn_param_data(g, n->u.bn.beta);
            float *rm = nn_buf_data(g, n->u.bn.rmean), *rv = nn_buf_data(g, n->u.bn.rvar);
            for (int c = 0; c < n->c; c++) {
                gam[c] = 1.0f;
                bet[c] = 0.0f;
                rm[c] = 0.0f;
                rv[c] = 1.0f;
            }
        }
    }
}

void nn_graph_set_train(struct nn_graph *g, int train) { g->train = train; }

void nn_graph_zero_grad(struct nn_graph *g) {
    if (g->grad_data) memset(g->grad_data, 0, g->n_param_floats * sizeof(float));
}

/* ---- forward / backward --------------------------------------------------------------------- */

static void conv_shape_of(const struct nn_graph *g, const struct nn_node *n, int batch,
                          struct nn_conv_shape *s) {
    const struct nn_node *x = &g->nodes[n->in[0]];
    const struct nn_conv_attr *a = &n->u.conv;
    nn_conv_shape_init(s, batch, x->h, x->w, x->c, n->c, a->kh, a->kw, a->stride, a->pad_h,
                       a->pad_w, a->groups);
}

/* ---- fake quantization --------------------------------------------------------------------- */

struct nn_qattr *nn_node_q(struct nn_graph *g, int i) {
    struct nn_node *n = &g->nodes[i];
    return n->op == NN_OP_CONV ? &n->u.conv.q : n->op == NN_OP_LINEAR ? &n->u.fc.q : NULL;
}

int nn_node_input_signed(const struct nn_graph *g, int i) {
    int t = g->nodes[i].in[0];
    for (;;) {
        const struct nn_node *n = &g->nodes[t];
        if (n->op == NN_OP_AVGPOOL || n->op == NN_OP_MAXPOOL || n->op == NN_OP_DROPOUT) {
            t = n->in[0];
            continue;
        }
        if (n->op == NN_OP_ACT) return n->u.act == NN_ACT_NONE;
        if (n->op == NN_OP_BN) return n->u.bn.act == NN_ACT_NONE;
        return 1; /* the image, a residual sum, a raw conv output */
    }
}

int nn_graph_quantized(const struct nn_graph *g) {
    for (int i = 0; i < g->n_nodes; i++) {
        const struct nn_node *n = &g->nodes[i];
        const struct nn_qattr *q = n->op == NN_OP_CONV     ? &n->u.conv.q
                                   : n->op == NN_OP_LINEAR ? &n->u.fc.q
                                                           : NULL;
        if (q && (q->w_bits || q->a_bits)) return 1;
    }
    return 0;
}

int nn_graph_quant_prepare(struct nn_graph *g) {
    if (g->qparam) return 0;
    if (!g->param_data) return nn_err("graph: quantization before nn_graph_alloc");
    size_t in_max = 1, chans = 1;
    for (int i = 0; i < g->n_nodes; i++) {
        if (!nn_node_q(g, i)) continue;
        size_t e = node_elems(&g->nodes[g->nodes[i].in[0]], g->max_batch);
        if (e > in_max) in_max = e;
        chans += (size_t)g->nodes[i].c;
    }
    g->qx = nn_alloc_floats(in_max);
    g->qdx = g->trainable ? nn_alloc_floats(in_max) : NULL;
    g->qparam = nn_alloc_floats(g->n_param_floats + 16);
    g->qthresh = nn_alloc_floats(chans);
    if (!g->qx || (g->trainable && !g->qdx) || !g->qparam || !g->qthresh)
        return nn_err("out of memory (quantization buffers, %zu floats)", in_max);
    size_t at = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        struct nn_qattr *q = nn_node_q(g, i);
        if (!q) continue;
        q->w_thresh_pc = g->qthresh + at;
        at += (size_t)g->nodes[i].c;
    }
    return 0;
}

static int quant_on(const struct nn_graph *g, const struct nn_qattr *q) {
    return !g->quant_off && (q->w_bits || q->a_bits);
}

/* The input a quantized node reads: its producer's output, fake-quantized into qx. */
static const float *quant_input(struct nn_graph *g, const struct nn_qattr *q, const float *x,
                                size_t e) {
    if (!q->a_bits) return x;
    nn_fq_act_forward(g->qx, x, e, q->a_bits, q->a_signed, nn_param_data(g, q->range)[0]);
    return g->qx;
}

/* The weights a quantized node multiplies by: parameter p fake-quantized into qparam (a first
 * use without a calibrated threshold takes max|w|, as the release does). */
static const float *quant_weights(struct nn_graph *g, struct nn_qattr *q, int p, int cout) {
    const float *w = nn_param_data(g, p);
    if (!q->w_bits) return w;
    size_t n = g->params[p].numel;
    float *wq = g->qparam + g->params[p].off;
    if (q->w_bits == 1) {
        nn_fq_binary(wq, w, n, cout, q->per_channel);
    } else if (q->per_channel) {
        for (int c = 0; c < cout; c++)
            if (!(q->w_thresh_pc[c] > 0.0f)) {
                float m = 0.0f;
                for (size_t i = (size_t)c; i < n; i += (size_t)cout) m = fabsf(w[i]) > m ? fabsf(w[i]) : m;
                q->w_thresh_pc[c] = m;
            }
        nn_fq_weights_pc(wq, w, n, cout, q->w_bits, q->w_thresh_pc);
    } else {
        if (!(q->w_thresh > 0.0f)) q->w_thresh = nn_absmax(w, n);
        nn_fq_weights(wq, w, n, q->w_bits, q->w_thresh);
    }
    return wq;
}

/* Dropout drops (and keeps a mask) only when training with p > 0. */
static int dropout_active(const struct nn_graph *g, const struct nn_node *n) {
    return g->train && n->u.drop.mask && n->u.drop.p > 0.0f;
}

static int forward_node(struct nn_graph *g, int i) {
    struct nn_node *n = &g->nodes[i];
    const struct nn_node *x = &g->nodes[n->in[0]];
    int B = g->batch;
    size_t e = node_elems(n, B);
    switch (n->op) {
    case NN_OP_INPUT:
        return 0;
    case NN_OP_CONV: {
        struct nn_conv_shape s;
        conv_shape_of(g, n, B, &s);
        const float *b = n->u.conv.b >= 0 ? nn_param_data(g, n->u.conv.b) : NULL;
        const float *xin = x->out, *w = nn_param_data(g, n->u.conv.w);
        if (quant_on(g, &n->u.conv.q)) {
            xin = quant_input(g, &n->u.conv.q, x->out, node_elems(x, B));
            w = quant_weights(g, &n->u.conv.q, n->u.conv.w, n->c);
        }
        nn_conv_forward(&s, n->out, xin, w, b, g->scratch);
        return 0;
    }
    case NN_OP_BN: {
        struct nn_bn_attr *a = &n->u.bn;
        size_t rows = (size_t)B * n->h * n->w;
        const float *gam = nn_param_data(g, a->gamma), *bet = nn_param_data(g, a->beta);
        float *rm = nn_buf_data(g, a->rmean), *rv = nn_buf_data(g, a->rvar);
        if (g->train) {
            a->batches++;
            return nn_bn_forward_train(n->out, x->out, rows, n->c, gam, bet, rm, rv,
                                       a->momentum, a->eps, a->save_mean, a->save_invstd,
                                       a->act);
        }
        return nn_bn_forward_eval(n->out, x->out, rows, n->c, gam, bet, rm, rv, a->eps,
                                  a->save_mean, a->save_invstd, a->act);
    }
    case NN_OP_ACT:
        nn_act_forward(n->out, x->out, e, n->u.act);
        return 0;
    case NN_OP_ADD:
        nn_add_forward(n->out, x->out, g->nodes[n->in[1]].out, e);
        return 0;
    case NN_OP_MAXPOOL:
        nn_maxpool_forward(n->out, g->trainable ? n->u.pool.arg : NULL, x->out, B, x->h, x->w,
                           x->c, n->u.pool.k,
                           n->u.pool.s, n->u.pool.p, n->h, n->w);
        return 0;
    case NN_OP_AVGPOOL:
        nn_avgpool_forward(n->out, x->out, B, x->h * x->w, x->c);
        return 0;
    case NN_OP_LINEAR: {
        const float *b = n->u.fc.b >= 0 ? nn_param_data(g, n->u.fc.b) : NULL;
        const float *xin = x->out, *w = nn_param_data(g, n->u.fc.w);
        if (quant_on(g, &n->u.fc.q)) {
            xin = quant_input(g, &n->u.fc.q, x->out, node_elems(x, B));
            w = quant_weights(g, &n->u.fc.q, n->u.fc.w, n->c);
        }
        nn_linear_forward(n->out, xin, w, b, B, n->u.fc.in_f, n->c);
        return 0;
    }
    case NN_OP_DROPOUT:
        nn_dropout_forward(n->out, n->u.drop.mask, x->out, e, n->u.drop.p, &g->rng,
                           dropout_active(g, n));
        return 0;
    }
    return nn_err("graph: node %s has unknown op %d", n->name, (int)n->op);
}

int nn_graph_forward(struct nn_graph *g, const float *x, int n) {
    if (!g->param_data) return nn_err("graph: forward before nn_graph_alloc");
    if (n < 1 || n > g->max_batch)
        return nn_err("graph: batch of %d outside 1..%d", n, g->max_batch);
    if (g->train && !g->trainable) return nn_err("graph: train mode on an inference-only graph");
    if (!g->qparam && nn_graph_quantized(g) && nn_graph_quant_prepare(g)) return -1;
    g->batch = n;
    memcpy(g->nodes[0].out, x, node_elems(&g->nodes[0], n) * sizeof(float));
    for (int i = 1; i < g->n_nodes; i++) {
        double t0 = g->prof ? nn_now() : 0;
        if (forward_node(g, i)) return nn_err_ctx("%s: ", g->nodes[i].name);
        if (g->prof) g->prof[2 * i] += nn_now() - t0;
    }
    return 0;
}

double nn_graph_xent(struct nn_graph *g, const int *labels, int *top1, int *top5) {
    struct nn_node *last = &g->nodes[nn_graph_last(g)];
    int classes = last->h * last->w * last->c;
    return nn_softmax_xent(last->out, labels, g->batch, classes, last->dout, 1.0f, top1, top5);
}

/* Input k of node n: its gradient buffer if one is wanted, and whether to add to it. */
static float *grad_target(struct nn_graph *g, const struct nn_node *n, int k, int *accum) {
    int t = n->in[k];
    if (t == 0 && !g->input_grad) return NULL;
    *accum = g->grad_live[t];
    g->grad_live[t] = 1;
    return g->nodes[t].dout;
}

static int backward_node(struct nn_graph *g, int i) {
    struct nn_node *n = &g->nodes[i];
    const struct nn_node *x = &g->nodes[n->in[0]];
    int B = g->batch, accum = 0;
    size_t e = node_elems(n, B);
    switch (n->op) {
    case NN_OP_INPUT:
        return 0;
    case NN_OP_CONV: {
        struct nn_conv_shape s;
        conv_shape_of(g, n, B, &s);
        float *db = n->u.conv.b >= 0 ? nn_param_grad(g, n->u.conv.b) : NULL;
        float *din = grad_target(g, n, 0, &accum);
        const struct nn_qattr *q = &n->u.conv.q;
        if (!quant_on(g, q))
            return nn_conv_backward(&s, din, accum, nn_param_grad(g, n->u.conv.w), db, n->dout,
                                    x->out, nn_param_data(g, n->u.conv.w), g->scratch);
        /* through the fake quantizers: the product's gradients w.r.t. the quantized input and
         * weights, then straight-through to the weights and PACT to the input and range */
        const float *w = q->w_bits ? g->qparam + g->params[n->u.conv.w].off
                                   : nn_param_data(g, n->u.conv.w);
        const float *xin = quant_input(g, q, x->out, node_elems(x, B));
        float *dq = q->a_bits ? g->qdx : din;
        if (nn_conv_backward(&s, dq, q->a_bits ? 0 : accum, nn_param_grad(g, n->u.conv.w), db,
                             n->dout, xin, w, g->scratch))
            return -1;
        if (q->a_bits)
            nn_param_grad(g, q->range)[0] +=
                (float)nn_fq_act_backward(din, accum, g->qdx, x->out, node_elems(x, B),
                                          q->a_signed, nn_param_data(g, q->range)[0]);
        return 0;
    }
    case NN_OP_BN: {
        const struct nn_bn_attr *a = &n->u.bn;
        float *din = grad_target(g, n, 0, &accum);
        return nn_bn_backward(din, accum, nn_param_grad(g, a->gamma), nn_param_grad(g, a->beta),
                              n->dout, x->out, (size_t)B * n->h * n->w, n->c,
                              nn_param_data(g, a->gamma), nn_param_data(g, a->beta),
                              a->save_mean, a->save_invstd, a->act, g->train);
    }
    case NN_OP_ACT: {
        float *din = grad_target(g, n, 0, &accum);
        if (din) nn_act_backward(din, accum, n->dout, n->out, e, n->u.act);
        return 0;
    }
    case NN_OP_ADD:
        for (int k = 0; k < 2; k++) {
            float *din = grad_target(g, n, k, &accum);
            if (din) nn_grad_pass(din, accum, n->dout, e);
        }
        return 0;
    case NN_OP_MAXPOOL: {
        float *din = grad_target(g, n, 0, &accum);
        if (din)
            nn_maxpool_backward(din, accum, n->dout, n->u.pool.arg, B, x->h, x->w, x->c, n->h,
                                n->w);
        return 0;
    }
    case NN_OP_AVGPOOL: {
        float *din = grad_target(g, n, 0, &accum);
        if (din) nn_avgpool_backward(din, accum, n->dout, B, x->h * x->w, x->c);
        return 0;
    }
    case NN_OP_LINEAR: {
        float *db = n->u.fc.b >= 0 ? nn_param_grad(g, n->u.fc.b) : NULL;
        float *din = grad_target(g, n, 0, &accum);
        const struct nn_qattr *q = &n->u.fc.q;
        if (!quant_on(g, q))
            return nn_linear_backward(din, accum, nn_param_grad(g, n->u.fc.w), db, n->dout,
                                      x->out, nn_param_data(g, n->u.fc.w), B, n->u.fc.in_f, n->c);
        const float *w = q->w_bits ? g->qparam + g->params[n->u.fc.w].off
                                   : nn_param_data(g, n->u.fc.w);
        const float *xin = quant_input(g, q, x->out, node_elems(x, B));
        float *dq = q->a_bits ? g->qdx : din;
        if (nn_linear_backward(dq, q->a_bits ? 0 : accum, nn_param_grad(g, n->u.fc.w), db,
                               n->dout, xin, w, B, n->u.fc.in_f, n->c))
            return -1;
        if (q->a_bits)
            nn_param_grad(g, q->range)[0] +=
                (float)nn_fq_act_backward(din, accum, g->qdx, x->out, node_elems(x, B),
                                          q->a_signed, nn_param_data(g, q->range)[0]);
        return 0;
    }
    case NN_OP_DROPOUT: {
        float *din = grad_target(g, n, 0, &accum);
        if (din) nn_dropout_backward(din, accum, n->dout, n->u.drop.mask, e, dropout_active(g, n));
        return 0;
    }
    }
    return nn_err("graph: node %s has unknown op %d", n->name, (int)n->op);
}

int nn_graph_backward(struct nn_graph *g) {
    if (!g->trainable) return nn_err("graph: backward on an inference-only graph");
    memset(g->grad_live, 0, (size_t)g->n_nodes);
    g->grad_live[nn_graph_last(g)] = 1;
    for (int i = nn_graph_last(g); i > 0; i--) {
        if (!g->grad_live[i]) continue; /* no gradient reached this node */
        double t0 = g->prof ? nn_now() : 0;
        if (backward_node(g, i)) return nn_err_ctx("%s (backward): ", g->nodes[i].name);
        if (g->prof) g->prof[2 * i + 1] += nn_now() - t0;
    }
    return 0;
}

/* ---- queries and summary -------------------------------------------------------------------- */

int nn_graph_find_param(const struct nn_graph *g, const char *name) {
    for (int i = 0; i < g->n_params; i++)
        if (!strcmp(g->params[i].name, name)) return i;
    return -1;
}

int nn_graph_find_node(const struct nn_graph *g, const char *name) {
    for (int i = 0; i < g->n_nodes; i++)
        if (!strcmp(g->nodes[i].name, name)) return i;
    return -1;
}

double nn_node_macs(const struct nn_graph *g, int i) {
    const struct nn_node *n = &g->nodes[i];
    if (n->op == NN_OP_CONV) {
        const struct nn_conv_attr *a = &n->u.conv;
        return (double)n->h * n->w * n->c * a->kh * a->kw * (a->cin / a->groups);
    }
    if (n->op == NN_OP_LINEAR) return (double)n->u.fc.in_f * n->c;
    return 0;
}

size_t nn_node_params(const struct nn_graph *g, int i) {
    size_t total = 0;
    for (int p = 0; p < g->n_params; p++)
        if (g->params[p].node == i && !g->params[p].quant) total += g->params[p].numel;
    return total;
}

const char *nn_op_name(enum nn_op op) {
    switch (op) {
    case NN_OP_INPUT: return "input";
    case NN_OP_CONV: return "conv";
    case NN_OP_BN: return "bn";
    case NN_OP_ACT: return "act";
    case NN_OP_ADD: return "add";
    case NN_OP_MAXPOOL: return "maxpool";
    case NN_OP_AVGPOOL: return "avgpool";
    case NN_OP_LINEAR: return "linear";
    case NN_OP_DROPOUT: return "dropout";
    }
    return "?";
}

static const char *act_name(enum nn_act a) {
    return a == NN_ACT_RELU ? "relu" : a == NN_ACT_RELU6 ? "relu6" : "";
}

static void describe(const struct nn_node *n, char *buf, size_t len) {
    switch (n->op) {
    case NN_OP_CONV: {
        const struct nn_conv_attr *a = &n->u.conv;
        const char *kind = (a->groups == a->cin && a->cin == n->c && a->groups > 1) ? "dwconv"
                           : a->groups > 1                                        ? "gconv"
                                                                                  : "conv";
        snprintf(buf, len, "%s %dx%d/%d", kind, a->kh, a->kw, a->stride);
        return;
    }
    case NN_OP_BN:
        snprintf(buf, len, n->u.bn.act ? "bn+%s" : "bn", act_name(n->u.bn.act));
        return;
    case NN_OP_ACT:
        snprintf(buf, len, "%s", act_name(n->u.act));
        return;
    case NN_OP_MAXPOOL:
        snprintf(buf, len, "maxpool %dx%d/%d", n->u.pool.k, n->u.pool.k, n->u.pool.s);
        return;
    case NN_OP_DROPOUT:
        snprintf(buf, len, "dropout %.2g", (double)n->u.drop.p);
        return;
    default:
        snprintf(buf, len, "%s", nn_op_name(n->op));
    }
}

void nn_graph_summary(const struct nn_graph *g, FILE *f) {
    fprintf(f, "%-32s %-16s %-16s %12s %14s\n", "name", "op", "output", "params", "MACs");
    double macs = 0;
    size_t params = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const struct nn_node *n = &g->nodes[i];
        char op[32], shape[32];
        describe(n, op, sizeof op);
        snprintf(shape, sizeof shape, "%dx%dx%d", n->h, n->w, n->c);
        size_t p = nn_node_params(g, i);
        double m = nn_node_macs(g, i);
        params += p;
        macs += m;
        fprintf(f, "%-32s %-16s %-16s %12zu %14.0f\n", n->name, op, shape, p, m);
    }
    size_t buffers = 0;
    for (int b = 0; b < g->n_bufs; b++) buffers += g->bufs[b].numel;
    fprintf(f, "total: %d nodes, %zu parameters, %zu buffer values, %.0f MACs per image\n",
            g->n_nodes, params, buffers, macs);
}

int nn_graph_profile(struct nn_graph *g) {
    free(g->prof);
    g->prof = calloc(2 * (size_t)g->n_nodes, sizeof(double));
    return g->prof ? 0 : nn_err("out of memory (profile)");
}

static const double *prof_sort_base;
static int prof_cmp(const void *a, const void *b) {
    int i = *(const int *)a, j = *(const int *)b;
    double x = prof_sort_base[2 * i] + prof_sort_base[2 * i + 1];
    double y = prof_sort_base[2 * j] + prof_sort_base[2 * j + 1];
    return x < y ? 1 : x > y ? -1 : i - j;
}

void nn_graph_profile_report(struct nn_graph *g, FILE *f) {
    if (!g->prof) return;
    int *idx = malloc((size_t)g->n_nodes * sizeof(int));
    if (!idx) return;
    double total = 0, by_op[16][2] = {{0}};
    for (int i = 0; i < g->n_nodes; i++) {
        idx[i] = i;
        total += g->prof[2 * i] + g->prof[2 * i + 1];
        char kind[32];
        describe(&g->nodes[i], kind, sizeof kind);
        int k = (int)g->nodes[i].op;
        if (g->nodes[i].op == NN_OP_CONV && !strncmp(kind, "dwconv", 6)) k = 15;
        by_op[k][0] += g->prof[2 * i];
        by_op[k][1] += g->prof[2 * i + 1];
    }
    prof_sort_base = g->prof;
    qsort(idx, (size_t)g->n_nodes, sizeof(int), prof_cmp);
    fprintf(f, "%-32s %-16s %10s %10s %6s\n", "node", "op", "fwd_ms", "bwd_ms", "share");
    for (int r = 0; r < g->n_nodes && r < 25; r++) {
        int i = idx[r];
        char op[32];
        describe(&g->nodes[i], op, sizeof op);
        double t = g->prof[2 * i] + g->prof[2 * i + 1];
        fprintf(f, "%-32s %-16s %10.2f %10.2f %5.1f%%\n", g->nodes[i].name, op,
                g->prof[2 * i] * 1e3, g->prof[2 * i + 1] * 1e3, 100 * t / (total > 0 ? total : 1));
    }
    for (int k = 0; k < 16; k++) {
        double t = by_op[k][0] + by_op[k][1];
        if (t <= 0) continue;
        fprintf(f, "op %-10s fwd %9.2f ms  bwd %9.2f ms  %5.1f%%\n",
                k == 15 ? "dwconv" : nn_op_name((enum nn_op)k), by_op[k][0] * 1e3,
                by_op[k][1] * 1e3, 100 * t / (total > 0 ? total : 1));
    }
    free(idx);
    memset(g->prof, 0, 2 * (size_t)g->n_nodes * sizeof(double));
}
