/* The HAQ search loop: strategies, episodes, run directory and resume (search.h). */
#include "search.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "data/loader.h"
#include "data/runlog.h"
#include "data/split.h"
#include "hw/model.h"
#include "nn/checkpoint.h"
#include "nn/error.h"
#include "nn/safetensors.h"
#include "rl/tfevents.h"

/* ---- options ------------------------------------------------------------------------------- */

void rl_search_defaults(struct rl_search_opts *o) {
    memset(o, 0, sizeof *o);
    o->env = rl_env_cfg_default(Q_LINEAR);
    o->strategy = RL_DDPG;
    o->episodes = 600;
    o->warmup = 20;
    o->seed = 234;
    o->split_seed = 1;
    o->batch = 64;
    o->loaders = 1;
    o->calib_batches = 1;
    o->ft_epochs = 1;
    o->ft_lr = 1e-3f;
    o->ft_momentum = 0.9f;
    o->ft_wd = 4e-5f;
    o->ft_decay = 0.8f;
    o->q = q_options_default();
    o->q.kmeans_iters = 3;
    o->lr_actor = o->lr_critic = o->tau = o->discount = -1;
    o->sigma0 = o->sigma_decay = o->baseline_alpha = -1;
}

void rl_search_opts_free(struct rl_search_opts *o) {
    free(o->model);
    free(o->data);
    free(o->hw);
    free(o->policy);
    o->model = o->data = o->hw = o->policy = NULL;
}

static const char *const strategy_names[] = {"ddpg",   "random", "uniform",
                                             "greedy", "wall",   "policy"};
static const char *const metric_names[] = {"latency", "energy", "size"};

static int set_str(char **dst, const char *v) {
    char *s = strdup(v);
    if (!s) return nn_err("out of memory");
    free(*dst);
    *dst = s;
    return 1;
}

static int num_d(const char *key, const char *v, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (end == v || *end || errno || !(x >= lo && x <= hi))
        return nn_err("%s: '%s' is not a number in [%g, %g]", key, v, lo, hi);
    *out = x;
    return 1;
}

static int num_f(const char *key, const char *v, double lo, double hi, float *out) {
    double x = 0;
    if (num_d(key, v, lo, hi, &x) < 0) return -1;
    *out = (float)x;
    return 1;
}

static int num_i(const char *key, const char *v, long lo, long hi, int *out) {
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (end == v || *end || errno || x < lo || x > hi)
        return nn_err("%s: '%s' is not an integer in [%ld, %ld]", key, v, lo, hi);
    *out = (int)x;
    return 1;
}

int rl_search_set(struct rl_search_opts *o, const char *k, const char *v) {
    int t = 0;
    if (!strcmp(k, "model")) return set_str(&o->model, v);
    if (!strcmp(k, "data")) return set_str(&o->data, v);
    if (!strcmp(k, "hw")) return set_str(&o->hw, v);
    if (!strcmp(k, "policy")) return set_str(&o->policy, v);
    if (!strcmp(k, "method")) {
        enum q_method m;
        if (q_method_parse(v, &m)) return -1;
        struct rl_env_cfg d = rl_env_cfg_default(m);
        double ratio = o->env.ratio;
        int keep_ratio = o->env.method == m;
        o->env = d;
        if (keep_ratio) o->env.ratio = ratio;
        o->q.method = m;
        return 1;
    }
    if (!strcmp(k, "metric")) {
        enum hw_metric m;
        if (hw_metric_parse(v, &m)) return -1;
        o->env.metric = m;
        return 1;
    }
    if (!strcmp(k, "strategy")) {
        for (int i = 0; i <= RL_POLICY; i++)
            if (!strcmp(v, strategy_names[i])) {
                o->strategy = (enum rl_strategy)i;
                return 1;
            }
        return nn_err("strategy '%s': one of ddpg, random, uniform, greedy, wall, policy", v);
    }
    if (!strcmp(k, "ratio")) return num_d(k, v, 1e-9, 1e9, &o->env.ratio);
    if (!strcmp(k, "min-bit")) return num_i(k, v, 1, 8, &o->env.min_bit);
    if (!strcmp(k, "max-bit")) return num_i(k, v, 1, 8, &o->env.max_bit);
    if (!strcmp(k, "hold")) return num_i(k, v, 0, 1, &o->env.hold);
    if (!strcmp(k, "step-budget")) return num_i(k, v, 0, 1, &o->env.step_budget);
    if (!strcmp(k, "episodes")) return num_i(k, v, 1, 10000000, &o->episodes);
    if (!strcmp(k, "warmup")) return num_i(k, v, 0, 10000000, &o->warmup);
    if (!strcmp(k, "seed")) {
        if (num_i(k, v, 0, 2147483647, &t) < 0) return -1;
        o->seed = (uint64_t)t;
        return 1;
    }
    if (!strcmp(k, "val-size")) return num_i(k, v, 1, 2147483647, &o->val_size);
    if (!strcmp(k, "train-size")) return num_i(k, v, 1, 2147483647, &o->train_size);
    if (!strcmp(k, "split-seed")) return num_i(k, v, 0, 2147483647, &o->split_seed);
    if (!strcmp(k, "batch")) return num_i(k, v, 1, 65536, &o->batch);
    if (!strcmp(k, "loader-threads")) return num_i(k, v, 1, 16, &o->loaders);
    if (!strcmp(k, "calib-batches")) return num_i(k, v, 1, 100000, &o->calib_batches);
    if (!strcmp(k, "ft-epochs")) return num_i(k, v, 0, 100000, &o->ft_epochs);
    if (!strcmp(k, "ft-lr")) return num_f(k, v, 0, 100, &o->ft_lr);
    if (!strcmp(k, "ft-momentum")) return num_f(k, v, 0, 0.9999, &o->ft_momentum);
    if (!strcmp(k, "ft-wd")) return num_f(k, v, 0, 1, &o->ft_wd);
    if (!strcmp(k, "ft-decay")) return num_f(k, v, 0, 10, &o->ft_decay);
    if (!strcmp(k, "reward")) {
        if (strcmp(v, "val") && strcmp(v, "train"))
            return nn_err("reward '%s': val (held-out split, default) or train", v);
        o->reward_train = !strcmp(v, "train");
        return 1;
    }
    if (!strcmp(k, "fill")) return num_i(k, v, 0, 1, &o->fill);
    if (!strcmp(k, "kmeans-iters")) return num_i(k, v, 0, 10000, &o->q.kmeans_iters);
    if (!strcmp(k, "per-channel")) return num_i(k, v, 0, 1, &o->q.per_channel);
    if (!strcmp(k, "w-thresh")) return q_thresh_parse(v, &o->q.w_method, &o->q.pct) ? -1 : 1;
    if (!strcmp(k, "a-thresh")) return q_thresh_parse(v, &o->q.a_method, &o->q.pct) ? -1 : 1;
    if (!strcmp(k, "act-cap")) {
        if (num_f(k, v, 0, 1e30, &o->q.act_cap) < 0) return -1;
        return 1;
    }
    if (!strcmp(k, "hidden")) return num_i(k, v, 1, 65536, &o->hidden);
    if (!strcmp(k, "agent-batch")) return num_i(k, v, 1, 65536, &o->agent_batch);
    if (!strcmp(k, "memory")) return num_i(k, v, 1, 100000000, &o->memory);
    if (!strcmp(k, "lr-actor")) return num_f(k, v, 0, 10, &o->lr_actor);
    if (!strcmp(k, "lr-critic")) return num_f(k, v, 0, 10, &o->lr_critic);
    if (!strcmp(k, "tau")) return num_f(k, v, 0, 1, &o->tau);
    if (!strcmp(k, "discount")) return num_f(k, v, 0, 1, &o->discount);
    if (!strcmp(k, "sigma0")) return num_f(k, v, 0, 100, &o->sigma0);
    if (!strcmp(k, "sigma-decay")) return num_f(k, v, 0, 1, &o->sigma_decay);
    if (!strcmp(k, "baseline-alpha")) return num_f(k, v, 0, 1, &o->baseline_alpha);
    return 0;
}

