/* DDPG agent (see ddpg.h): forward/backward of the actor and critic batched over the minibatch
 * rows (one GEMM per linear layer), Adam over one flat block per network, a replay ring, and an
 * exact binary state file. */
#include "rl/ddpg.h"

#include <assert.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "nn/error.h"
#include "nn/gemm.h"
#include "nn/layers.h"
#include "nn/optim.h"
#include "nn/rng.h"
#include "nn/safetensors.h"
#include "nn/tensor.h"
#include "rl/ddpg_internal.h"

/* Largest state width, hidden width, batch and replay capacity accepted, and the most floats an
 * agent may hold (1 GiB): far above HAQ's (10, 300, 64, 128 · 106, ~1.4 M floats), low enough
 * that no size computation can overflow and that a hostile state file cannot make load
 * allocate without bound. */
#define DIM_MAX    (1 << 16)
#define MEMORY_MAX (1 << 24)
#define BATCH_MAX  (1 << 16)
#define FLOATS_MAX ((uint64_t)1 << 28)

/* Draws of the truncated normal before falling back to clamping μ + σ·z into [0, 1]. */
#define TRUNC_TRIES 1000

/* Offsets of the layers inside a parameter block (layout in ddpg_internal.h). */
struct actor_off {
    size_t w1, b1, w2, b2, w3, b3, n;
};
struct critic_off {
    size_t ws, bs, wa, ba, w2, b2, w3, b3, n;
};

struct rl_ddpg {
    struct rl_ddpg_cfg cfg;
    struct actor_off ao;
    struct critic_off co;
    float *actor, *actor_t, *actor_g;    /* [ao.n] each */
    float *critic, *critic_t, *critic_g; /* [co.n] each */
    struct nn_param actor_tab, critic_tab;
    struct nn_adam adam_a, adam_c;
    /* replay ring: transition i at rs[i·S], ra[i], rr[i], rs2[i·S], rd[i] */
    float *rs, *ra, *rr, *rs2, *rd;
    int pos, count;
    float baseline;
    int baseline_init;
    struct nn_rng rng;
    /* minibatch rows (B = cfg.batch): states, actions, rewards, next states, done, targets */
    float *bs, *ba, *br, *bs2, *bd, *by;
    int *idx; /* [B] */
    /* activations [B][h1], [B][h2], [B] of the actor and the critic, their gradients */
    float *ah1, *ah2, *aout, *ch1, *ch2, *cq, *tmp, *dh1, *dh2, *dq, *dact;
};

/* ---- configuration ------------------------------------------------------------------------- */

struct rl_ddpg_cfg rl_ddpg_cfg_default(int state_dim, int steps) {
    struct rl_ddpg_cfg c;
    memset(&c, 0, sizeof c);
    c.state_dim = state_dim;
    c.hidden1 = 300;
    c.hidden2 = 300;
    c.lr_actor = 1e-4f;
    c.lr_critic = 1e-3f;
    c.tau = 0.01f;
    c.discount = 1.0f;
    c.batch = 64;
    c.memory = steps > 0 && steps <= MEMORY_MAX / 128 ? 128 * steps : 0;
    c.warmup = 20;
    c.sigma0 = 0.5f;
    c.sigma_decay = 0.99f;
    c.baseline_alpha = 0.5f;
    c.seed = 234;
    return c;
}

static int cfg_check(const struct rl_ddpg_cfg *c) {
    if (c->state_dim < 1 || c->state_dim > DIM_MAX)
        return nn_err("state_dim %d out of range 1 … %d", c->state_dim, DIM_MAX);
    if (c->hidden1 < 1 || c->hidden1 > DIM_MAX || c->hidden2 < 1 || c->hidden2 > DIM_MAX)
        return nn_err("hidden sizes %d, %d out of range 1 … %d", c->hidden1, c->hidden2, DIM_MAX);
    if (!(c->lr_actor > 0.0f) || !isfinite(c->lr_actor) || !(c->lr_critic > 0.0f) ||
        !isfinite(c->lr_critic))
        return nn_err("learning rates %g, %g must be positive", c->lr_actor, c->lr_critic);
    if (!(c->tau >= 0.0f && c->tau <= 1.0f)) return nn_err("tau %g not in [0, 1]", c->tau);
    if (!isfinite(c->discount)) return nn_err("discount %g not finite", c->discount);
    if (c->batch < 1 || c->batch > BATCH_MAX)
        return nn_err("batch %d out of range 1 … %d", c->batch, BATCH_MAX);
    if (c->memory < 1 || c->memory > MEMORY_MAX)
        return nn_err("memory %d out of range 1 … %d", c->memory, MEMORY_MAX);
    if (c->warmup < 0) return nn_err("warmup %d negative", c->warmup);
    if (!(c->sigma0 >= 0.0f) || !isfinite(c->sigma0))
        return nn_err("sigma0 %g must be finite and ≥ 0", c->sigma0);
    if (!(c->sigma_decay > 0.0f && c->sigma_decay <= 1.0f))
        return nn_err("sigma_decay %g not in (0, 1]", c->sigma_decay);
    if (!(c->baseline_alpha >= 0.0f && c->baseline_alpha <= 1.0f))
        return nn_err("baseline_alpha %g not in [0, 1]", c->baseline_alpha);
    /* parameters, targets, gradients and Adam moments of both networks, the replay ring, the
     * minibatch rows and activations */
    const uint64_t S = (uint64_t)c->state_dim, H1 = (uint64_t)c->hidden1, H2 = (uint64_t)c->hidden2,
                   B = (uint64_t)c->batch;
    const uint64_t net = (S + 3) * H1 + H1 * H2 + 2 * H2 + 2;
    const uint64_t total =
        5 * 2 * net + (uint64_t)c->memory * (2 * S + 3) + B * (2 * S + 6 + 4 * H1 + 3 * H2);
    if (total > FLOATS_MAX)
        return nn_err("agent of %llu floats exceeds the limit of %llu", (unsigned long long)total,
                      (unsigned long long)FLOATS_MAX);
    return 0;
}

