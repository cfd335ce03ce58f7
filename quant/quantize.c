#include "quantize.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kmeans.h"
#include "nn/error.h"
#include "nn/fakeq.h"

struct q_options q_options_default(void) {
    struct q_options o;
    memset(&o, 0, sizeof o);
    o.method = Q_LINEAR;
    o.w_method = o.a_method = Q_THRESH_KL;
    o.release_rule = 1;
    o.act_cap = INFINITY; /* the release caps at 6 (--act-cap 6); see quantize.h */
    o.kmeans_iters = 50;
    o.seed = 1;
    return o;
}

int q_method_parse(const char *s, enum q_method *m) {
    if (!strcmp(s, "linear")) *m = Q_LINEAR;
    else if (!strcmp(s, "kmeans")) *m = Q_KMEANS;
    else return nn_err("method '%s': expected linear or kmeans", s);
    return 0;
}

void q_clear(struct nn_graph *g) {
    for (int i = 0; i < g->n_nodes; i++) {
        struct nn_qattr *q = nn_node_q(g, i);
        if (!q) continue;
        q->w_bits = q->a_bits = 0;
        q->w_thresh = 0.0f;
    }
}

/* The output-channel count of a layer's weights (the fastest axis of the engine's layout). */
static int out_channels(const struct nn_graph *g, int node) { return g->nodes[node].c; }

static int weight_param(const struct nn_graph *g, int node) {
    const struct nn_node *n = &g->nodes[node];
    return n->op == NN_OP_CONV ? n->u.conv.w : n->u.fc.w;
}

static int apply_kmeans(struct nn_graph *g, const struct q_policy *p, const struct q_options *o,
                        const int *nodes, struct q_kmeans_state *km) {
    struct nn_rng rng;
    nn_rng_seed(&rng, o->seed);
    if (km) {
        memset(km, 0, sizeof *km);
        km->param = calloc((size_t)p->n, sizeof(int));
        km->k = calloc((size_t)p->n, sizeof(int));
        km->labels = calloc((size_t)p->n, sizeof(uint8_t *));
        km->centroids = calloc((size_t)p->n, sizeof(float *));
        if (!km->param || !km->k || !km->labels || !km->centroids) {
            q_kmeans_free(km);
            return nn_err("out of memory (k-means state)");
        }
    }
    for (int l = 0; l < p->n; l++) {
        int bits = p->w_bits[l];
        if (bits == Q_FLOAT || (o->free_high_bit && bits > 6)) continue;
        int wp = weight_param(g, nodes[l]);
        size_t n = g->params[wp].numel;
        int k = 1 << bits;
        uint8_t *labels = malloc(n);
        float *c = malloc((size_t)k * sizeof(float));
        if (!labels || !c) {
            free(labels);
            free(c);
            return nn_err("out of memory (k-means of %s)", g->nodes[nodes[l]].name);
        }
        float *w = nn_param_data(g, wp);
        if (q_kmeans(w, n, k, o->kmeans_iters, &rng, c, labels, NULL)) {
            free(labels);
            free(c);
            return nn_err_ctx("%s: ", g->nodes[nodes[l]].name);
        }
        for (size_t i = 0; i < n; i++) w[i] = c[labels[i]];
        if (km) {
            km->param[km->n] = wp;
            km->k[km->n] = k;
            km->labels[km->n] = labels;
            km->centroids[km->n] = c;
            km->n++;
        } else {
            free(labels);
            free(c);
        }
    }
    return 0;
}

int q_apply(struct nn_graph *g, const struct q_policy *p, const struct q_options *o,
            struct q_kmeans_state *km) {
    if (q_policy_check(p, g)) return -1;
    int *nodes = malloc((size_t)p->n * sizeof(int));
    if (!nodes) return nn_err("out of memory");
    q_layers(g, nodes);
    q_clear(g);
    int rc = 0;
    if (o->method == Q_KMEANS) {
        rc = apply_kmeans(g, p, o, nodes, km);
    } else {
        if (nn_graph_quant_prepare(g)) {
            free(nodes);
            return -1;
        }
        for (int l = 0; l < p->n; l++) {
            struct nn_qattr *q = nn_node_q(g, nodes[l]);
            q->w_bits = p->w_bits[l];
            q->a_bits = p->a_bits[l];
            if (g->nodes[nodes[l]].in[0] == 0 && !o->quantize_first_input) q->a_bits = 0;
            q->a_signed = nn_node_input_signed(g, nodes[l]);
            q->per_channel = o->per_channel && q->w_bits >= 2;
            q->w_thresh = 0.0f; /* max|w| until calibrated */
            for (int c = 0; c < g->nodes[nodes[l]].c; c++) q->w_thresh_pc[c] = 0.0f;
        }
    }
    free(nodes);
    return rc;
}