/* The shortest text that reads back as the same float (config.txt stays readable and exact). */
static const char *ftext(float v, char *buf) {
    for (int p = 6; p <= 9; p++) {
        snprintf(buf, 32, "%.*g", p, (double)v);
        if (strtof(buf, NULL) == v) break;
    }
    return buf;
}

int rl_search_write_opts(const struct rl_search_opts *o, char *buf, size_t cap) {
    char f1[32], f2[32], f3[32], f4[32];
    size_t n = 0;
#define PUT(...)                                                                                   \
    do {                                                                                           \
        int w_ = snprintf(buf + n, n < cap ? cap - n : 0, __VA_ARGS__);                           \
        if (w_ < 0) return nn_err("option text");                                                 \
        n += (size_t)w_;                                                                           \
    } while (0)
    PUT("model = %s\ndata = %s\n", o->model ? o->model : "", o->data ? o->data : "");
    if (o->hw) PUT("hw = %s\n", o->hw);
    if (o->policy) PUT("policy = %s\n", o->policy);
    char ratio[32]; /* the shortest text that reads back as the same double */
    snprintf(ratio, sizeof ratio, "%.15g", o->env.ratio);
    if (strtod(ratio, NULL) != o->env.ratio) snprintf(ratio, sizeof ratio, "%.17g", o->env.ratio);
    PUT("method = %s\nmetric = %s\nratio = %s\n", o->env.method == Q_KMEANS ? "kmeans" : "linear",
        metric_names[o->env.metric], ratio);
    PUT("min-bit = %d\nmax-bit = %d\nhold = %d\n", o->env.min_bit, o->env.max_bit, o->env.hold);
    if (o->env.step_budget) PUT("step-budget = 1\n");
    PUT("strategy = %s\nepisodes = %d\nwarmup = %d\nseed = %llu\n", strategy_names[o->strategy],
        o->episodes, o->warmup, (unsigned long long)o->seed);
    PUT("val-size = %d\ntrain-size = %d\nsplit-seed = %d\n", o->val_size, o->train_size,
        o->split_seed);
    PUT("batch = %d\nloader-threads = %d\ncalib-batches = %d\n", o->batch, o->loaders,
        o->calib_batches);
    PUT("ft-epochs = %d\nft-lr = %s\nft-momentum = %s\nft-wd = %s\nft-decay = %s\n",
        o->ft_epochs, ftext(o->ft_lr, f1), ftext(o->ft_momentum, f2), ftext(o->ft_wd, f3),
        ftext(o->ft_decay, f4));
    PUT("reward = %s\nfill = %d\nkmeans-iters = %d\nper-channel = %d\n",
        o->reward_train ? "train" : "val", o->fill, o->q.kmeans_iters, o->q.per_channel);
    if (o->q.act_cap > 0 && isfinite(o->q.act_cap)) PUT("act-cap = %s\n", ftext(o->q.act_cap, f1));
    if (o->env.method == Q_LINEAR) {
        char b1[48], b2[48];
        PUT("w-thresh = %s\na-thresh = %s\n", q_thresh_name(o->q.w_method, o->q.pct, b1, sizeof b1),
            q_thresh_name(o->q.a_method, o->q.pct, b2, sizeof b2));
    }
    if (o->hidden) PUT("hidden = %d\n", o->hidden);
    if (o->agent_batch) PUT("agent-batch = %d\n", o->agent_batch);
    if (o->memory) PUT("memory = %d\n", o->memory);
    const char *fk[] = {"lr-actor", "lr-critic", "tau", "discount", "sigma0", "sigma-decay",
                        "baseline-alpha"};
    const float fv[] = {o->lr_actor, o->lr_critic, o->tau, o->discount, o->sigma0,
                        o->sigma_decay, o->baseline_alpha};
    for (int i = 0; i < 7; i++)
        if (fv[i] >= 0) PUT("%s = %s\n", fk[i], ftext(fv[i], f1));
#undef PUT
    if (n >= cap) return nn_err("option text too long");
    return 0;
}

/* ---- the search's state ---------------------------------------------------------------------- */

struct snapshot {
    float *params, *bufs;
    int64_t *batches; /* per node (BN counters) */
};

struct search {
    struct rl_search_opts *o;
    const char *dir;
    struct data_source *src;
    struct data_subsets sub;
    struct data_loader *tl, *cl, *vl, *fl;
    struct nn_batches tb, cb, vb, fb; /* train (augmented), calibration, val, train in eval */
    struct nn_graph *g;
    struct nn_model_cfg cfg;
    struct hw_model hw;
    int have_hw;
    struct rl_env env;
    struct rl_ddpg *agent;
    struct q_policy given; /* RL_POLICY */
    struct snapshot snap;
    double fp_top1;
    /* the episode's transitions */
    float *states; /* [steps + 1][state_dim] */
    float *actions;
    int *w, *a, *best_w, *best_a;
    int done, best_episode;
    double best_reward, best_top1;
    struct data_csv log, timing;
    struct rl_tfevents *events;
};

static uint64_t mix(uint64_t a, uint64_t b) {
    uint64_t x = a * 0x9e3779b97f4a7c15ull + b + 0x632be59bd9b4e019ull;
    x ^= x >> 31;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 29;
    return x;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int snapshot_take(struct search *S) {
    struct nn_graph *g = S->g;
    S->snap.params = malloc(g->n_param_floats * sizeof(float) + 1);
    S->snap.bufs = malloc(g->n_buf_floats * sizeof(float) + 1);
    S->snap.batches = calloc((size_t)g->n_nodes, sizeof(int64_t));
    if (!S->snap.params || !S->snap.bufs || !S->snap.batches)
        return nn_err("out of memory (weight snapshot)");
    memcpy(S->snap.params, g->param_data, g->n_param_floats * sizeof(float));
    memcpy(S->snap.bufs, g->buf_data, g->n_buf_floats * sizeof(float));
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i].op == NN_OP_BN) S->snap.batches[i] = g->nodes[i].u.bn.batches;
    return 0;
}

static void snapshot_restore(struct search *S) {
    struct nn_graph *g = S->g;
    memcpy(g->param_data, S->snap.params, g->n_param_floats * sizeof(float));
    memcpy(g->buf_data, S->snap.bufs, g->n_buf_floats * sizeof(float));
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i].op == NN_OP_BN) g->nodes[i].u.bn.batches = S->snap.batches[i];
    q_clear(g);
}