/* ---- construction -------------------------------------------------------------------------- */

static struct actor_off actor_layout(int S, int h1, int h2) {
    struct actor_off o;
    o.w1 = 0;
    o.b1 = o.w1 + (size_t)S * h1;
    o.w2 = o.b1 + (size_t)h1;
    o.b2 = o.w2 + (size_t)h1 * h2;
    o.w3 = o.b2 + (size_t)h2;
    o.b3 = o.w3 + (size_t)h2;
    o.n = o.b3 + 1;
    return o;
}

static struct critic_off critic_layout(int S, int h1, int h2) {
    struct critic_off o;
    o.ws = 0;
    o.bs = o.ws + (size_t)S * h1;
    o.wa = o.bs + (size_t)h1;
    o.ba = o.wa + (size_t)h1;
    o.w2 = o.ba + (size_t)h1;
    o.b2 = o.w2 + (size_t)h1 * h2;
    o.w3 = o.b2 + (size_t)h2;
    o.b3 = o.w3 + (size_t)h2;
    o.n = o.b3 + 1;
    return o;
}

/* W [fan_in][fan_out] then b [fan_out], both ~ U(−1/√fan_in, 1/√fan_in). */
static void init_linear(struct nn_rng *r, float *w, float *b, int fan_in, int fan_out) {
    float bound = (float)(1.0 / sqrt((double)fan_in));
    size_t nw = (size_t)fan_in * fan_out;
    for (size_t i = 0; i < nw; i++) w[i] = bound * (2.0f * nn_rng_uniform(r) - 1.0f);
    for (int i = 0; i < fan_out; i++) b[i] = bound * (2.0f * nn_rng_uniform(r) - 1.0f);
}

void rl_ddpg_free(struct rl_ddpg *a) {
    if (!a) return;
    float *bufs[] = {a->actor, a->actor_t, a->actor_g, a->critic, a->critic_t, a->critic_g,
                     a->rs,    a->ra,      a->rr,      a->rs2,    a->rd,       a->bs,
                     a->ba,    a->br,      a->bs2,     a->bd,     a->by,       a->ah1,
                     a->ah2,   a->aout,    a->ch1,     a->ch2,    a->cq,       a->tmp,
                     a->dh1,   a->dh2,     a->dq,      a->dact};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) nn_free(bufs[i]);
    nn_adam_free(&a->adam_a);
    nn_adam_free(&a->adam_c);
    free(a->idx);
    free(a);
}

struct rl_ddpg *rl_ddpg_create(const struct rl_ddpg_cfg *cfg) {
    if (cfg_check(cfg)) return NULL;
    struct rl_ddpg *a = calloc(1, sizeof *a);
    if (!a) {
        nn_err("ddpg: out of memory");
        return NULL;
    }
    a->cfg = *cfg;
    const int S = cfg->state_dim, H1 = cfg->hidden1, H2 = cfg->hidden2, B = cfg->batch;
    const size_t M = (size_t)cfg->memory;
    a->ao = actor_layout(S, H1, H2);
    a->co = critic_layout(S, H1, H2);
    a->actor = nn_alloc_floats(a->ao.n);
    a->actor_t = nn_alloc_floats(a->ao.n);
    a->actor_g = nn_alloc_floats(a->ao.n);
    a->critic = nn_alloc_floats(a->co.n);
    a->critic_t = nn_alloc_floats(a->co.n);
    a->critic_g = nn_alloc_floats(a->co.n);
    a->rs = nn_alloc_floats(M * S);
    a->ra = nn_alloc_floats(M);
    a->rr = nn_alloc_floats(M);
    a->rs2 = nn_alloc_floats(M * S);
    a->rd = nn_alloc_floats(M);
    a->bs = nn_alloc_floats((size_t)B * S);
    a->ba = nn_alloc_floats(B);
    a->br = nn_alloc_floats(B);
    a->bs2 = nn_alloc_floats((size_t)B * S);
    a->bd = nn_alloc_floats(B);
    a->by = nn_alloc_floats(B);
    a->ah1 = nn_alloc_floats((size_t)B * H1);
    a->ah2 = nn_alloc_floats((size_t)B * H2);
    a->aout = nn_alloc_floats(B);
    a->ch1 = nn_alloc_floats((size_t)B * H1);
    a->ch2 = nn_alloc_floats((size_t)B * H2);
    a->cq = nn_alloc_floats(B);
    a->tmp = nn_alloc_floats((size_t)B * H1);
    a->dh1 = nn_alloc_floats((size_t)B * H1);
    a->dh2 = nn_alloc_floats((size_t)B * H2);
    a->dq = nn_alloc_floats(B);
    a->dact = nn_alloc_floats(B);
    a->idx = malloc((size_t)B * sizeof *a->idx);
    int ok = a->actor && a->actor_t && a->actor_g && a->critic && a->critic_t && a->critic_g &&
             a->rs && a->ra && a->rr && a->rs2 && a->rd && a->bs && a->ba && a->br && a->bs2 &&
             a->bd && a->by && a->ah1 && a->ah2 && a->aout && a->ch1 && a->ch2 && a->cq && a->tmp &&
             a->dh1 && a->dh2 && a->dq && a->dact && a->idx;
    if (!ok || nn_adam_init(&a->adam_a, a->ao.n, cfg->lr_actor, 0.9f, 0.999f, 1e-8f, 0.0f) ||
        nn_adam_init(&a->adam_c, a->co.n, cfg->lr_critic, 0.9f, 0.999f, 1e-8f, 0.0f)) {
        rl_ddpg_free(a);
        nn_err("ddpg: out of memory");
        return NULL;
    }
    a->actor_tab.off = a->critic_tab.off = 0;
    a->actor_tab.numel = a->ao.n;
    a->critic_tab.numel = a->co.n;
    nn_rng_seed(&a->rng, cfg->seed);
    init_linear(&a->rng, a->actor + a->ao.w1, a->actor + a->ao.b1, S, H1);
    init_linear(&a->rng, a->actor + a->ao.w2, a->actor + a->ao.b2, H1, H2);
    init_linear(&a->rng, a->actor + a->ao.w3, a->actor + a->ao.b3, H2, 1);
    init_linear(&a->rng, a->critic + a->co.ws, a->critic + a->co.bs, S, H1);
    init_linear(&a->rng, a->critic + a->co.wa, a->critic + a->co.ba, 1, H1);
    init_linear(&a->rng, a->critic + a->co.w2, a->critic + a->co.b2, H1, H2);
    init_linear(&a->rng, a->critic + a->co.w3, a->critic + a->co.b3, H2, 1);
    memcpy(a->actor_t, a->actor, a->ao.n * sizeof(float));
    memcpy(a->critic_t, a->critic, a->co.n * sizeof(float));
    return a;
}