/* The threshold rule for one tensor at `bits` bits. */
static int thresh(const float *x, size_t n, int bits, enum q_thresh_method m,
                  const struct q_options *o, float *t) {
    if (o->release_rule && bits >= 5) m = Q_THRESH_MAX;
    return q_threshold(x, n, bits, m, o->pct, t);
}

int q_calibrate(struct nn_graph *g, struct nn_batches *b, int n_batches,
                const struct q_options *o) {
    /* weights: thresholds from the weights themselves */
    float *col = NULL;
    for (int i = 0; i < g->n_nodes; i++) {
        struct nn_qattr *q = nn_node_q(g, i);
        if (!q || q->w_bits < 2) continue;
        int wp = weight_param(g, i), cout = out_channels(g, i);
        const float *w = nn_param_data(g, wp);
        size_t n = g->params[wp].numel;
        if (!q->per_channel) {
            if (thresh(w, n, q->w_bits, o->w_method, o, &q->w_thresh)) return -1;
            continue;
        }
        size_t per = n / (size_t)cout;
        float *ncol = realloc(col, (per ? per : 1) * sizeof(float));
        if (!ncol) {
            free(col);
            return nn_err("out of memory (calibration)");
        }
        col = ncol;
        for (int c = 0; c < cout; c++) {
            for (size_t k = 0; k < per; k++) col[k] = w[k * (size_t)cout + c];
            if (thresh(col, per, q->w_bits, o->w_method, o, &q->w_thresh_pc[c])) {
                free(col);
                return -1;
            }
        }
    }
    free(col);
    /* activations: ranges from the inputs each layer sees in float */
    int any = 0;
    for (int i = 0; i < g->n_nodes && !any; i++) {
        struct nn_qattr *q = nn_node_q(g, i);
        any = q && q->a_bits;
    }
    if (!any) return 0;
    if (!b) return nn_err("calibration: the policy quantizes activations and no data was given");
    double *sum = calloc((size_t)g->n_nodes, sizeof(double));
    if (!sum) return nn_err("out of memory (calibration)");
    int was_train = g->train, seen = 0, rc = 0;
    nn_graph_set_train(g, 0);
    g->quant_off = 1;
    if ((rc = b->start(b->ctx, 0)) == 0)
        for (;;) {
            const float *x;
            const int *y;
            int nb;
            if ((rc = b->next(b->ctx, &x, &y, &nb)) != 0 || nb == 0) break;
            if (nb > g->max_batch) nb = g->max_batch;
            if ((rc = nn_graph_forward(g, x, nb)) != 0) break;
            for (int i = 0; i < g->n_nodes; i++) {
                struct nn_qattr *q = nn_node_q(g, i);
                if (!q || !q->a_bits) continue;
                const struct nn_node *in = &g->nodes[g->nodes[i].in[0]];
                size_t e = (size_t)nb * in->h * in->w * in->c;
                float r = nn_absmax(in->out, e);
                /* a signed quantizer spends one bit on the sign: the release calibrates it with
                 * a_bits − 1 (its _a_bit), for the 5-bit rule and the KL levels alike */
                int kb = q->a_signed ? q->a_bits - 1 : q->a_bits;
                if ((kb < 5 || !o->release_rule) && kb >= 1) {
                    float t;
                    /* mse needs the quantizer's steps: 2^kb − 1 signed (a − 1 bits a side) or
                     * not (a bits from 0) */
                    rc = o->a_method == Q_THRESH_MSE
                             ? q_thresh_mse(in->out, e, (1 << kb) - 1, &t)
                             : q_threshold(in->out, e, kb, o->a_method, o->pct, &t);
                    if (rc) break;
                    r = t < r ? t : r;
                }
                sum[i] += r < o->act_cap ? r : o->act_cap;
            }
            if (rc) break;
            if (++seen == n_batches) break;
        }
    g->quant_off = 0;
    nn_graph_set_train(g, was_train);
    if (!rc && !seen) rc = nn_err("calibration: the data gave no batch");
    for (int i = 0; i < g->n_nodes && !rc; i++) {
        struct nn_qattr *q = nn_node_q(g, i);
        if (!q || !q->a_bits) continue;
        float r = (float)(sum[i] / seen);
        nn_param_data(g, q->range)[0] = r > 0 ? r : 1e-8f;
    }
    free(sum);
    return rc;
}

int q_kmeans_after_step(void *ctx, struct nn_graph *g) {
    struct q_kmeans_state *km = ctx;
    for (int l = 0; l < km->n; l++)
        q_kmeans_project(nn_param_data(g, km->param[l]), g->params[km->param[l]].numel,
                         km->labels[l], km->k[l], km->centroids[l]);
    return 0;
}

void q_kmeans_free(struct q_kmeans_state *km) {
    if (!km) return;
    for (int l = 0; l < km->n; l++) {
        free(km->labels[l]);
        free(km->centroids[l]);
    }
    free(km->param);
    free(km->k);
    free(km->labels);
    free(km->centroids);
    memset(km, 0, sizeof *km);
}