static void search_free(struct search *S) {
    rl_ddpg_free(S->agent);
    rl_env_free(&S->env);
    q_policy_free(&S->given);
    if (S->have_hw) hw_model_free(&S->hw);
    data_loader_free(S->tl);
    data_loader_free(S->cl);
    data_loader_free(S->vl);
    data_loader_free(S->fl);
    data_subsets_free(&S->sub);
    nn_graph_free(S->g);
    data_close(S->src);
    free(S->snap.params);
    free(S->snap.bufs);
    free(S->snap.batches);
    free(S->states);
    free(S->actions);
    free(S->w);
    free(S->a);
    free(S->best_w);
    free(S->best_a);
    data_csv_free(&S->log);
    data_csv_free(&S->timing);
    rl_tfevents_close(S->events);
}

/* One episode's scalars for TensorBoard: reward, accuracy, cost, σ, best reward so far and
 * every layer's bits (tags bits_w/NN, bits_a/NN). */
static int tb_episode(struct search *S, int ep, double reward, double top1, double ratio,
                      double lat, double en, float sigma) {
    struct rl_tfevents *w = S->events;
    int L = S->env.n_layers;
    if (rl_tfevents_scalar(w, "reward", ep, reward) || rl_tfevents_scalar(w, "top1", ep, top1) ||
        rl_tfevents_scalar(w, "cost_ratio", ep, ratio) ||
        rl_tfevents_scalar(w, "latency_ms", ep, lat) ||
        rl_tfevents_scalar(w, "energy_mj", ep, en) ||
        rl_tfevents_scalar(w, "sigma", ep, sigma) ||
        rl_tfevents_scalar(w, "best_reward", ep, S->best_reward))
        return -1;
    for (int l = 0; l < L; l++) {
        char tag[32];
        snprintf(tag, sizeof tag, "bits_w/%02d", l);
        if (rl_tfevents_scalar(w, tag, ep, S->w[l] == Q_FLOAT ? 32 : S->w[l])) return -1;
        if (S->env.cfg.method != Q_LINEAR) continue;
        snprintf(tag, sizeof tag, "bits_a/%02d", l);
        if (rl_tfevents_scalar(w, tag, ep, S->a[l] == Q_FLOAT ? 32 : S->a[l])) return -1;
    }
    return rl_tfevents_flush(w);
}

static char *path_in(const char *dir, const char *name, char *buf, size_t cap) {
    snprintf(buf, cap, "%s/%s", dir, name);
    return buf;
}

/* Open data, model, hardware, environment and agent. */
static int search_open(struct search *S) {
    struct rl_search_opts *o = S->o;
    if (!o->model || !o->data) return nn_err("a search needs --model and --data");
    if (data_open(o->data, &S->src)) return -1;
    size_t n = S->src->count[DATA_TRAIN];
    if (!o->val_size) {
        /* HAQ: 10,000 validation and 20,000 training images from the train split; smaller
         * sets give a fifth to validation and the rest (up to 20,000) to training */
        size_t v = n >= 30000 ? 10000 : n / 5;
        size_t t = n - v < 20000 ? n - v : 20000;
        if (v < 1 || t < 1) return nn_err("%s: %zu training images are too few to split", o->data, n);
        o->val_size = (int)v;
        o->train_size = (int)t;
    }
    if (data_search_split(S->src, (size_t)o->val_size, (size_t)o->train_size,
                          (uint32_t)o->split_seed, &S->sub))
        return -1;
    S->g = nn_ckpt_load(o->model, o->batch, 1, &S->cfg);
    if (!S->g) return -1;
    if (nn_graph_quantized(S->g))
        return nn_err("%s is already quantized: the search starts from the float checkpoint",
                      o->model);
    if (S->cfg.classes < S->src->classes)
        return nn_err("%s has %d classes, %s has %d", o->model, S->cfg.classes, o->data,
                      S->src->classes);
    if (S->src->c != (S->cfg.in_channels > 0 ? S->cfg.in_channels : 3))
        return nn_err("%s takes %d-channel images, %s has %d", o->model,
                      S->cfg.in_channels > 0 ? S->cfg.in_channels : 3, o->data, S->src->c);
    if (o->env.metric != HW_METRIC_SIZE && !o->hw)
        return nn_err("a %s budget needs --hw", metric_names[o->env.metric]);
    if (o->hw) {
        if (hw_model_load(&S->hw, o->hw)) return -1;
        S->have_hw = 1;
    }
    if (rl_env_init(&S->env, S->g, S->have_hw ? &S->hw : NULL, &o->env)) return -1;
    uint64_t seed = o->seed;
    int in = S->cfg.input;
    if (data_batches_open(S->src, DATA_TRAIN, o->batch, in, 1, seed, o->loaders, S->sub.train,
                          S->sub.n_train, &S->tl, &S->tb) ||
        data_batches_open(S->src, DATA_TRAIN, o->batch, in, 0, seed, o->loaders, S->sub.train,
                          S->sub.n_train, &S->cl, &S->cb) ||
        data_batches_open(S->src, DATA_TRAIN, o->batch, in, 0, seed, o->loaders, S->sub.val,
                          S->sub.n_val, &S->vl, &S->vb))
        return -1;
    if (o->reward_train &&
        data_batches_open(S->src, DATA_TRAIN, o->batch, in, 0, seed, o->loaders, S->sub.train,
                          S->sub.n_train, &S->fl, &S->fb))
        return -1;
    if (o->strategy == RL_POLICY) {
        if (!o->policy) return nn_err("--strategy policy needs --policy");
        if (q_policy_from_arg(&S->given, o->policy, S->g)) return -1;
        if (S->given.n != S->env.n_layers)
            return nn_err("%s: %d layers, the network has %d", o->policy, S->given.n,
                          S->env.n_layers);
        for (int l = 0; l < S->env.n_layers; l++)
            if (!rl_env_covers(&S->env, l, S->given.w_bits[l],
                               o->env.method == Q_LINEAR ? S->given.a_bits[l] : Q_FLOAT))
                return nn_err("%s: layer %d at W%d A%d is outside what the search costs (weights "
                              "1..8 bits%s)",
                              o->policy, l, S->given.w_bits[l], S->given.a_bits[l],
                              o->env.method == Q_LINEAR ? ", activations 1..8 or -1" : "");
    }
    if (snapshot_take(S)) return -1;
    int L = S->env.n_layers, steps = S->env.steps, dim = S->env.state_dim;
    S->states = calloc((size_t)(steps + 1) * (size_t)dim, sizeof(float));
    S->actions = calloc((size_t)steps, sizeof(float));
    S->w = calloc((size_t)L, sizeof(int));
    S->a = calloc((size_t)L, sizeof(int));
    S->best_w = calloc((size_t)L, sizeof(int));
    S->best_a = calloc((size_t)L, sizeof(int));
    if (!S->states || !S->actions || !S->w || !S->a || !S->best_w || !S->best_a)
        return nn_err("out of memory");
    if (o->strategy == RL_DDPG) {
        struct rl_ddpg_cfg c = rl_ddpg_cfg_default(dim, steps);
        c.warmup = o->warmup;
        c.seed = o->seed;
        if (o->hidden) c.hidden1 = c.hidden2 = o->hidden;
        if (o->agent_batch) c.batch = o->agent_batch;
        if (o->memory) c.memory = o->memory;
        if (o->lr_actor >= 0) c.lr_actor = o->lr_actor;
        if (o->lr_critic >= 0) c.lr_critic = o->lr_critic;
        if (o->tau >= 0) c.tau = o->tau;
        if (o->discount >= 0) c.discount = o->discount;
        if (o->sigma0 >= 0) c.sigma0 = o->sigma0;
        if (o->sigma_decay >= 0) c.sigma_decay = o->sigma_decay;
        if (o->baseline_alpha >= 0) c.baseline_alpha = o->baseline_alpha;
        S->agent = rl_ddpg_create(&c);
        if (!S->agent) return -1;
    }
    return 0;
}