const struct rl_ddpg_cfg *rl_ddpg_config(const struct rl_ddpg *a) {
    return &a->cfg;
}

/* ---- networks -------------------------------------------------------------------------------- */

static void relu_inplace(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = nn_relu(x[i]);
}

/* dx[i] *= (y[i] > 0): the ReLU's gradient from its output y. */
static void relu_mask(float *dx, const float *y, size_t n) {
    for (size_t i = 0; i < n; i++) dx[i] = y[i] > 0.0f ? dx[i] : 0.0f;
}

/* The linear layers of nn/layers.h (w [in_f][out_f]), run serially on the caller: the agent's
 * matrices are too small for the pool to pay off (threads made an update ~4× slower), and
 * without a thread-dependent partition an agent's results do not depend on the thread count.
 *   forward  out[n][out_f] = in[n][in_f] · w + b
 *   backward dw += inᵀ · dout,  db += Σ_rows dout,  din = dout · wᵀ (din may be NULL) */
static void linear_fwd(float *out, const float *in, const float *w, const float *b, int n, int in_f,
                       int out_f) {
    struct nn_gemm_epi epi = {b, -INFINITY, INFINITY};
    nn_sgemm_ex(1, 0, 0, n, out_f, in_f, 1.0f, in, in_f, w, out_f, 0.0f, out, out_f, &epi);
}

static void linear_din(float *din, const float *dout, const float *w, int n, int in_f, int out_f) {
    nn_sgemm_ex(1, 0, 1, n, in_f, out_f, 1.0f, dout, out_f, w, out_f, 0.0f, din, in_f, NULL);
}

static void linear_bwd(float *din, float *dw, float *db, const float *dout, const float *in,
                       const float *w, int n, int in_f, int out_f) {
    nn_sgemm_ex(1, 1, 0, in_f, out_f, n, 1.0f, in, in_f, dout, out_f, 1.0f, dw, out_f, NULL);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < out_f; j++) db[j] += dout[(size_t)i * out_f + j];
    if (din) linear_din(din, dout, w, n, in_f, out_f);
}

/* μ over n rows of s [n][S] with parameters p: h1 [n][h1], h2 [n][h2] and out [n] (the
 * sigmoid's output) are kept for backward. */
static void actor_forward(const struct rl_ddpg *a, const float *p, const float *s, int n, float *h1,
                          float *h2, float *out) {
    const int S = a->cfg.state_dim, H1 = a->cfg.hidden1, H2 = a->cfg.hidden2;
    const struct actor_off *o = &a->ao;
    linear_fwd(h1, s, p + o->w1, p + o->b1, n, S, H1);
    relu_inplace(h1, (size_t)n * H1);
    linear_fwd(h2, h1, p + o->w2, p + o->b2, n, H1, H2);
    relu_inplace(h2, (size_t)n * H2);
    linear_fwd(out, h2, p + o->w3, p + o->b3, n, H2, 1);
    for (int i = 0; i < n; i++) out[i] = 1.0f / (1.0f + expf(-out[i]));
}

/* Q over n rows of (s [n][S], act [n]) with parameters p: h1 = ReLU(Ls(s) + La(act)) [n][h1],
 * h2 [n][h2] and q [n] are kept for backward; tmp [n][h1] is scratch. */
static void critic_forward(const struct rl_ddpg *a, const float *p, const float *s,
                           const float *act, int n, float *h1, float *h2, float *q, float *tmp) {
    const int S = a->cfg.state_dim, H1 = a->cfg.hidden1, H2 = a->cfg.hidden2;
    const struct critic_off *o = &a->co;
    linear_fwd(h1, s, p + o->ws, p + o->bs, n, S, H1);
    linear_fwd(tmp, act, p + o->wa, p + o->ba, n, 1, H1);
    for (size_t i = 0; i < (size_t)n * H1; i++) h1[i] = nn_relu(h1[i] + tmp[i]);
    linear_fwd(h2, h1, p + o->w2, p + o->b2, n, H1, H2);
    relu_inplace(h2, (size_t)n * H2);
    linear_fwd(q, h2, p + o->w3, p + o->b3, n, H2, 1);
}

