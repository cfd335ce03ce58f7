#include "optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

struct nn_param_set nn_graph_params(const struct nn_graph *g) {
    struct nn_param_set ps = {g->param_data, g->grad_data, g->n_param_floats, g->params,
                              g->n_params};
    return ps;
}

int nn_sgd_init(struct nn_sgd *o, size_t n, float lr, float momentum, float weight_decay,
                int nesterov) {
    memset(o, 0, sizeof *o);
    o->lr = lr;
    o->momentum = momentum;
    o->weight_decay = weight_decay;
    o->nesterov = nesterov;
    o->n = n;
    o->vel = nn_alloc_floats(n ? n : 1);
    return o->vel ? 0 : -1;
}

void nn_sgd_step(struct nn_sgd *o, const struct nn_param_set *ps) {
    const float lr = o->lr, mu = o->momentum;
    for (int k = 0; k < ps->nt; k++) {
        const struct nn_param *p = &ps->t[k];
        float *w = ps->data + p->off, *g = ps->grad + p->off, *v = o->vel + p->off;
        const float wd = (p->decay || o->decay_all) ? o->weight_decay : 0.0f;
        size_t n = p->numel;
        if (mu == 0.0f) {
            for (size_t i = 0; i < n; i++) w[i] -= lr * (g[i] + wd * w[i]);
        } else if (o->nesterov) {
            for (size_t i = 0; i < n; i++) {
                float d = g[i] + wd * w[i];
                v[i] = mu * v[i] + d;
                w[i] -= lr * (d + mu * v[i]);
            }
        } else {
            for (size_t i = 0; i < n; i++) {
                v[i] = mu * v[i] + (g[i] + wd * w[i]);
                w[i] -= lr * v[i];
            }
        }
    }
}

void nn_sgd_free(struct nn_sgd *o) {
    nn_free(o->vel);
    o->vel = NULL;
}

int nn_adam_init(struct nn_adam *o, size_t n, float lr, float beta1, float beta2, float eps,
                 float weight_decay) {
    memset(o, 0, sizeof *o);
    o->lr = lr;
    o->beta1 = beta1;
    o->beta2 = beta2;
    o->eps = eps;
    o->weight_decay = weight_decay;
    o->n = n;
    o->m = nn_alloc_floats(n ? n : 1);
    o->v = nn_alloc_floats(n ? n : 1);
    if (!o->m || !o->v) {
        nn_adam_free(o);
        return -1;
    }
    return 0;
}

void nn_adam_step(struct nn_adam *o, const struct nn_param_set *ps) {
    o->t++;
    const float b1 = o->beta1, b2 = o->beta2;
    const double c1 = 1.0 - pow(b1, (double)o->t), c2 = 1.0 - pow(b2, (double)o->t);
    const float step = (float)(o->lr / c1), root_c2 = (float)sqrt(c2);
    for (int k = 0; k < ps->nt; k++) {
        const struct nn_param *p = &ps->t[k];
        float *w = ps->data + p->off, *g = ps->grad + p->off;
        float *m = o->m + p->off, *v = o->v + p->off;
        const float wd = (p->decay || o->decay_all) ? o->weight_decay : 0.0f;
        for (size_t i = 0; i < p->numel; i++) {
            float d = g[i] + wd * w[i];
            m[i] = b1 * m[i] + (1.0f - b1) * d;
            v[i] = b2 * v[i] + (1.0f - b2) * d * d;
            w[i] -= step * m[i] / (sqrtf(v[i]) / root_c2 + o->eps);
        }
    }
}

void nn_adam_free(struct nn_adam *o) {
    nn_free(o->m);
    nn_free(o->v);
    o->m = o->v = NULL;
}

double nn_sched_lr(const struct nn_sched *s, long it, long per_epoch) {
    if (per_epoch < 1) per_epoch = 1;
    double warm_it = s->warmup * (double)per_epoch;
    if ((double)it < warm_it) return s->lr0 * (double)(it + 1) / warm_it;
    double tau = (double)it / (double)per_epoch - s->warmup, T = s->total - s->warmup;
    switch (s->kind) {
    case NN_SCHED_COSINE:
        if (T <= 0) return s->lr0;
        if (tau > T) tau = T;
        return s->lr_min + (s->lr0 - s->lr_min) * 0.5 * (1.0 + cos(M_PI * tau / T));
    case NN_SCHED_STEP:
        return s->lr0 * pow(s->gamma, floor(tau / (s->step > 0 ? s->step : 1)));
    case NN_SCHED_EXP:
        return s->lr0 * pow(s->gamma, floor(tau));
    case NN_SCHED_CONST:
        break;
    }
    return s->lr0;
}

int nn_sched_parse(struct nn_sched *s, const char *spec) {
    char *end;
    if (!strcmp(spec, "const")) {
        s->kind = NN_SCHED_CONST;
        return 0;
    }
    if (!strcmp(spec, "cosine")) {
        s->kind = NN_SCHED_COSINE;
        return 0;
    }
    if (!strncmp(spec, "step:", 5)) {
        long step = strtol(spec + 5, &end, 10);
        if (end == spec + 5 || *end != ':' || step < 1) goto bad;
        double gamma = strtod(end + 1, &end);
        if (*end || !(gamma > 0)) goto bad;
        s->kind = NN_SCHED_STEP;
        s->step = (int)step;
        s->gamma = gamma;
        return 0;
    }
    if (!strncmp(spec, "exp:", 4)) {
        double gamma = strtod(spec + 4, &end);
        if (end == spec + 4 || *end || !(gamma > 0)) goto bad;
        s->kind = NN_SCHED_EXP;
        s->gamma = gamma;
        return 0;
    }
bad:
    return nn_err("schedule '%s': expected const, cosine, step:N:GAMMA or exp:GAMMA", spec);
}