/* Accuracy of the network as it is now on the validation split (and on the train split, in
 * eval mode, for the release's reward). */
static int fp_accuracy(struct search *S) {
    struct nn_epoch_stats st;
    snapshot_restore(S);
    if (nn_evaluate(S->g, S->o->reward_train ? &S->fb : &S->vb, "float eval", &st)) return -1;
    S->fp_top1 = st.top1;
    return 0;
}

struct episode_out {
    double top1, train_top1, t_finetune, t_eval;
};

/* Restore, quantize with (w, a), calibrate, fine-tune, evaluate. */
static int run_episode(struct search *S, int ep, const int *w, const int *a,
                       struct episode_out *r) {
    struct rl_search_opts *o = S->o;
    struct nn_graph *g = S->g;
    struct q_policy p = {0};
    struct q_kmeans_state km = {0};
    struct nn_sgd sgd = {0};
    int rc = -1;
    double t0 = now();
    snapshot_restore(S);
    nn_rng_seed(&g->rng, mix(o->seed, (uint64_t)ep + 1));
    struct q_options q = o->q;
    q.method = o->env.method;
    q.seed = mix(o->seed ^ 0x6b6d65616e73ull, (uint64_t)ep);
    if (rl_env_policy(&S->env, w, a, &p)) goto out;
    if (q_apply(g, &p, &q, q.method == Q_KMEANS ? &km : NULL)) goto out;
    if (q.method == Q_LINEAR && q_calibrate(g, &S->cb, o->calib_batches, &q)) goto out;
    struct nn_param_set ps = nn_graph_params(g);
    if (nn_sgd_init(&sgd, ps.n, o->ft_lr, o->ft_momentum, o->ft_wd, 0)) goto out;
    struct nn_train_hooks hooks = {&km, NULL, q_kmeans_after_step};
    struct nn_epoch_stats ts = {0}, vs;
    r->train_top1 = NAN;
    for (int e = 0; e < o->ft_epochs; e++) {
        sgd.lr = o->ft_lr * powf(o->ft_decay, (float)e);
        if (nn_train_epoch(g, &sgd, &ps, &S->tb, ep * o->ft_epochs + e, NULL,
                           q.method == Q_KMEANS ? &hooks : NULL, "", &ts))
            goto out;
        r->train_top1 = ts.top1;
    }
    double t1 = now();
    if (nn_evaluate(g, &S->vb, "", &vs)) goto out;
    r->top1 = vs.top1;
    r->t_finetune = t1 - t0;
    r->t_eval = now() - t1;
    rc = 0;
out:
    nn_sgd_free(&sgd);
    q_kmeans_free(&km);
    q_policy_free(&p);
    return rc;
}

/* From 8/8, repeatedly lower by one the weight or activation bits whose step saves the most
 * cost (ties: the later layer, weights before activations) until the budget holds. */
static void greedy(const struct rl_env *e, int *w, int *a) {
    int L = e->n_layers, lo = e->cfg.min_bit, lin = e->cfg.method == Q_LINEAR;
    for (int l = 0; l < L; l++) {
        w[l] = 8;
        a[l] = lin ? 8 : Q_FLOAT;
    }
    rl_env_hold(e, w, a);
    double cost = rl_env_cost(e, w, a);
    while (cost > e->target) {
        int bl = -1, bk = 0;
        double best = -INFINITY;
        for (int l = L - 1; l >= 0; l--) {
            if (e->cfg.hold && (l == 0 || l == L - 1)) continue;
            for (int k = 0; k < (lin ? 2 : 1); k++) {
                int *b = k ? &a[l] : &w[l];
                if (*b <= lo) continue;
                (*b)--;
                double save = cost - rl_env_cost(e, w, a);
                (*b)++;
                if (save > best) {
                    best = save;
                    bl = l;
                    bk = k;
                }
            }
        }
        if (bl < 0) break;
        if (bk)
            a[bl]--;
        else
            w[bl]--;
        cost = rl_env_cost(e, w, a);
    }
}

static void bits_list(char *buf, size_t cap, const int *b, int n, int weights) {
    size_t len = 0;
    buf[0] = 0;
    for (int l = 0; l < n && len + 4 < cap; l++) {
        int v = b[l] == Q_FLOAT ? (weights ? 32 : -1) : b[l];
        len += (size_t)snprintf(buf + len, cap - len, "%s%d", l ? " " : "", v);
    }
}

/* Write layers.csv and best.policy / best.haq for the best policy. */
static int write_best(struct search *S) {
    const struct rl_env *e = &S->env;
    size_t cap = 256 * (size_t)e->n_layers + 256, len = 0;
    char *buf = malloc(cap), path[4096];
    if (!buf) return nn_err("out of memory");
    len += (size_t)snprintf(buf, cap, "layer,name,type,c_in,c_out,kernel,stride,macs,weights,"
                                      "w_bits,a_bits,latency_ms,energy_mj,latency_ms_8,"
                                      "energy_mj_8\n");
    int *w8 = malloc((size_t)e->n_layers * sizeof(int)); /* uniform 8/8, the hold rule */
    int *a8 = malloc((size_t)e->n_layers * sizeof(int));
    if (!w8 || !a8) {
        free(w8);
        free(a8);
        free(buf);
        return nn_err("out of memory");
    }
    for (int l = 0; l < e->n_layers; l++) {
        w8[l] = 8;
        a8[l] = e->cfg.method == Q_LINEAR ? 8 : Q_FLOAT;
    }
    rl_env_hold(e, w8, a8);
    for (int l = 0; l < e->n_layers; l++) {
        const struct hw_layer *L = &e->layers[l];
        const struct hw_cost *c = rl_env_layer_cost(e, l, S->best_w[l], S->best_a[l]);
        const struct hw_cost *c8 = rl_env_layer_cost(e, l, w8[l], a8[l]);
        len += (size_t)snprintf(buf + len, cap - len,
                                "%d,%s,%s,%d,%d,%d,%d,%.0f,%.0f,%d,%d,%.9g,%.9g,%.9g,%.9g\n", l,
                                L->name, hw_layer_type_name(L->type), L->cin, L->cout, L->kh,
                                L->type == HW_LAYER_FC ? 0 : L->stride, hw_layer_macs(L),
                                hw_layer_weights(L), S->best_w[l] == Q_FLOAT ? 32 : S->best_w[l],
                                S->best_a[l] == Q_FLOAT ? -1 : S->best_a[l], c->latency_ms,
                                c->energy_mj, c8->latency_ms, c8->energy_mj);
    }
    free(w8);
    free(a8);
    int rc = nn_write_file_atomic(path_in(S->dir, "layers.csv", path, sizeof path), buf, len);
    free(buf);
    if (rc) return -1;
    struct q_policy p = {0};
    if (rl_env_policy(e, S->best_w, S->best_a, &p)) return -1;
    rc = q_policy_save(&p, S->g, path_in(S->dir, "best.policy", path, sizeof path));
    if (!rc) {
        char *list = NULL;
        size_t n = 0;
        FILE *f = open_memstream(&list, &n);
        if (!f) {
            rc = nn_err("out of memory");
        } else {
            q_policy_write_list(&p, f);
            fclose(f);
            rc = nn_write_file_atomic(path_in(S->dir, "best.haq", path, sizeof path), list, n);
            free(list);
        }
    }
    q_policy_free(&p);
    return rc;
}