/* Back from a->dq [n] through the critic's L3 and L2 to the gradient at its first hidden
 * pre-activation, left in a->dh1 [n][h1]; h1, h2 are the forward's activations. With g the
 * parameter gradients of L3 and L2 accumulate into g; with g NULL only the input gradients are
 * computed. */
static void critic_backward_top(struct rl_ddpg *a, float *g, const float *h1, const float *h2,
                                int n) {
    const int H1 = a->cfg.hidden1, H2 = a->cfg.hidden2;
    const struct critic_off *o = &a->co;
    const float *p = a->critic;
    if (g)
        linear_bwd(a->dh2, g + o->w3, g + o->b3, a->dq, h2, p + o->w3, n, H2, 1);
    else
        linear_din(a->dh2, a->dq, p + o->w3, n, H2, 1);
    relu_mask(a->dh2, h2, (size_t)n * H2);
    if (g)
        linear_bwd(a->dh1, g + o->w2, g + o->b2, a->dh2, h1, p + o->w2, n, H1, H2);
    else
        linear_din(a->dh1, a->dh2, p + o->w2, n, H1, H2);
    relu_mask(a->dh1, h1, (size_t)n * H1);
}

float rl_ddpg_critic_grad(struct rl_ddpg *a, const float *s, const float *act, const float *y,
                          int n) {
    const int S = a->cfg.state_dim, H1 = a->cfg.hidden1;
    const struct critic_off *o = &a->co;
    float *g = a->critic_g;
    critic_forward(a, a->critic, s, act, n, a->ch1, a->ch2, a->cq, a->tmp);
    double l = 0;
    for (int i = 0; i < n; i++) {
        float d = a->cq[i] - y[i];
        l += (double)d * d;
        a->dq[i] = 2.0f * d / (float)n;
    }
    memset(g, 0, o->n * sizeof(float));
    critic_backward_top(a, g, a->ch1, a->ch2, n);
    linear_bwd(NULL, g + o->ws, g + o->bs, a->dh1, s, a->critic + o->ws, n, S, H1);
    linear_bwd(NULL, g + o->wa, g + o->ba, a->dh1, act, a->critic + o->wa, n, 1, H1);
    return (float)(l / n);
}

float rl_ddpg_actor_grad(struct rl_ddpg *a, const float *s, int n) {
    const int S = a->cfg.state_dim, H1 = a->cfg.hidden1, H2 = a->cfg.hidden2;
    const struct actor_off *o = &a->ao;
    const float *p = a->actor;
    float *g = a->actor_g;
    actor_forward(a, p, s, n, a->ah1, a->ah2, a->aout);
    critic_forward(a, a->critic, s, a->aout, n, a->ch1, a->ch2, a->cq, a->tmp);
    double l = 0;
    for (int i = 0; i < n; i++) {
        l += a->cq[i];
        a->dq[i] = -1.0f / (float)n;
    }
    /* dL/dact through La (1 → h1), then through the sigmoid: dz = dact · a(1 − a) */
    critic_backward_top(a, NULL, a->ch1, a->ch2, n);
    linear_din(a->dact, a->dh1, a->critic + a->co.wa, n, 1, H1);
    for (int i = 0; i < n; i++) a->dact[i] *= a->aout[i] * (1.0f - a->aout[i]);
    memset(g, 0, o->n * sizeof(float));
    linear_bwd(a->dh2, g + o->w3, g + o->b3, a->dact, a->ah2, p + o->w3, n, H2, 1);
    relu_mask(a->dh2, a->ah2, (size_t)n * H2);
    linear_bwd(a->dh1, g + o->w2, g + o->b2, a->dh2, a->ah1, p + o->w2, n, H1, H2);
    relu_mask(a->dh1, a->ah1, (size_t)n * H1);
    linear_bwd(NULL, g + o->w1, g + o->b1, a->dh1, s, p + o->w1, n, S, H1);
    return (float)(-l / n);
}

void rl_ddpg_soft_update(float *target, const float *src, size_t n, float tau) {
    const float keep = 1.0f - tau;
    for (size_t i = 0; i < n; i++) target[i] = target[i] * keep + src[i] * tau;
}

/* ---- acting ---------------------------------------------------------------------------------- */

float rl_ddpg_mu(struct rl_ddpg *a, const float *s) {
    float out;
    actor_forward(a, a->actor, s, 1, a->ah1, a->ah2, &out);
    return out;
}

float rl_ddpg_sigma(const struct rl_ddpg *a, int episode) {
    if (episode <= a->cfg.warmup) return 0.0f;
    return (float)(a->cfg.sigma0 * pow(a->cfg.sigma_decay, (double)(episode - a->cfg.warmup)));
}

float rl_ddpg_q(struct rl_ddpg *a, const float *s, float action) {
    float q;
    critic_forward(a, a->critic, s, &action, 1, a->ch1, a->ch2, &q, a->tmp);
    return q;
}

float rl_ddpg_act(struct rl_ddpg *a, const float *s, int episode, int explore) {
    if (!explore) return rl_ddpg_mu(a, s);
    if (episode <= a->cfg.warmup) return nn_rng_uniform(&a->rng);
    const double mu = rl_ddpg_mu(a, s), sigma = rl_ddpg_sigma(a, episode);
    double x = mu;
    for (int t = 0; t < TRUNC_TRIES; t++) {
        x = mu + sigma * nn_rng_normal(&a->rng);
        if (x >= 0.0 && x <= 1.0) return (float)x;
    }
    return (float)(x < 0.0 ? 0.0 : x > 1.0 ? 1.0 : x);
}

/* ---- replay and update ----------------------------------------------------------------------- */

void rl_ddpg_observe(struct rl_ddpg *a, const float *s, float action, float reward,
                     const float *s_next, int done) {
    const size_t S = (size_t)a->cfg.state_dim, i = (size_t)a->pos;
    memcpy(a->rs + i * S, s, S * sizeof(float));
    memcpy(a->rs2 + i * S, s_next, S * sizeof(float));
    a->ra[i] = action;
    a->rr[i] = reward;
    a->rd[i] = done ? 1.0f : 0.0f;
    a->pos = a->pos + 1 == a->cfg.memory ? 0 : a->pos + 1;
    if (a->count < a->cfg.memory) a->count++;
}

int rl_ddpg_stored(const struct rl_ddpg *a) {
    return a->count;
}

float rl_ddpg_baseline(const struct rl_ddpg *a, int *initialised) {
    if (initialised) *initialised = a->baseline_init;
    return a->baseline;
}

/* a->idx [B]: B distinct slots of the ring by Floyd's algorithm (each B-subset equally likely)
 * when more than B are stored, else B independent uniform slots. */
static void sample(struct rl_ddpg *a) {
    const int B = a->cfg.batch, n = a->count;
    if (n <= B) {
        for (int i = 0; i < B; i++) a->idx[i] = (int)nn_rng_below(&a->rng, (uint64_t)n);
        return;
    }
    int m = 0;
    for (int j = n - B; j < n; j++) {
        int t = (int)nn_rng_below(&a->rng, (uint64_t)j + 1), seen = 0;
        for (int k = 0; k < m && !seen; k++) seen = a->idx[k] == t;
        a->idx[m++] = seen ? j : t;
    }
}

void rl_ddpg_sample(struct rl_ddpg *a, int *idx) {
    sample(a);
    memcpy(idx, a->idx, (size_t)a->cfg.batch * sizeof *idx);
}

void rl_ddpg_slot(const struct rl_ddpg *a, int slot, const float **s, float *action, float *reward,
                  const float **s_next, int *done) {
    const size_t S = (size_t)a->cfg.state_dim, i = (size_t)slot;
    *s = a->rs + i * S;
    *s_next = a->rs2 + i * S;
    *action = a->ra[i];
    *reward = a->rr[i];
    *done = a->rd[i] != 0.0f;
}

int rl_ddpg_update(struct rl_ddpg *a, float *critic_loss, float *actor_loss) {
    if (a->count == 0) return nn_err("ddpg: update with an empty replay memory");
    const int B = a->cfg.batch;
    const size_t S = (size_t)a->cfg.state_dim;
    sample(a);
    double mean = 0;
    for (int i = 0; i < B; i++) {
        size_t j = (size_t)a->idx[i];
        memcpy(a->bs + i * S, a->rs + j * S, S * sizeof(float));
        memcpy(a->bs2 + i * S, a->rs2 + j * S, S * sizeof(float));
        a->ba[i] = a->ra[j];
        a->br[i] = a->rr[j];
        a->bd[i] = a->rd[j];
        mean += a->br[i];
    }
    const float bmean = (float)(mean / B);
    if (a->baseline_init) {
        a->baseline += a->cfg.baseline_alpha * (bmean - a->baseline);
    } else {
        a->baseline = bmean;
        a->baseline_init = 1;
    }
    /* y = (r − B) + γ·(1 − done)·Q′(s′, μ′(s′)) */
    actor_forward(a, a->actor_t, a->bs2, B, a->ah1, a->ah2, a->aout);
    critic_forward(a, a->critic_t, a->bs2, a->aout, B, a->ch1, a->ch2, a->cq, a->tmp);
    for (int i = 0; i < B; i++)
        a->by[i] = (a->br[i] - a->baseline) + a->cfg.discount * (1.0f - a->bd[i]) * a->cq[i];
    struct nn_param_set pc = {a->critic, a->critic_g, a->co.n, &a->critic_tab, 1};
    struct nn_param_set pa = {a->actor, a->actor_g, a->ao.n, &a->actor_tab, 1};
    const float lc = rl_ddpg_critic_grad(a, a->bs, a->ba, a->by, B);
    nn_adam_step(&a->adam_c, &pc);
    const float la = rl_ddpg_actor_grad(a, a->bs, B);
    nn_adam_step(&a->adam_a, &pa);
    rl_ddpg_soft_update(a->actor_t, a->actor, a->ao.n, a->cfg.tau);
    rl_ddpg_soft_update(a->critic_t, a->critic, a->co.n, a->cfg.tau);
    if (critic_loss) *critic_loss = lc;
    if (actor_loss) *actor_loss = la;
    return 0;
}

float *rl_ddpg_params(struct rl_ddpg *a, enum rl_net net, size_t *n) {
    int actor = net == RL_ACTOR || net == RL_ACTOR_TARGET;
    *n = actor ? a->ao.n : a->co.n;
    switch (net) {
    case RL_ACTOR:
        return a->actor;
    case RL_CRITIC:
        return a->critic;
    case RL_ACTOR_TARGET:
        return a->actor_t;
    case RL_CRITIC_TARGET:
        break;
    }
    return a->critic_t;
}