/* search.state: the commit point of an episode. */
static int write_state(struct search *S) {
    int L = S->env.n_layers;
    size_t cap = 8 * (size_t)L + 512, len = 0;
    char *buf = malloc(cap), path[4096];
    if (!buf) return nn_err("out of memory");
    len += (size_t)snprintf(buf, cap, "# haq search state\nepisodes_done = %d\nbest_episode = %d\n"
                                      "best_reward = %a\nbest_top1 = %a\nagent = ",
                            S->done, S->best_episode, S->best_reward, S->best_top1);
    if (S->agent)
        len += (size_t)snprintf(buf + len, cap - len, "agent.%d.state\n", S->done);
    else
        len += (size_t)snprintf(buf + len, cap - len, "none\n");
    len += (size_t)snprintf(buf + len, cap - len, "best_w =");
    for (int l = 0; l < L; l++) len += (size_t)snprintf(buf + len, cap - len, " %d", S->best_w[l]);
    len += (size_t)snprintf(buf + len, cap - len, "\nbest_a =");
    for (int l = 0; l < L; l++) len += (size_t)snprintf(buf + len, cap - len, " %d", S->best_a[l]);
    len += (size_t)snprintf(buf + len, cap - len, "\n");
    int rc = nn_write_file_atomic(path_in(S->dir, "search.state", path, sizeof path), buf, len);
    free(buf);
    return rc;
}

/* Read `key = value` lines; calls fn for each. Errors name the file and line (blank lines
 * count; a NUL byte is an error, it would hide the rest of the file). */
static int read_kv(const char *path, int (*fn)(void *, const char *, const char *, int),
                   void *ctx) {
    uint8_t *data;
    size_t len;
    if (nn_read_file(path, &data, &len, 1u << 24)) return -1;
    char *text = realloc(data, len + 1);
    if (!text) {
        free(data);
        return nn_err("out of memory");
    }
    text[len] = 0;
    if (strlen(text) != len) {
        int line = 1;
        for (const char *p = text; *p; p++) line += *p == '\n';
        free(text);
        return nn_err("%s:%d: NUL byte in a text file", path, line);
    }
    int rc = 0, line = 0;
    for (char *s = text, *next; s; s = next) {
        line++;
        next = strchr(s, '\n');
        if (next) *next++ = 0;
        while (*s == ' ' || *s == '\t') s++;
        if (!*s || *s == '#') continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            rc = nn_err("%s:%d: expected key = value", path, line);
            break;
        }
        char *ke = eq;
        while (ke > s && (ke[-1] == ' ' || ke[-1] == '\t')) ke--;
        *ke = 0;
        char *v = eq + 1;
        while (*v == ' ' || *v == '\t') v++;
        char *ve = v + strlen(v);
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t' || ve[-1] == '\r')) ve--;
        *ve = 0;
        if (fn(ctx, s, v, line) < 0) {
            rc = -1;
            break;
        }
    }
    free(text);
    return rc;
}

/* The keys every config.txt a search wrote holds: the options written whatever their value
 * and the facts (fill came later; hw, act-cap and the agent's options only when set). One
 * missing means the file was cut short or damaged: the run's own options are not known. */
static const char *const cfg_required[] = {
    "model",       "data",        "method",       "metric",      "ratio",     "min-bit",
    "max-bit",     "hold",        "strategy",     "episodes",    "warmup",    "seed",
    "val-size",    "train-size",  "split-seed",   "batch",       "loader-threads",
    "calib-batches", "ft-epochs", "ft-lr",        "ft-momentum", "ft-wd",     "ft-decay",
    "reward",      "kmeans-iters", "per-channel", "arch",        "width",     "classes",
    "input",       "layers",      "steps",        "state_dim",   "fp_top1",   "cost_8bit",
    "cost_target", "cost_min",    "train_images", "val_images",  NULL};
_Static_assert(sizeof cfg_required / sizeof *cfg_required <= 64, "cfg_ctx.seen");

#define FACTS_MAX 16
struct cfg_ctx {
    struct rl_search_opts *o;
    const char *path;
    uint64_t seen;              /* bit i: cfg_required[i] was read */
    char fact[FACTS_MAX][64];   /* the value of facts[i] as written, "" when absent */
    int fact_line[FACTS_MAX];
};

/* The facts config.txt carries besides the options. */
static const char *const facts[] = {"arch",      "width",       "classes", "input",
                                    "layers",    "steps",       "state_dim", "fp_top1",
                                    "cost_8bit", "cost_target", "cost_min", "train_images",
                                    "val_images", "agent_hidden", "memory_used", NULL};
_Static_assert(sizeof facts / sizeof *facts <= FACTS_MAX + 1, "cfg_ctx.fact");

static int cfg_line(void *ctx, const char *k, const char *v, int line) {
    struct cfg_ctx *c = ctx;
    for (int i = 0; cfg_required[i]; i++)
        if (!strcmp(k, cfg_required[i])) c->seen |= (uint64_t)1 << i;
    int r = rl_search_set(c->o, k, v);
    if (r < 0) return nn_err("%s:%d: %s", c->path, line, nn_errmsg());
    if (r > 0) return 0;
    for (int i = 0; facts[i]; i++)
        if (!strcmp(k, facts[i])) {
            snprintf(c->fact[i], sizeof c->fact[i], "%s", v);
            c->fact_line[i] = line;
            return 0;
        }
    return nn_err("%s:%d: unknown key '%s'", c->path, line, k);
}

/* The keys of search.state; write_state writes every one. */
static const char *const state_keys[] = {"episodes_done", "best_episode", "best_reward",
                                         "best_top1",     "agent",        "best_w",
                                         "best_a",        NULL};

struct state_ctx {
    struct search *S;
    int done, best_episode, nw, na;
    double best_reward, best_top1;
    const char *path;
    unsigned seen;  /* bit i: state_keys[i] was read */
    char agent[64]; /* its agent file's name, or none */
};

static int parse_bits(const char *v, int *out, int n, int lo, int hi, int *got) {
    const char *p = v;
    int k = 0;
    while (*p) {
        while (*p == ' ') p++;
        if (!*p) break;
        char *end;
        long x = strtol(p, &end, 10);
        if (end == p || x < lo || x > hi || k >= n) return -1;
        out[k++] = (int)x;
        p = end;
    }
    *got = k;
    return 0;
}

static int state_line(void *ctx, const char *k, const char *v, int line) {
    struct state_ctx *c = ctx;
    char *end;
    for (int i = 0; state_keys[i]; i++)
        if (!strcmp(k, state_keys[i])) c->seen |= 1u << i;
    if (!strcmp(k, "episodes_done") || !strcmp(k, "best_episode")) {
        long x = strtol(v, &end, 10);
        if (end == v || *end || x < -1 || x > 100000000)
            return nn_err("%s:%d: bad %s '%s'", c->path, line, k, v);
        if (k[0] == 'e')
            c->done = (int)x;
        else
            c->best_episode = (int)x;
    } else if (!strcmp(k, "best_reward") || !strcmp(k, "best_top1")) {
        /* top-1 in percent; the reward is 0.1 × a difference of two */
        double lo = k[5] == 'r' ? -10 : 0, hi = k[5] == 'r' ? 10 : 100;
        errno = 0;
        double x = strtod(v, &end);
        if (end == v || *end || errno == ERANGE || !(x >= lo && x <= hi))
            return nn_err("%s:%d: bad %s '%s' (a number in [%g, %g])", c->path, line, k, v, lo,
                          hi);
        if (k[5] == 'r')
            c->best_reward = x;
        else
            c->best_top1 = x;
    } else if (!strcmp(k, "best_w") || !strcmp(k, "best_a")) {
        int L = c->S->env.n_layers;
        int *dst = k[5] == 'w' ? c->S->best_w : c->S->best_a;
        int *got = k[5] == 'w' ? &c->nw : &c->na;
        if (parse_bits(v, dst, L, 0, 8, got) || *got != L)
            return nn_err("%s:%d: %s must list %d bit-widths", c->path, line, k, L);
    } else if (!strcmp(k, "agent")) {
        snprintf(c->agent, sizeof c->agent, "%s", v);
    } else {
        return nn_err("%s:%d: unknown key '%s'", c->path, line, k);
    }
    return 0;
}

/* No row a search writes comes near this (two bit lists of a few hundred layers). */
#define CSV_ROW_MAX 65536

/* The bytes of a regular file up to and including its `lines`-th newline, or all of it when it
 * has fewer; a line longer than CSV_ROW_MAX is an error, so a huge file is not read whole. */
static int read_lines(const char *path, size_t lines, uint8_t **data, size_t *len) {
    *data = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return nn_err("%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) || !S_ISREG(st.st_mode)) {
        fclose(f);
        return nn_err("%s: not a regular file", path);
    }
    size_t cap = 1 << 14, n = 0, seen = 0, at = 0; /* at: where the current line began */
    uint8_t *buf = malloc(cap);
    int c = 0;
    while (buf && seen < lines && (c = getc(f)) != EOF) {
        if (n - at == CSV_ROW_MAX) {
            free(buf);
            fclose(f);
            return nn_err("%s:%zu: a line longer than %d bytes", path, seen + 1, CSV_ROW_MAX);
        }
        if (n == cap) {
            uint8_t *nb = realloc(buf, cap *= 2);
            if (!nb) free(buf);
            buf = nb;
            if (!buf) break;
        }
        buf[n++] = (uint8_t)c;
        if (c == '\n') seen++, at = n;
    }
    int bad = buf && ferror(f);
    fclose(f);
    if (!buf) return nn_err("%s: out of memory", path);
    if (bad) {
        free(buf);
        return nn_err("%s: read error", path);
    }
    *data = buf;
    *len = n;
    return 0;
}

/* The first `rows` lines after the header of a CSV log (and the header), for a resumed log;
 * *out NULL to start the log afresh: when it is missing and `optional`, or when no row is
 * kept and it lacks even the header line. Otherwise the header must be the one the search
 * writes and data row i must be episode i's, with as many columns: what is kept is what the
 * search wrote, not a damaged file's lines. */
static int csv_prefix(const char *path, const char *header, int rows, int optional,
                      char **out) {
    uint8_t *data;
    size_t len;
    *out = NULL;
    if (optional && access(path, F_OK)) return 0;
    if (read_lines(path, (size_t)rows + 1, &data, &len)) return -1;
    size_t i = 0;
    int lines = 0;
    while (i < len && lines < rows + 1) {
        if (data[i++] == '\n') lines++;
    }
    if (lines < rows + 1) {
        free(data);
        if (rows == 0) return 0;
        return nn_err("%s: %d episode rows expected, the file has %d", path, rows,
                      lines > 0 ? lines - 1 : 0);
    }
    size_t hl = strlen(header);
    if (i < hl || memcmp(data, header, hl)) {
        free(data);
        return nn_err("%s:1: not the header a search writes ('%.*s')", path, (int)hl - 1,
                      header);
    }
    if (memchr(data, 0, i)) {
        free(data);
        return nn_err("%s: NUL byte in the first %d episode rows", path, rows);
    }
    int cols = 0;
    for (size_t k = 0; k < hl; k++) cols += header[k] == ',';
    size_t at = hl;
    for (int r = 0; r < rows; r++) {
        char num[16];
        int n = snprintf(num, sizeof num, "%d,", r);
        if (i - at < (size_t)n || memcmp(data + at, num, (size_t)n)) {
            free(data);
            return nn_err("%s:%d: the row of episode %d expected", path, r + 2, r);
        }
        size_t end = (size_t)((uint8_t *)memchr(data + at, '\n', i - at) - data);
        int c = 0;
        for (size_t k = at; k < end; k++) c += data[k] == ',';
        if (c != cols) {
            free(data);
            return nn_err("%s:%d: %d columns, the header has %d", path, r + 2, c + 1, cols + 1);
        }
        at = end + 1;
    }
    char *s = malloc(i + 1);
    if (!s) {
        free(data);
        return nn_err("out of memory");
    }
    memcpy(s, data, i);
    s[i] = 0;
    free(data);
    *out = s;
    return 0;
}

static const char episodes_header[] =
    "episode,reward,top1,fp_top1,cost_ratio,latency_ms,energy_mj,size_bytes,sigma,best,w_bits,"
    "a_bits\n";
static const char timing_header[] = "episode,t_finetune,t_eval,t_agent,t_hw\n";

/* The facts of the run as config.txt holds them ("key = value" lines). */
static void facts_text(const struct search *S, char *buf, size_t n) {
    const struct rl_env *e = &S->env;
    snprintf(buf, n,
             "arch = %s\nwidth = %g\nclasses = %d\ninput = %d\nlayers = %d\nsteps = %d\n"
             "state_dim = %d\nfp_top1 = %.4f\ncost_8bit = %.9g\ncost_target = %.9g\n"
             "cost_min = %.9g\ntrain_images = %zu\nval_images = %zu\n",
             S->cfg.arch, (double)S->cfg.width, S->cfg.classes, S->cfg.input, e->n_layers,
             e->steps, e->state_dim, S->fp_top1, e->ref_cost, e->target, e->min_cost,
             S->sub.n_train, S->sub.n_val);
}