float *rl_ddpg_grads(struct rl_ddpg *a, enum rl_net net) {
    return net == RL_ACTOR ? a->actor_g : a->critic_g;
}

/* ---- state file -------------------------------------------------------------------------------
 * Little-endian throughout:
 *   "HAQDDPG\0", u32 version
 *   configuration: i32 state_dim hidden1 hidden2, f32 lr_actor lr_critic tau discount,
 *                  i32 batch memory warmup, f32 sigma0 sigma_decay baseline_alpha, u64 seed
 *   state: u64 rng[4], f32 baseline, i32 baseline_init pos count, i64 adam_t (actor, critic)
 *   arrays, each u64 length (floats) then the floats: actor, actor target, actor Adam m, v,
 *          critic, critic target, critic Adam m, v, replay states, actions, rewards, next
 *          states, done flags (the first `count` transitions of the ring)
 *   u64 FNV-1a hash of every byte before it */

#define FILE_MAGIC   "HAQDDPG"
#define FILE_VERSION 1u
/* No state file is longer: an agent of FLOATS_MAX floats and the fixed fields. */
#define FILE_MAX (4 * (size_t)FLOATS_MAX + 4096)

struct wbuf {
    uint8_t *p;
    size_t n;
};

static void put_u32(struct wbuf *w, uint32_t v) {
    for (int i = 0; i < 4; i++) w->p[w->n++] = (uint8_t)(v >> (8 * i));
}

static void put_u64(struct wbuf *w, uint64_t v) {
    for (int i = 0; i < 8; i++) w->p[w->n++] = (uint8_t)(v >> (8 * i));
}

static void put_f32(struct wbuf *w, float f) {
    uint32_t v;
    memcpy(&v, &f, 4);
    put_u32(w, v);
}

static void put_arr(struct wbuf *w, const float *x, size_t n) {
    put_u64(w, n);
    for (size_t i = 0; i < n; i++) put_f32(w, x[i]);
}