/* On resume: the model, data and hardware named by config.txt must still give the facts it
 * recorded, or the episodes to come would not continue the same search (a model file replaced
 * under the same name, a data folder with other images). The float top-1 is left out: it is
 * re-measured, and another thread count may move it by an image. */
static int check_facts(const struct search *S, const struct cfg_ctx *c) {
    char now_facts[1024];
    facts_text(S, now_facts, sizeof now_facts);
    for (char *l = now_facts, *nl; *l; l = nl + 1) {
        nl = strchr(l, '\n');
        if (!nl) break;
        *nl = 0;
        char *eq = strstr(l, " = ");
        if (!eq) continue;
        *eq = 0;
        const char *v = eq + 3;
        if (!strcmp(l, "fp_top1")) continue;
        for (int i = 0; facts[i]; i++)
            if (!strcmp(l, facts[i]) && strcmp(c->fact[i], v))
                return nn_err("%s:%d: the run was made with %s = %s; its model, data and "
                              "hardware now give %s",
                              c->path, c->fact_line[i], l, c->fact[i], v);
    }
    return 0;
}

static int write_config(struct search *S) {
    size_t cap = 1 << 16;
    char *buf = malloc(cap), path[4096];
    if (!buf) return nn_err("out of memory");
    int rc = rl_search_write_opts(S->o, buf, cap);
    if (!rc) {
        size_t n = strlen(buf);
        n += (size_t)snprintf(buf + n, cap - n, "# facts of the run (not options)\n");
        facts_text(S, buf + n, cap - n);
        rc = nn_write_file_atomic(path_in(S->dir, "config.txt", path, sizeof path), buf,
                                  strlen(buf));
    }
    free(buf);
    return rc;
}

static void progress(const struct search *S, int ep, double reward, double top1, double ratio,
                     float sigma) {
    const struct rl_env *e = &S->env;
    char wb[512], ab[512];
    bits_list(wb, sizeof wb, S->w, e->n_layers, 1);
    bits_list(ab, sizeof ab, S->a, e->n_layers, 0);
    fprintf(stderr, "episode %d/%d %s%s reward %+.4f top1 %.2f (fp %.2f) cost %.4f", ep + 1,
            S->o->episodes, strategy_names[S->o->strategy],
            S->o->strategy == RL_DDPG && ep <= S->o->warmup ? " warm-up" : "", reward, top1,
            S->fp_top1, ratio);
    if (S->o->strategy == RL_DDPG && ep > S->o->warmup) fprintf(stderr, " sigma %.3f", sigma);
    fprintf(stderr, " best %+.4f @%d | W %s", S->best_reward, S->best_episode + 1, wb);
    if (e->cfg.method == Q_LINEAR) fprintf(stderr, " | A %s", ab);
    fputc('\n', stderr);
}