static uint64_t fnv1a(const uint8_t *p, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

/* The arrays of the file in order, with their names (for messages) and lengths. */
#define N_ARRAYS 13
struct arr {
    const char *name;
    float *p;
    size_t n;
};

static void arrays(const struct rl_ddpg *a, struct arr t[N_ARRAYS]) {
    const size_t S = (size_t)a->cfg.state_dim, c = (size_t)a->count;
    struct arr all[] = {
        {"actor", a->actor, a->ao.n},
        {"actor target", a->actor_t, a->ao.n},
        {"actor Adam m", a->adam_a.m, a->ao.n},
        {"actor Adam v", a->adam_a.v, a->ao.n},
        {"critic", a->critic, a->co.n},
        {"critic target", a->critic_t, a->co.n},
        {"critic Adam m", a->adam_c.m, a->co.n},
        {"critic Adam v", a->adam_c.v, a->co.n},
        {"replay states", a->rs, c * S},
        {"replay actions", a->ra, c},
        {"replay rewards", a->rr, c},
        {"replay next states", a->rs2, c * S},
        {"replay done flags", a->rd, c},
    };
    _Static_assert(sizeof all / sizeof all[0] == N_ARRAYS, "N_ARRAYS");
    memcpy(t, all, sizeof all);
}

/* Bytes of the file of an agent of configuration c holding `count` transitions. */
static size_t file_bytes(const struct rl_ddpg_cfg *c, int count) {
    const size_t S = (size_t)c->state_dim;
    struct actor_off ao = actor_layout(c->state_dim, c->hidden1, c->hidden2);
    struct critic_off co = critic_layout(c->state_dim, c->hidden1, c->hidden2);
    size_t floats = 4 * ao.n + 4 * co.n + (size_t)count * (2 * S + 3);
    return 8 + 4 + 13 * 4 + 8 + 4 * 8 + 4 * 4 + 2 * 8 + N_ARRAYS * 8 + 4 * floats + 8;
}

int rl_ddpg_save(const struct rl_ddpg *a, const char *path) {
    struct arr t[N_ARRAYS];
    arrays(a, t);
    const size_t bytes = file_bytes(&a->cfg, a->count);
    struct wbuf w = {malloc(bytes), 0};
    if (!w.p) return nn_err("%s: out of memory", path);
    memcpy(w.p, FILE_MAGIC, 8);
    w.n = 8;
    put_u32(&w, FILE_VERSION);
    const struct rl_ddpg_cfg *c = &a->cfg;
    put_u32(&w, (uint32_t)c->state_dim);
    put_u32(&w, (uint32_t)c->hidden1);
    put_u32(&w, (uint32_t)c->hidden2);
    put_f32(&w, c->lr_actor);
    put_f32(&w, c->lr_critic);
    put_f32(&w, c->tau);
    put_f32(&w, c->discount);
    put_u32(&w, (uint32_t)c->batch);
    put_u32(&w, (uint32_t)c->memory);
    put_u32(&w, (uint32_t)c->warmup);
    put_f32(&w, c->sigma0);
    put_f32(&w, c->sigma_decay);
    put_f32(&w, c->baseline_alpha);
    put_u64(&w, c->seed);
    for (int i = 0; i < 4; i++) put_u64(&w, a->rng.s[i]);
    put_f32(&w, a->baseline);
    put_u32(&w, (uint32_t)a->baseline_init);
    put_u32(&w, (uint32_t)a->pos);
    put_u32(&w, (uint32_t)a->count);
    put_u64(&w, (uint64_t)a->adam_a.t);
    put_u64(&w, (uint64_t)a->adam_c.t);
    for (int i = 0; i < N_ARRAYS; i++) put_arr(&w, t[i].p, t[i].n);
    put_u64(&w, fnv1a(w.p, w.n));
    assert(w.n == bytes);
    int rc = nn_write_file_atomic(path, w.p, w.n);
    free(w.p);
    return rc;
}

struct rbuf {
    const uint8_t *p;
    size_t n, at;
    const char *path;
};

/* Each getter fails (naming the file, the field and the offset) when fewer bytes remain. */
static int need(struct rbuf *r, size_t k, const char *field) {
    if (r->n - r->at >= k) return 0;
    return nn_err("%s: truncated at byte %zu reading %s (%zu bytes needed, %zu left)", r->path,
                  r->at, field, k, r->n - r->at);
}

static int get_u32(struct rbuf *r, uint32_t *v, const char *field) {
    if (need(r, 4, field)) return -1;
    *v = 0;
    for (int i = 0; i < 4; i++) *v |= (uint32_t)r->p[r->at++] << (8 * i);
    return 0;
}

static int get_u64(struct rbuf *r, uint64_t *v, const char *field) {
    if (need(r, 8, field)) return -1;
    *v = 0;
    for (int i = 0; i < 8; i++) *v |= (uint64_t)r->p[r->at++] << (8 * i);
    return 0;
}

static int get_i32(struct rbuf *r, int *v, const char *field) {
    uint32_t u;
    if (get_u32(r, &u, field)) return -1;
    *v = (int)(int32_t)u;
    return 0;
}

static int get_f32(struct rbuf *r, float *f, const char *field) {
    uint32_t u;
    if (get_u32(r, &u, field)) return -1;
    memcpy(f, &u, 4);
    return 0;
}

static int get_arr(struct rbuf *r, float *x, size_t n, const char *field) {
    uint64_t len;
    if (get_u64(r, &len, field)) return -1;
    if (len != n)
        return nn_err("%s: %s holds %llu floats, %zu expected", r->path, field,
                      (unsigned long long)len, n);
    if (need(r, 4 * n, field)) return -1;
    for (size_t i = 0; i < n; i++) get_f32(r, &x[i], field);
    return 0;
}

static int get_cfg(struct rbuf *r, struct rl_ddpg_cfg *c) {
    memset(c, 0, sizeof *c);
    if (get_i32(r, &c->state_dim, "state_dim") || get_i32(r, &c->hidden1, "hidden1") ||
        get_i32(r, &c->hidden2, "hidden2") || get_f32(r, &c->lr_actor, "lr_actor") ||
        get_f32(r, &c->lr_critic, "lr_critic") || get_f32(r, &c->tau, "tau") ||
        get_f32(r, &c->discount, "discount") || get_i32(r, &c->batch, "batch") ||
        get_i32(r, &c->memory, "memory") || get_i32(r, &c->warmup, "warmup") ||
        get_f32(r, &c->sigma0, "sigma0") || get_f32(r, &c->sigma_decay, "sigma_decay") ||
        get_f32(r, &c->baseline_alpha, "baseline_alpha") || get_u64(r, &c->seed, "seed"))
        return -1;
    return 0;
}

int rl_ddpg_cfg_diff(const struct rl_ddpg_cfg *f, const struct rl_ddpg_cfg *e, char *buf,
                     size_t n) {
#define CMP_INT(x)                                                                                 \
    if (f->x != e->x) return snprintf(buf, n, #x " is %d in the file, %d expected", f->x, e->x), 1;
#define CMP_FLT(x)                                                                                 \
    if (memcmp(&f->x, &e->x, sizeof(float)))                                                       \
        return snprintf(buf, n, #x " is %.9g in the file, %.9g expected", f->x, e->x), 1;
    CMP_INT(state_dim)
    CMP_INT(hidden1)
    CMP_INT(hidden2)
    CMP_FLT(lr_actor)
    CMP_FLT(lr_critic)
    CMP_FLT(tau)
    CMP_FLT(discount)
    CMP_INT(batch)
    CMP_INT(memory)
    CMP_INT(warmup)
    CMP_FLT(sigma0)
    CMP_FLT(sigma_decay)
    CMP_FLT(baseline_alpha)
#undef CMP_INT
#undef CMP_FLT
    if (f->seed != e->seed)
        return snprintf(buf, n, "seed is %llu in the file, %llu expected",
                        (unsigned long long)f->seed, (unsigned long long)e->seed),
               1;
    if (n) *buf = 0;
    return 0;
}

/* The first field where the file's configuration f differs from the expected e, by value. */
static int cfg_compare(const char *path, const struct rl_ddpg_cfg *f, const struct rl_ddpg_cfg *e) {
    char what[160];
    if (rl_ddpg_cfg_diff(f, e, what, sizeof what))
        return nn_err("%s: configuration field %s", path, what);
    return 0;
}

/* The scalars after the configuration, checked against it (the arrays' lengths follow). */
struct scalars {
    uint64_t rng[4], adam_t[2];
    float baseline;
    int baseline_init, pos, count;
};

static int get_scalars(struct rbuf *r, const struct rl_ddpg_cfg *c, struct scalars *v) {
    const char *path = r->path;
    for (int i = 0; i < 4; i++)
        if (get_u64(r, &v->rng[i], "rng state")) return -1;
    if (!(v->rng[0] | v->rng[1] | v->rng[2] | v->rng[3]))
        return nn_err("%s: rng state is all zero", path);
    if (get_f32(r, &v->baseline, "baseline") || get_i32(r, &v->baseline_init, "baseline_init") ||
        get_i32(r, &v->pos, "pos") || get_i32(r, &v->count, "count") ||
        get_u64(r, &v->adam_t[0], "actor Adam t") || get_u64(r, &v->adam_t[1], "critic Adam t"))
        return -1;
    if (v->baseline_init != 0 && v->baseline_init != 1)
        return nn_err("%s: baseline_init is %d, not 0 or 1", path, v->baseline_init);
    const int M = c->memory;
    if (v->count < 0 || v->count > M)
        return nn_err("%s: count %d out of range 0 … %d", path, v->count, M);
    if (v->pos < 0 || v->pos >= M || (v->count < M && v->pos != v->count))
        return nn_err("%s: pos %d inconsistent with count %d and memory %d", path, v->pos, v->count,
                      M);
    if (v->adam_t[0] > (uint64_t)INT32_MAX || v->adam_t[1] > (uint64_t)INT32_MAX)
        return nn_err("%s: Adam step counts %llu, %llu out of range", path,
                      (unsigned long long)v->adam_t[0], (unsigned long long)v->adam_t[1]);
    return 0;
}

/* The arrays and the checksum, into an agent built from the file's configuration. */
static int get_arrays(struct rbuf *r, struct rl_ddpg *a) {
    struct arr t[N_ARRAYS];
    arrays(a, t);
    for (int i = 0; i < N_ARRAYS; i++)
        if (get_arr(r, t[i].p, t[i].n, t[i].name)) return -1;
    uint64_t h;
    size_t end = r->at;
    if (get_u64(r, &h, "checksum")) return -1;
    if (r->at != r->n)
        return nn_err("%s: %zu unexpected bytes after the checksum", r->path, r->n - r->at);
    if (h != fnv1a(r->p, end)) return nn_err("%s: checksum mismatch (damaged file)", r->path);
    /* a checksum proves the bytes are the writer's, not that they make an agent: an agent that
     * has gone non-finite acts on NaN, and a negative Adam second moment or a done flag other
     * than 0 or 1 is no state a run can reach */
    for (int i = 0; i < N_ARRAYS; i++) {
        const int moment2 = t[i].p == a->adam_a.v || t[i].p == a->adam_c.v, flags = t[i].p == a->rd;
        for (size_t k = 0; k < t[i].n; k++) {
            const float x = t[i].p[k];
            if (!isfinite(x))
                return nn_err("%s: %s holds a non-finite value (%g at %zu)", r->path, t[i].name,
                              (double)x, k);
            if (moment2 && x < 0.0f)
                return nn_err("%s: %s is negative (%g at %zu)", r->path, t[i].name, (double)x, k);
            if (flags && x != 0.0f && x != 1.0f)
                return nn_err("%s: %s holds %g at %zu, not 0 or 1", r->path, t[i].name,
                              (double)x, k);
        }
    }
    if (!isfinite(a->baseline)) return nn_err("%s: baseline is not finite", r->path);
    return 0;
}

struct rl_ddpg *rl_ddpg_load(const char *path, const struct rl_ddpg_cfg *cfg) {
    uint8_t *data;
    size_t len;
    /* a state file is a regular file of at most FILE_MAX bytes: a device such as /dev/zero or
     * a huge file is refused before it is read (it would be read until memory runs out) */
    struct stat st;
    if (!stat(path, &st) && (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > FILE_MAX)) {
        if (!S_ISREG(st.st_mode))
            nn_err("%s: not a regular file", path);
        else
            nn_err("%s: %lld bytes, longer than any agent state", path, (long long)st.st_size);
        return NULL;
    }
    if (nn_read_file(path, &data, &len, FILE_MAX)) return NULL;
    struct rbuf r = {data, len, 0, path};
    struct rl_ddpg *a = NULL;
    struct rl_ddpg_cfg fc;
    struct scalars v;
    uint32_t version;
    if (len < 8 || memcmp(data, FILE_MAGIC, 8)) {
        nn_err("%s: not a DDPG agent state (bad magic)", path);
        goto done;
    }
    r.at = 8;
    if (get_u32(&r, &version, "version")) goto done;
    if (version != FILE_VERSION) {
        nn_err("%s: version %u, only %u is known", path, version, FILE_VERSION);
        goto done;
    }
    if (get_cfg(&r, &fc)) goto done;
    if (cfg_check(&fc)) {
        nn_err_ctx("%s: configuration: ", path);
        goto done;
    }
    if (cfg && cfg_compare(path, &fc, cfg)) goto done;
    if (get_scalars(&r, &fc, &v)) goto done;
    /* the whole length before anything is allocated */
    size_t want = file_bytes(&fc, v.count);
    if (len != want) {
        nn_err("%s: %zu bytes, %zu expected for this configuration (truncated or damaged)", path,
               len, want);
        goto done;
    }
    a = rl_ddpg_create(&fc);
    if (!a) {
        nn_err_ctx("%s: ", path);
        goto done;
    }
    memcpy(a->rng.s, v.rng, sizeof v.rng);
    a->adam_a.t = (long)v.adam_t[0];
    a->adam_c.t = (long)v.adam_t[1];
    a->baseline = v.baseline;
    a->baseline_init = v.baseline_init;
    a->pos = v.pos;
    a->count = v.count;
    if (get_arrays(&r, a)) {
        rl_ddpg_free(a);
        a = NULL;
    }
done:
    free(data);
    return a;
}