int rl_search_run(struct rl_search_opts *o, const char *dir, int resume,
                  struct rl_search_result *res) {
    struct search S;
    memset(&S, 0, sizeof S);
    memset(res, 0, sizeof *res);
    S.o = o;
    S.dir = dir;
    char path[4096], cfgpath[4096];
    int rc = -1;
    struct cfg_ctx cfgc;
    memset(&cfgc, 0, sizeof cfgc);
    if (resume) {
        struct cfg_ctx *c = &cfgc;
        c->o = o;
        c->path = path_in(dir, "config.txt", cfgpath, sizeof cfgpath);
        if (access(c->path, R_OK))
            return nn_err("%s: no search to resume (%s)", c->path, strerror(errno));
        int asked = o->episodes; /* --episodes with --resume extends the run */
        if (read_kv(c->path, cfg_line, c)) return -1;
        for (int i = 0; cfg_required[i]; i++)
            if (!(c->seen & (uint64_t)1 << i))
                return nn_err("%s: no '%s' line (cut short or damaged)", c->path,
                              cfg_required[i]);
        if (asked > o->episodes) o->episodes = asked;
    } else {
        if (nn_mkdirs(dir)) return -1;
        if (!access(path_in(dir, "search.state", path, sizeof path), F_OK))
            return nn_err("%s already holds a search: haq search --resume %s continues it", dir,
                          dir);
    }
    if (search_open(&S)) {
        /* the model, data, hardware and budget came from the run's config.txt */
        if (resume) nn_err_ctx("%s: ", path_in(dir, "config.txt", path, sizeof path));
        goto out;
    }
    if (fp_accuracy(&S)) goto out;
    if (resume && check_facts(&S, &cfgc)) goto out;
    S.best_episode = -1;
    S.best_reward = -INFINITY;
    char *prefix = NULL, *tprefix = NULL;
    if (resume) {
        struct state_ctx c = {&S, 0, -1, 0, 0, 0, 0, path_in(dir, "search.state", path,
                                                               sizeof path), 0, ""};
        if (!access(path, F_OK)) {
            /* written after an episode: every key, at least one episode, the best among them */
            if (read_kv(path, state_line, &c)) goto out;
            for (int i = 0; state_keys[i]; i++)
                if (!(c.seen & 1u << i)) {
                    nn_err("%s: no '%s' line (cut short or damaged)", path, state_keys[i]);
                    goto out;
                }
            if (c.done < 1 || c.done > o->episodes || c.best_episode < 0 ||
                c.best_episode >= c.done) {
                nn_err("%s: inconsistent state (episodes_done %d, best_episode %d, %d episodes)",
                       path, c.done, c.best_episode, o->episodes);
                goto out;
            }
            char agent[64] = "none";
            if (S.agent) snprintf(agent, sizeof agent, "agent.%d.state", c.done);
            if (strcmp(c.agent, agent)) {
                nn_err("%s: agent '%s', but after %d episodes it is %s", path, c.agent, c.done,
                       agent);
                goto out;
            }
            S.done = c.done;
            S.best_episode = c.best_episode;
            S.best_top1 = c.best_top1;
            S.best_reward = c.best_reward;
        }
        if (S.agent && S.done > 0) {
            char name[64];
            snprintf(name, sizeof name, "agent.%d.state", S.done);
            /* the agent's options come from config.txt: a difference means one of the two
             * files was changed or damaged, and the message names both */
            struct rl_ddpg *ag = rl_ddpg_load(path_in(dir, name, path, sizeof path), NULL);
            if (!ag) goto out;
            char what[160];
            if (rl_ddpg_cfg_diff(rl_ddpg_config(ag), rl_ddpg_config(S.agent), what,
                                 sizeof what)) {
                char cpath[4096];
                nn_err("%s: the agent options in %s do not match it: %s (one of the two files "
                       "was changed or damaged)",
                       path, path_in(dir, "config.txt", cpath, sizeof cpath), what);
                rl_ddpg_free(ag);
                goto out;
            }
            rl_ddpg_free(S.agent);
            S.agent = ag;
        }
        /* timing.csv (wall-clock times only) may be missing */
        if (csv_prefix(path_in(dir, "episodes.csv", path, sizeof path), episodes_header, S.done,
                       S.done == 0, &prefix) ||
            csv_prefix(path_in(dir, "timing.csv", path, sizeof path), timing_header, S.done, 1,
                       &tprefix)) {
            free(prefix);
            goto out;
        }
        if (!o->quiet)
            fprintf(stderr, "resuming %s after %d of %d episodes\n", dir, S.done, o->episodes);
    }
    int bad = write_config(&S) ||
              data_csv_open(&S.log, path_in(dir, "episodes.csv", path, sizeof path),
                            prefix ? prefix : episodes_header) ||
              data_csv_open(&S.timing, path_in(dir, "timing.csv", path, sizeof path),
                            tprefix ? tprefix : timing_header);
    free(prefix);
    free(tprefix);
    if (bad) goto out;
    S.events = rl_tfevents_open(path_in(dir, "tb", path, sizeof path));
    if (!S.events) goto out;
    if (!o->quiet && (!resume || S.done == 0)) {
        fprintf(stderr,
                "search %s: %d layers, %d steps, budget %s %.4g of %.6g (%s), fp top1 %.2f on "
                "%zu validation images, fine-tune on %zu\n",
                strategy_names[o->strategy], S.env.n_layers, S.env.steps,
                metric_names[o->env.metric], o->env.ratio, S.env.ref_cost,
                o->env.metric == HW_METRIC_SIZE ? "fp32 bytes" : "all 8/8", S.fp_top1,
                S.sub.n_val, S.sub.n_train);
    }
    const struct rl_env *E = &S.env;
    int dim = E->state_dim, L = E->n_layers;
    for (int ep = S.done; ep < o->episodes; ep++) {
        double th0 = now(), t_agent = 0;
        float sigma = S.agent ? rl_ddpg_sigma(S.agent, ep) : 0.0f;
        struct nn_rng rr;
        nn_rng_seed(&rr, mix(o->seed ^ 0x72616e646f6dull, (uint64_t)ep));
        /* the policy */
        if (o->strategy == RL_DDPG || o->strategy == RL_RANDOM) {
            int done = 0;
            const float *s = rl_env_reset(&S.env);
            memcpy(S.states, s, (size_t)dim * sizeof(float));
            for (int t = 0; !done; t++) {
                double ta = now();
                float act = o->strategy == RL_DDPG
                                ? rl_ddpg_act(S.agent, S.states + (size_t)t * (size_t)dim, ep, 1)
                                : nn_rng_uniform(&rr);
                t_agent += now() - ta;
                s = rl_env_step(&S.env, act, &done);
                S.actions[t] = S.env.action; /* as taken (--step-budget bounds it) */
                memcpy(S.states + (size_t)(t + 1) * (size_t)dim, s, (size_t)dim * sizeof(float));
            }
            memcpy(S.w, E->w_bits, (size_t)L * sizeof(int));
            memcpy(S.a, E->a_bits, (size_t)L * sizeof(int));
            rl_env_wall(E, S.w, S.a);
        } else if (o->strategy == RL_UNIFORM) {
            if (rl_env_uniform(E, S.w, S.a) < 0) {
                nn_err("no uniform policy fits the budget");
                goto out;
            }
        } else if (o->strategy == RL_POLICY) {
            memcpy(S.w, S.given.w_bits, (size_t)L * sizeof(int));
            for (int l = 0; l < L; l++)
                S.a[l] = E->cfg.method == Q_LINEAR ? S.given.a_bits[l] : Q_FLOAT;
        } else if (o->strategy == RL_GREEDY) {
            greedy(E, S.w, S.a);
        } else {
            for (int l = 0; l < L; l++) {
                S.w[l] = 8;
                S.a[l] = E->cfg.method == Q_LINEAR ? 8 : Q_FLOAT;
            }
            rl_env_wall(E, S.w, S.a);
        }
        if (o->fill && o->strategy != RL_UNIFORM && o->strategy != RL_POLICY)
            rl_env_fill(E, S.w, S.a);
        double cost = rl_env_cost(E, S.w, S.a), lat, en, sz;
        rl_env_costs(E, S.w, S.a, &lat, &en, &sz);
        double t_hw = now() - th0 - t_agent;
        /* the episode */
        struct episode_out r;
        if (run_episode(&S, ep, S.w, S.a, &r)) goto out;
        double acc = o->reward_train ? r.train_top1 : r.top1;
        double reward = 0.1 * (acc - S.fp_top1);
        /* the agent learns: every transition carries the episode's reward */
        double ta = now();
        if (S.agent) {
            for (int t = 0; t < E->steps; t++) {
                rl_ddpg_observe(S.agent, S.states + (size_t)t * (size_t)dim, S.actions[t],
                                (float)reward, S.states + (size_t)(t + 1) * (size_t)dim,
                                t == E->steps - 1);
                if (ep > o->warmup && rl_ddpg_update(S.agent, NULL, NULL)) goto out;
            }
        }
        t_agent += now() - ta;
        int best = reward > S.best_reward;
        if (best) {
            S.best_reward = reward;
            S.best_top1 = r.top1;
            S.best_episode = ep;
            memcpy(S.best_w, S.w, (size_t)L * sizeof(int));
            memcpy(S.best_a, S.a, (size_t)L * sizeof(int));
        }
        /* the logs, then the agent, then the commit point */
        char wb[512], ab[512], line[1400];
        bits_list(wb, sizeof wb, S.w, L, 1);
        bits_list(ab, sizeof ab, S.a, L, 0);
        snprintf(line, sizeof line, "%d,%.6f,%.4f,%.4f,%.6f,%.9g,%.9g,%.0f,%.6f,%d,%s,%s\n", ep,
                 reward, r.top1, S.fp_top1, cost / E->ref_cost, lat, en, sz, (double)sigma, best,
                 wb, ab);
        if (data_csv_add(&S.log, line)) goto out;
        snprintf(line, sizeof line, "%d,%.4f,%.4f,%.6f,%.6f\n", ep, r.t_finetune, r.t_eval,
                 t_agent, t_hw);
        if (data_csv_add(&S.timing, line)) goto out;
        if (best && write_best(&S)) goto out;
        if (tb_episode(&S, ep, reward, r.top1, cost / E->ref_cost, lat, en, sigma)) goto out;
        S.done = ep + 1;
        if (S.agent) {
            char name[64];
            snprintf(name, sizeof name, "agent.%d.state", S.done);
            if (rl_ddpg_save(S.agent, path_in(dir, name, path, sizeof path))) goto out;
        }
        if (write_state(&S)) goto out;
        if (S.agent && S.done > 1) {
            char name[64];
            snprintf(name, sizeof name, "agent.%d.state", S.done - 1);
            unlink(path_in(dir, name, path, sizeof path));
        }
        res->t_finetune += r.t_finetune;
        res->t_eval += r.t_eval;
        res->t_agent += t_agent;
        res->t_hw += t_hw;
        if (!o->quiet) progress(&S, ep, reward, r.top1, cost / E->ref_cost, sigma);
    }
    if (S.best_episode < 0) {
        nn_err("no episode finished");
        goto out;
    }
    res->episodes = S.done;
    res->best_episode = S.best_episode;
    res->best_reward = S.best_reward;
    res->fp_top1 = S.fp_top1;
    res->best_top1 = S.best_top1;
    res->best_cost_ratio = rl_env_cost(E, S.best_w, S.best_a) / E->ref_cost;
    rl_env_costs(E, S.best_w, S.best_a, &res->latency_ms, &res->energy_mj, &res->size_bytes);
    rc = 0;
out:
    search_free(&S);
    return rc;
}
