/* The DDPG agent: critic and actor gradients against finite differences of a double-precision
 * reference, soft update and baseline arithmetic on known numbers, the critic's target, the
 * exploration schedule, the replay ring and its sampling, exact save/load (and damaged files),
 * independence of the thread count, and a toy bit-width search the agent must solve far better than
 * random search. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nn/error.h"
#include "nn/pool.h"
#include "nn/rng.h"
#include "rl/ddpg.h"
#include "rl/ddpg_internal.h"
#include "tests/testutil.h"

static struct rl_ddpg_cfg tiny_cfg(void) {
    struct rl_ddpg_cfg c = rl_ddpg_cfg_default(3, 4);
    c.hidden1 = 5;
    c.hidden2 = 4;
    c.batch = 7;
    c.memory = 50;
    c.warmup = 2;
    c.seed = 11;
    return c;
}

static struct rl_ddpg *make(const struct rl_ddpg_cfg *c) {
    struct rl_ddpg *a = rl_ddpg_create(c);
    ck_assert_msg(a != NULL, "%s", nn_errmsg());
    return a;
}

/* ---- double-precision reference networks (layout of ddpg_internal.h) ---------------------- */

static void ref_linear(double *out, const double *in, const double *w, const double *b, int in_f,
                       int out_f) {
    for (int o = 0; o < out_f; o++) {
        double acc = b[o];
        for (int i = 0; i < in_f; i++) acc += in[i] * w[(size_t)i * out_f + o];
        out[o] = acc;
    }
}

static double ref_relu(double v) {
    return v > 0 ? v : 0;
}

static double ref_actor(const double *p, const float *s, int S, int H1, int H2) {
    double x[64], h1[64], h2[64], z;
    for (int i = 0; i < S; i++) x[i] = s[i];
    const double *w1 = p, *b1 = w1 + S * H1, *w2 = b1 + H1, *b2 = w2 + H1 * H2, *w3 = b2 + H2,
                 *b3 = w3 + H2;
    ref_linear(h1, x, w1, b1, S, H1);
    for (int i = 0; i < H1; i++) h1[i] = ref_relu(h1[i]);
    ref_linear(h2, h1, w2, b2, H1, H2);
    for (int i = 0; i < H2; i++) h2[i] = ref_relu(h2[i]);
    ref_linear(&z, h2, w3, b3, H2, 1);
    return 1.0 / (1.0 + exp(-z));
}

static double ref_critic(const double *p, const float *s, double act, int S, int H1, int H2) {
    double x[64], h1[64], ha[64], h2[64], q;
    for (int i = 0; i < S; i++) x[i] = s[i];
    const double *ws = p, *bs = ws + S * H1, *wa = bs + H1, *ba = wa + H1, *w2 = ba + H1,
                 *b2 = w2 + H1 * H2, *w3 = b2 + H2, *b3 = w3 + H2;
    ref_linear(h1, x, ws, bs, S, H1);
    ref_linear(ha, &act, wa, ba, 1, H1);
    for (int i = 0; i < H1; i++) h1[i] = ref_relu(h1[i] + ha[i]);
    ref_linear(h2, h1, w2, b2, H1, H2);
    for (int i = 0; i < H2; i++) h2[i] = ref_relu(h2[i]);
    ref_linear(&q, h2, w3, b3, H2, 1);
    return q;
}

struct ref_batch {
    const float *s, *act, *y;
    int n, S, H1, H2;
    const double *critic; /* fixed critic for the actor's loss */
};

static double ref_critic_loss(const double *p, const struct ref_batch *b) {
    double l = 0;
    for (int i = 0; i < b->n; i++) {
        double d = ref_critic(p, b->s + i * b->S, b->act[i], b->S, b->H1, b->H2) - b->y[i];
        l += d * d;
    }
    return l / b->n;
}

static double ref_actor_loss(const double *p, const struct ref_batch *b) {
    double l = 0;
    for (int i = 0; i < b->n; i++) {
        const float *s = b->s + i * b->S;
        l += ref_critic(b->critic, s, ref_actor(p, s, b->S, b->H1, b->H2), b->S, b->H1, b->H2);
    }
    return -l / b->n;
}

/* Every component of the analytic gradient g against central differences of loss at p. */
static void check_grad(const float *pf, const float *g, size_t n,
                       double (*loss)(const double *, const struct ref_batch *),
                       const struct ref_batch *b, const char *what) {
    double *p = malloc(n * sizeof *p);
    for (size_t i = 0; i < n; i++) p[i] = pf[i];
    const double h = 1e-6;
    for (size_t i = 0; i < n; i++) {
        double keep = p[i];
        p[i] = keep + h;
        double lp = loss(p, b);
        p[i] = keep - h;
        double lm = loss(p, b);
        p[i] = keep;
        double fd = (lp - lm) / (2 * h);
        ck_assert_msg(fabs(g[i] - fd) <= 2e-5 + 2e-4 * fabs(fd), "%s grad[%zu] = %.8g, fd %.8g",
                      what, i, g[i], fd);
    }
    free(p);
}

START_TEST(test_gradients) {
    struct rl_ddpg_cfg c = tiny_cfg();
    struct rl_ddpg *a = make(&c);
    struct nn_rng r;
    nn_rng_seed(&r, 5);
    enum { N = 6 };
    float s[N * 3], act[N], y[N];
    tu_fill(&r, s, N * 3, -1.0f, 1.0f);
    tu_fill(&r, act, N, 0.0f, 1.0f);
    tu_fill(&r, y, N, -1.0f, 1.0f);
    /* larger weights than the init so that every unit's ReLU and the sigmoid matter */
    size_t na, nc;
    float *pa = rl_ddpg_params(a, RL_ACTOR, &na), *pc = rl_ddpg_params(a, RL_CRITIC, &nc);
    tu_fill(&r, pa, na, -1.0f, 1.0f);
    tu_fill(&r, pc, nc, -1.0f, 1.0f);
    ck_assert_uint_eq(na, 3 * 5 + 5 + 5 * 4 + 4 + 4 + 1);
    ck_assert_uint_eq(nc, 3 * 5 + 5 + 5 + 5 + 5 * 4 + 4 + 4 + 1);

    struct ref_batch b = {s, act, y, N, 3, 5, 4, NULL};
    float loss = rl_ddpg_critic_grad(a, s, act, y, N);
    double *pcd = malloc(nc * sizeof *pcd);
    for (size_t i = 0; i < nc; i++) pcd[i] = pc[i];
    ck_assert_double_eq_tol(loss, ref_critic_loss(pcd, &b), 1e-5);
    check_grad(pc, rl_ddpg_grads(a, RL_CRITIC), nc, ref_critic_loss, &b, "critic");

    /* the actor's step leaves the critic's gradient block alone */
    float *gc = rl_ddpg_grads(a, RL_CRITIC);
    for (size_t i = 0; i < nc; i++) gc[i] = 1234.5f;
    loss = rl_ddpg_actor_grad(a, s, N);
    for (size_t i = 0; i < nc; i++) ck_assert_float_eq(gc[i], 1234.5f);
    b.critic = pcd;
    double *pad = malloc(na * sizeof *pad);
    for (size_t i = 0; i < na; i++) pad[i] = pa[i];
    ck_assert_double_eq_tol(loss, ref_actor_loss(pad, &b), 1e-5);
    check_grad(pa, rl_ddpg_grads(a, RL_ACTOR), na, ref_actor_loss, &b, "actor");

    /* the public forward passes agree with the reference */
    ck_assert_double_eq_tol(rl_ddpg_mu(a, s), ref_actor(pad, s, 3, 5, 4), 1e-6);
    ck_assert_double_eq_tol(rl_ddpg_q(a, s, 0.3f), ref_critic(pcd, s, 0.3f, 3, 5, 4), 1e-5);
    free(pad);
    free(pcd);
    rl_ddpg_free(a);
}
END_TEST

/* ---- arithmetic on known numbers ---------------------------------------------------------- */

START_TEST(test_init_and_soft_update) {
    float t[3] = {1, 2, -3}, src[3] = {5, 2, 1};
    rl_ddpg_soft_update(t, src, 3, 0.25f);
    ck_assert_float_eq(t[0], 2.0f);
    ck_assert_float_eq(t[1], 2.0f);
    ck_assert_float_eq(t[2], -2.0f);

    struct rl_ddpg_cfg c = tiny_cfg();
    c.hidden1 = 9;
    struct rl_ddpg *a = make(&c);
    size_t na, nc, n;
    float *pa = rl_ddpg_params(a, RL_ACTOR, &na), *pc = rl_ddpg_params(a, RL_CRITIC, &nc);
    float *ta = rl_ddpg_params(a, RL_ACTOR_TARGET, &n),
          *tc = rl_ddpg_params(a, RL_CRITIC_TARGET, &n);
    /* targets start as copies; W, b within ±1/√fan_in (actor W1: fan_in S = 3; W2: 9; critic
     * La: fan_in 1) */
    ck_assert_mem_eq(pa, ta, na * sizeof(float));
    ck_assert_mem_eq(pc, tc, nc * sizeof(float));
    for (int i = 0; i < 3 * 9 + 9; i++) ck_assert(fabsf(pa[i]) <= 1.0f / sqrtf(3.0f));
    for (int i = 3 * 9 + 9; i < 3 * 9 + 9 + 9 * 4 + 4; i++) ck_assert(fabsf(pa[i]) <= 1.0f / 3.0f);
    float amax = 0;
    for (int i = 3 * 9 + 9; i < 3 * 9 + 9 + 9 + 9; i++) amax = fmaxf(amax, fabsf(pc[i]));
    ck_assert(amax > 1.0f / sqrtf(3.0f) && amax <= 1.0f); /* La's bound is 1, not 1/√S */

    /* one update: θ′ ← θ′·(1 − τ) + θ·τ with the stepped θ, both networks */
    float s[3] = {0.1f, 0.2f, 0.3f};
    for (int i = 0; i < 10; i++) rl_ddpg_observe(a, s, 0.1f * i, (float)i, s, i == 9);
    float *ta0 = malloc(na * sizeof *ta0), *tc0 = malloc(nc * sizeof *tc0);
    memcpy(ta0, ta, na * sizeof *ta0);
    memcpy(tc0, tc, nc * sizeof *tc0);
    ck_assert_int_eq(rl_ddpg_update(a, NULL, NULL), 0);
    int moved = 0;
    for (size_t i = 0; i < na; i++) {
        ck_assert_float_eq(ta[i], ta0[i] * (1.0f - c.tau) + pa[i] * c.tau);
        moved += ta[i] != ta0[i];
    }
    for (size_t i = 0; i < nc; i++)
        ck_assert_float_eq(tc[i], tc0[i] * (1.0f - c.tau) + pc[i] * c.tau);
    ck_assert_int_gt(moved, 0);
    free(ta0);
    free(tc0);
    rl_ddpg_free(a);
}
END_TEST

START_TEST(test_baseline_and_target) {
    struct rl_ddpg_cfg c = tiny_cfg();
    c.memory = 1; /* every minibatch row is the one stored transition */
    c.discount = 0.5f;
    struct rl_ddpg *a = make(&c);
    float s[3] = {0.3f, -0.2f, 0.9f}, s2[3] = {-0.5f, 0.4f, 0.1f};
    int init;
    float B = rl_ddpg_baseline(a, &init), lc, la;
    ck_assert_int_eq(init, 0);
    ck_assert_int_eq(rl_ddpg_update(a, &lc, &la), -1); /* nothing stored */

    /* first update: B = batch mean = 2; y = (2 − 2) + 0.5·Q′(s′, μ′(s′)), targets = online */
    rl_ddpg_observe(a, s, 0.7f, 2.0f, s2, 0);
    float q = rl_ddpg_q(a, s, 0.7f), qn = rl_ddpg_q(a, s2, rl_ddpg_mu(a, s2));
    ck_assert_int_eq(rl_ddpg_update(a, &lc, &la), 0);
    B = rl_ddpg_baseline(a, &init);
    ck_assert_int_eq(init, 1);
    ck_assert_float_eq(B, 2.0f);
    double d = q - 0.5 * qn;
    ck_assert_double_eq_tol(lc, d * d, 1e-6 + 1e-5 * d * d);

    /* then B += 0.5·(mean − B): 2 → 4 → 7; done = 1 drops the bootstrap: y = r − B */
    rl_ddpg_observe(a, s, 0.2f, 6.0f, s2, 1);
    q = rl_ddpg_q(a, s, 0.2f);
    ck_assert_int_eq(rl_ddpg_update(a, &lc, &la), 0);
    ck_assert_float_eq(rl_ddpg_baseline(a, NULL), 4.0f);
    d = q - 2.0;
    ck_assert_double_eq_tol(lc, d * d, 1e-5 * (1 + d * d));
    rl_ddpg_observe(a, s, 0.2f, 10.0f, s2, 1);
    ck_assert_int_eq(rl_ddpg_update(a, &lc, &la), 0);
    ck_assert_float_eq(rl_ddpg_baseline(a, NULL), 7.0f);
    ck_assert(isfinite(la));
    rl_ddpg_free(a);
}
END_TEST

START_TEST(test_config) {
    struct rl_ddpg_cfg c = rl_ddpg_cfg_default(10, 106);
    ck_assert_int_eq(c.state_dim, 10);
    ck_assert_int_eq(c.hidden1, 300);
    ck_assert_int_eq(c.hidden2, 300);
    ck_assert_float_eq(c.lr_actor, 1e-4f);
    ck_assert_float_eq(c.lr_critic, 1e-3f);
    ck_assert_float_eq(c.tau, 0.01f);
    ck_assert_float_eq(c.discount, 1.0f);
    ck_assert_int_eq(c.batch, 64);
    ck_assert_int_eq(c.memory, 128 * 106);
    ck_assert_int_eq(c.warmup, 20);
    ck_assert_float_eq(c.sigma0, 0.5f);
    ck_assert_float_eq(c.sigma_decay, 0.99f);
    ck_assert_float_eq(c.baseline_alpha, 0.5f);
    ck_assert_uint_eq(c.seed, 234);
    struct rl_ddpg *a = make(&c);
    ck_assert_mem_eq(rl_ddpg_config(a), &c, sizeof c);
    rl_ddpg_free(a);

    struct rl_ddpg_cfg bad[6];
    for (int i = 0; i < 6; i++) bad[i] = tiny_cfg();
    bad[0].state_dim = 0;
    bad[1].hidden2 = -3;
    bad[2].batch = 0;
    bad[3].memory = 0;
    bad[4].tau = NAN;
    bad[5].hidden1 = bad[5].hidden2 = 60000; /* 3.6 G floats */
    for (int i = 0; i < 6; i++) {
        nn_err_clear();
        ck_assert_ptr_null(rl_ddpg_create(&bad[i]));
        ck_assert_str_ne(nn_errmsg(), "");
    }
}
END_TEST

/* ---- exploration ---------------------------------------------------------------------------- */

START_TEST(test_exploration) {
    struct rl_ddpg_cfg c = tiny_cfg();
    c.warmup = 3;
    struct rl_ddpg *a = make(&c);
    float s[3] = {0.5f, -0.5f, 0.25f};
    const float mu = rl_ddpg_mu(a, s);

    /* σ: 0 for episodes 0 … warmup, then σ0·decay^(episode − warmup) */
    for (int e = 0; e <= 3; e++) ck_assert_float_eq(rl_ddpg_sigma(a, e), 0.0f);
    ck_assert_float_eq_tol(rl_ddpg_sigma(a, 4), 0.5f * 0.99f, 1e-7f);
    ck_assert_float_eq_tol(rl_ddpg_sigma(a, 103), 0.5f * powf(0.99f, 100), 1e-7f);

    /* warm-up (the last warm-up episode included): uniform on [0, 1) */
    enum { N = 4000 };
    double sum = 0, sq = 0;
    int low = 0;
    for (int i = 0; i < N; i++) {
        float x = rl_ddpg_act(a, s, i % 4, 1);
        ck_assert(x >= 0.0f && x < 1.0f);
        sum += x;
        sq += (double)x * x;
        low += x < 0.25f;
    }
    ck_assert_double_eq_tol(sum / N, 0.5, 0.02);
    ck_assert_double_eq_tol(sq / N - (sum / N) * (sum / N), 1.0 / 12, 0.01);
    ck_assert_int_gt(low, N / 4 - 150);
    ck_assert_int_lt(low, N / 4 + 150);

    /* explore = 0: μ(s) itself, in and after warm-up, and no draw from the RNG */
    struct rl_ddpg *b = make(&c);
    for (int e = 0; e < 30; e += 7) ck_assert_float_eq(rl_ddpg_act(b, s, e, 0), mu);
    struct rl_ddpg *fresh = make(&c);
    ck_assert_float_eq(rl_ddpg_act(b, s, 10, 1), rl_ddpg_act(fresh, s, 10, 1));
    rl_ddpg_free(fresh);

    /* after warm-up: N(μ, σ²) truncated to [0, 1]; σ = 0.5·0.99^10 ≈ 0.45 at episode 13, whose
     * mean is μ + σ·(φ(α) − φ(β))/(Φ(β) − Φ(α)), α = −μ/σ, β = (1 − μ)/σ */
    sum = 0;
    for (int i = 0; i < N; i++) {
        float x = rl_ddpg_act(a, s, 13, 1);
        ck_assert(x >= 0.0f && x <= 1.0f);
        sum += x;
    }
    const double sg = rl_ddpg_sigma(a, 13), al = -mu / sg, be = (1 - mu) / sg;
    const double phi_a = exp(-al * al / 2) / sqrt(2 * M_PI),
                 phi_b = exp(-be * be / 2) / sqrt(2 * M_PI);
    const double cdf = 0.5 * (erf(be / M_SQRT2) - erf(al / M_SQRT2));
    ck_assert_double_eq_tol(sum / N, mu + sg * (phi_a - phi_b) / cdf, 0.012);
    /* a small σ: mean μ, standard deviation σ */
    struct rl_ddpg_cfg cs = c;
    cs.sigma0 = 0.05f;
    cs.sigma_decay = 1.0f;
    struct rl_ddpg *n = make(&cs);
    sum = sq = 0;
    for (int i = 0; i < N; i++) {
        double x = rl_ddpg_act(n, s, 50, 1);
        sum += x;
        sq += x * x;
    }
    ck_assert_double_eq_tol(sum / N, mu, 0.004);
    ck_assert_double_eq_tol(sqrt(sq / N - (sum / N) * (sum / N)), 0.05, 0.004);
    rl_ddpg_free(n);
    /* a tiny σ stays at μ; a huge one ends in [0, 1] without hanging */
    cs.sigma0 = 1e-7f;
    n = make(&cs);
    for (int i = 0; i < 100; i++) ck_assert_float_eq_tol(rl_ddpg_act(n, s, 50, 1), mu, 1e-5f);
    rl_ddpg_free(n);
    cs.sigma0 = 1e6f;
    n = make(&cs);
    for (int i = 0; i < 20; i++) {
        float x = rl_ddpg_act(n, s, 50, 1);
        ck_assert(x >= 0.0f && x <= 1.0f);
    }
    rl_ddpg_free(n);
    rl_ddpg_free(b);
    rl_ddpg_free(a);
}
END_TEST

/* ---- replay ------------------------------------------------------------------------------- */

START_TEST(test_replay_ring) {
    struct rl_ddpg_cfg c = tiny_cfg();
    c.memory = 5;
    struct rl_ddpg *a = make(&c);
    for (int i = 0; i < 7; i++) {
        float s[3] = {(float)i, 0, 0}, s2[3] = {0, (float)i, 0};
        rl_ddpg_observe(a, s, 0.1f * i, 10.0f + i, s2, i % 2);
        ck_assert_int_eq(rl_ddpg_stored(a), i + 1 < 5 ? i + 1 : 5);
    }
    /* slots 0, 1 were overwritten by transitions 5, 6; 2 … 4 still hold 2 … 4 */
    const int want[5] = {5, 6, 2, 3, 4};
    for (int k = 0; k < 5; k++) {
        const float *s, *s2;
        float act, r;
        int done;
        rl_ddpg_slot(a, k, &s, &act, &r, &s2, &done);
        int i = want[k];
        ck_assert_float_eq(s[0], (float)i);
        ck_assert_float_eq(s2[1], (float)i);
        ck_assert_float_eq(act, 0.1f * i);
        ck_assert_float_eq(r, 10.0f + i);
        ck_assert_int_eq(done, i % 2);
    }
    rl_ddpg_free(a);
}
END_TEST

/* Fill an agent's ring with n transitions and return how often each slot of `rounds` minibatches
 * was drawn, asserting the rows of one minibatch are distinct when `distinct`. */
static void draw(int memory, int n, int batch, int rounds, int distinct, int *freq) {
    struct rl_ddpg_cfg c = tiny_cfg();
    c.memory = memory;
    c.batch = batch;
    struct rl_ddpg *a = make(&c);
    float s[3] = {0};
    for (int i = 0; i < n; i++) rl_ddpg_observe(a, s, 0, 0, s, 0);
    int *idx = malloc((size_t)batch * sizeof *idx), dup_rounds = 0;
    memset(freq, 0, (size_t)n * sizeof *freq);
    for (int r = 0; r < rounds; r++) {
        rl_ddpg_sample(a, idx);
        int dup = 0;
        for (int i = 0; i < batch; i++) {
            ck_assert(idx[i] >= 0 && idx[i] < n);
            freq[idx[i]]++;
            for (int j = 0; j < i; j++) dup |= idx[j] == idx[i];
        }
        if (distinct) ck_assert_msg(!dup, "round %d repeats a slot", r);
        dup_rounds += dup;
    }
    if (!distinct) ck_assert_int_gt(dup_rounds, rounds / 2);
    free(idx);
    rl_ddpg_free(a);
}

START_TEST(test_replay_sampling) {
    enum { R = 2000 };
    int freq[200];
    /* more than batch stored: without replacement, every slot equally likely (64/100 per round) */
    draw(200, 100, 64, R, 1, freq);
    for (int i = 0; i < 100; i++) ck_assert_msg(abs(freq[i] - R * 64 / 100) < 130, "slot %d", i);
    draw(200, 65, 64, 200, 1, freq);
    for (int i = 0; i < 65; i++) ck_assert_int_gt(freq[i], 150);
    /* a full ring samples all of it */
    draw(80, 80, 64, 500, 1, freq);
    for (int i = 0; i < 80; i++) ck_assert_int_gt(freq[i], 300);
    /* batch or fewer stored: with replacement (repeats within a minibatch), still uniform */
    draw(200, 64, 64, 200, 0, freq);
    draw(200, 10, 64, R, 0, freq);
    for (int i = 0; i < 10; i++) ck_assert_msg(abs(freq[i] - R * 64 / 10) < 400, "slot %d", i);
    draw(200, 1, 64, 3, 0, freq);
    ck_assert_int_eq(freq[0], 3 * 64);
}
END_TEST

/* ---- save / load ---------------------------------------------------------------------------- */

static struct rl_ddpg_cfg resume_cfg(void) {
    struct rl_ddpg_cfg c = rl_ddpg_cfg_default(4, 5);
    c.hidden1 = 16;
    c.hidden2 = 12;
    c.batch = 8;
    c.memory = 30; /* wraps within the run */
    c.warmup = 2;
    c.seed = 77;
    return c;
}

/* Episodes [e0, e1) of a toy run (5 steps, reward = −|mean action − 0.3|); the actions and the
 * losses are appended to log (advanced). */
static void episodes(struct rl_ddpg *a, int e0, int e1, float **log) {
    for (int e = e0; e < e1; e++) {
        float s[6][4], act[5], mean = 0;
        for (int t = 0; t <= 5; t++) {
            s[t][0] = t / 5.0f;
            s[t][1] = 0.0f; /* the previous action, set as the episode runs */
            s[t][2] = 0.5f;
            s[t][3] = (float)(e % 3);
        }
        for (int t = 0; t < 5; t++) {
            act[t] = rl_ddpg_act(a, s[t], e, 1);
            s[t + 1][1] = act[t];
            mean += act[t] / 5;
            *(*log)++ = act[t];
        }
        float r = -fabsf(mean - 0.3f);
        for (int t = 0; t < 5; t++) {
            rl_ddpg_observe(a, s[t], act[t], r, s[t + 1], t == 4);
            if (e > rl_ddpg_config(a)->warmup) {
                ck_assert_int_eq(rl_ddpg_update(a, *log, *log + 1), 0);
                *log += 2;
            }
        }
    }
}

static char *tmp_path(const char *name) {
    static char buf[4][256];
    static int k;
    char *p = buf[k++ % 4];
    snprintf(p, 256, "/tmp/haq_rl_agent_%ld_%s", (long)getpid(), name);
    return p;
}

static void write_bytes(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(p, 1, n, f), n);
    fclose(f);
}

static unsigned char *read_bytes(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *p = malloc(*n);
    ck_assert_uint_eq(fread(p, 1, *n, f), *n);
    fclose(f);
    return p;
}

static void same_params(struct rl_ddpg *x, struct rl_ddpg *y) {
    for (int net = RL_ACTOR; net <= RL_CRITIC_TARGET; net++) {
        size_t n, m;
        float *px = rl_ddpg_params(x, (enum rl_net)net, &n);
        float *py = rl_ddpg_params(y, (enum rl_net)net, &m);
        ck_assert_uint_eq(n, m);
        ck_assert_mem_eq(px, py, n * sizeof(float));
    }
}

START_TEST(test_save_load_resume) {
    struct rl_ddpg_cfg c = resume_cfg();
    enum { CAP = 4096 };
    float *log_a = calloc(CAP, sizeof(float)), *log_b = calloc(CAP, sizeof(float));
    float *pa = log_a, *pb = log_b;
    const char *path = tmp_path("resume.ddpg"), *path2 = tmp_path("resume2.ddpg");

    /* the uninterrupted run, and one saved after episode 4 (mid-run, ring partly filled) and after
     * episode 8 (ring wrapped) and reloaded each time */
    struct rl_ddpg *a = make(&c), *b = make(&c);
    episodes(a, 0, 14, &pa);
    float *mark = pb;
    episodes(b, 0, 4, &pb);
    ck_assert_int_eq(rl_ddpg_save(b, path), 0);
    rl_ddpg_free(b);
    b = rl_ddpg_load(path, &c);
    ck_assert_msg(b != NULL, "%s", nn_errmsg());
    episodes(b, 4, 8, &pb);
    ck_assert_int_eq(rl_ddpg_stored(b), 30);
    ck_assert_int_eq(rl_ddpg_save(b, path), 0);
    rl_ddpg_free(b);
    b = rl_ddpg_load(path, NULL);
    ck_assert_msg(b != NULL, "%s", nn_errmsg());
    episodes(b, 8, 14, &pb);
    ck_assert_int_eq((int)(pa - log_a), (int)(pb - log_b));
    ck_assert_int_gt((int)(pb - mark), 14 * 5 + 11 * 5 * 2 - 1);
    ck_assert_mem_eq(log_a, log_b, (size_t)(pa - log_a) * sizeof(float));
    same_params(a, b);
    /* and the two agents' files agree byte for byte */
    ck_assert_int_eq(rl_ddpg_save(a, path), 0);
    ck_assert_int_eq(rl_ddpg_save(b, path2), 0);
    size_t na, nb;
    unsigned char *fa = read_bytes(path, &na), *fb = read_bytes(path2, &nb);
    ck_assert_uint_eq(na, nb);
    ck_assert_mem_eq(fa, fb, na);
    free(fa);
    free(fb);
    /* a fresh agent (baseline not initialised, nothing stored) round-trips too */
    struct rl_ddpg *f = make(&c);
    ck_assert_int_eq(rl_ddpg_save(f, path), 0);
    struct rl_ddpg *g = rl_ddpg_load(path, &c);
    ck_assert_msg(g != NULL, "%s", nn_errmsg());
    int init;
    rl_ddpg_baseline(g, &init);
    ck_assert_int_eq(init, 0);
    ck_assert_int_eq(rl_ddpg_stored(g), 0);
    float s[4] = {0.1f, 0.2f, 0.3f, 0.4f};
    ck_assert_float_eq(rl_ddpg_act(f, s, 0, 1), rl_ddpg_act(g, s, 0, 1));
    same_params(f, g);
    rl_ddpg_free(f);
    rl_ddpg_free(g);
    remove(path);
    remove(path2);
    rl_ddpg_free(a);
    rl_ddpg_free(b);
    free(log_a);
    free(log_b);
}
END_TEST

/* The agent's results do not depend on the pool's size (its GEMMs run on the caller), so a
 * search resumed with another thread count continues bitwise. */
START_TEST(test_thread_count) {
    struct rl_ddpg_cfg c = resume_cfg();
    c.hidden1 = 40;
    c.hidden2 = 70;
    c.batch = 64;
    float *log[2];
    for (int k = 0; k < 2; k++) {
        ck_assert_int_eq(nn_pool_init(k + 1), 0);
        float *p = log[k] = calloc(4096, sizeof(float));
        struct rl_ddpg *a = make(&c);
        episodes(a, 0, 8, &p);
        rl_ddpg_free(a);
    }
    ck_assert_mem_eq(log[0], log[1], 4096 * sizeof(float));
    free(log[0]);
    free(log[1]);
}
END_TEST

/* load fails with a message naming the file. */
static void load_fails(const char *path, const struct rl_ddpg_cfg *c, const char *needle,
                       const char *what) {
    nn_err_clear();
    struct rl_ddpg *a = rl_ddpg_load(path, c);
    ck_assert_msg(a == NULL, "%s: loaded", what);
    ck_assert_msg(strstr(nn_errmsg(), path) != NULL, "%s: %s", what, nn_errmsg());
    if (needle) ck_assert_msg(strstr(nn_errmsg(), needle) != NULL, "%s: %s", what, nn_errmsg());
}

START_TEST(test_load_damaged) {
    struct rl_ddpg_cfg c = resume_cfg();
    float *log = calloc(4096, sizeof(float)), *p = log;
    struct rl_ddpg *a = make(&c);
    episodes(a, 0, 6, &p);
    const char *path = tmp_path("good.ddpg"), *bad = tmp_path("bad.ddpg");
    ck_assert_int_eq(rl_ddpg_save(a, path), 0);
    ck_assert_int_eq(access(path, F_OK), 0);
    size_t n;
    unsigned char *file = read_bytes(path, &n), *buf = malloc(n + 16);

    /* configuration mismatches name the field */
    struct rl_ddpg_cfg m = c;
    m.hidden1 = 17;
    load_fails(path, &m, "hidden1", "hidden1");
    m = c;
    m.tau = 0.02f;
    load_fails(path, &m, "tau", "tau");
    m = c;
    m.seed = 78;
    load_fails(path, &m, "seed", "seed");
    m = c;
    m.memory = 31;
    load_fails(path, &m, "memory", "memory");

    /* every truncation */
    for (size_t len = 0; len < n; len += len < 200 ? 1 : 997) {
        write_bytes(bad, file, len);
        load_fails(bad, &c, NULL, "truncated");
    }
    /* trailing bytes */
    memcpy(buf, file, n);
    memset(buf + n, 0, 16);
    write_bytes(bad, buf, n + 16);
    load_fails(bad, &c, NULL, "trailing");
    /* a flipped bit anywhere: in the header, the configuration, the scalars, the arrays and
     * the checksum */
    for (size_t at = 0; at < n; at += at < 200 ? 1 : 131) {
        memcpy(buf, file, n);
        buf[at] ^= (unsigned char)(1u << (at % 8));
        write_bytes(bad, buf, n);
        load_fails(bad, NULL, NULL, "flipped");
    }
    /* garbage with a valid header: huge sizes must not be allocated */
    memcpy(buf, file, n);
    for (size_t i = 12; i < 200 && i < n; i++) buf[i] = 0xff;
    write_bytes(bad, buf, n);
    load_fails(bad, NULL, NULL, "garbage");
    memcpy(buf, file, n);
    buf[12] = 0xff; /* state_dim = 255 + …: the size check rejects it before allocation */
    buf[13] = 0xff;
    write_bytes(bad, buf, n);
    load_fails(bad, NULL, NULL, "large state");
    struct nn_rng r;
    nn_rng_seed(&r, 3);
    for (size_t i = 0; i < n; i++) buf[i] = (unsigned char)nn_rng_below(&r, 256);
    write_bytes(bad, buf, n);
    load_fails(bad, NULL, "magic", "random");
    load_fails(tmp_path("missing.ddpg"), NULL, NULL, "missing");
    /* well-formed files with a valid checksum whose values no run reaches: a NaN or an infinity
     * in the first and the last actor weight, in a replay reward, a negative Adam second moment,
     * a done flag of 0.5, a NaN baseline. The layout: magic, version, configuration (72 bytes),
     * scalars (the baseline at 104; 136 in all), then 13 arrays each after its u64 length: actor,
     * its target, Adam m and v, the same four of the critic, replay states, actions, rewards, next
     * states, done flags */
    size_t na, nc;
    rl_ddpg_params(a, RL_ACTOR, &na);
    rl_ddpg_params(a, RL_CRITIC, &nc);
    const size_t S = (size_t)c.state_dim, count = (size_t)rl_ddpg_stored(a);
    const size_t actor0 = 136 + 8, v_actor = actor0 + 4 * 3 * na + 8 * 3;
    const size_t replay0 = actor0 + 4 * (4 * na + 4 * nc) + 8 * 8;
    const size_t rewards = replay0 + 4 * (count * S + count) + 8 * 2;
    const size_t flags = replay0 + 4 * (2 * count * S + 2 * count) + 8 * 4;
    const struct {
        size_t at;
        float x;
        const char *needle;
    } crafted[] = {
        {actor0, NAN, "actor holds a non-finite"},
        {actor0 + 4 * (na - 1), INFINITY, "actor holds a non-finite"},
        {rewards, -INFINITY, "replay rewards holds a non-finite"},
        {v_actor, -1.0f, "actor Adam v is negative"},
        {flags + 4 * (count - 1), 0.5f, "replay done flags holds 0.5"},
        {104, NAN, "baseline is not finite"},
    };
    for (size_t k = 0; k < sizeof crafted / sizeof crafted[0]; k++) {
        memcpy(buf, file, n);
        memcpy(buf + crafted[k].at, &crafted[k].x, 4);
        uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a 64 over everything before the checksum */
        for (size_t i = 0; i + 8 < n; i++) h = (h ^ buf[i]) * 0x100000001b3ull;
        for (int i = 0; i < 8; i++) buf[n - 8 + i] = (unsigned char)(h >> (8 * i));
        write_bytes(bad, buf, n);
        load_fails(bad, &c, crafted[k].needle, crafted[k].needle);
    }
    /* a device or a huge (sparse) file is refused before it is read */
    remove(bad);
    ck_assert_int_eq(symlink("/dev/zero", bad), 0);
    load_fails(bad, &c, "not a regular file", "device");
    remove(bad);
    write_bytes(bad, file, n);
    ck_assert_int_eq(truncate(bad, (off_t)1 << 31), 0);
    load_fails(bad, &c, "longer than any agent state", "huge");
    /* the original still loads */
    struct rl_ddpg *b = rl_ddpg_load(path, &c);
    ck_assert_msg(b != NULL, "%s", nn_errmsg());
    same_params(a, b);
    rl_ddpg_free(b);
    remove(path);
    remove(bad);
    free(file);
    free(buf);
    free(log);
    rl_ddpg_free(a);
}
END_TEST

/* ---- learning ------------------------------------------------------------------------------- */

/* A toy search in HAQ's shape: L layers with a hidden target bit-width each, one step per
 * layer, bits = round(a·7 + 2 − 0.5) in 2 … 8; the state is (layer index / (L − 1), previous
 * action, 1, one-hot layer index); the episode's reward, −mean |bits − target| over the layers,
 * is stored for every transition of the episode, and one update follows every stored transition
 * after warm-up. The release's hyper-parameters except a hidden width of 64 (for speed). */
enum { TOY_L = 10, TOY_S = 3 + TOY_L, TOY_EPISODES = 300, TOY_SEEDS = 3 };

static int toy_bits(float a) {
    int b = (int)lrintf(a * 7.0f + 2.0f - 0.5f);
    return b < 2 ? 2 : b > 8 ? 8 : b;
}

static float toy_reward(const float *act, const int *target) {
    float err = 0;
    for (int l = 0; l < TOY_L; l++) err += fabsf((float)(toy_bits(act[l]) - target[l]));
    return -err / TOY_L;
}

static void toy_state(float *s, int l, float prev) {
    s[0] = (float)l / (TOY_L - 1);
    s[1] = prev;
    s[2] = 1.0f;
    for (int i = 0; i < TOY_L; i++) s[3 + i] = i == l ? 1.0f : 0.0f;
}

struct toy_result {
    float best, last20, greedy;
};

/* agent = 0: random search (uniform actions) for the same number of episodes. */
static struct toy_result toy_run(uint64_t seed, int agent) {
    struct nn_rng r;
    nn_rng_seed(&r, seed * 7919 + 1);
    int target[TOY_L];
    for (int l = 0; l < TOY_L; l++) target[l] = 2 + (int)nn_rng_below(&r, 7);
    struct rl_ddpg_cfg c = rl_ddpg_cfg_default(TOY_S, TOY_L);
    c.hidden1 = c.hidden2 = 64;
    c.seed = seed;
    struct rl_ddpg *a = make(&c);
    struct toy_result res = {-INFINITY, 0, 0};
    float s[TOY_L + 1][TOY_S], act[TOY_L];
    for (int e = 0; e < TOY_EPISODES; e++) {
        toy_state(s[0], 0, 0.0f);
        for (int l = 0; l < TOY_L; l++) {
            act[l] = agent ? rl_ddpg_act(a, s[l], e, 1) : nn_rng_uniform(&r);
            toy_state(s[l + 1], l + 1 < TOY_L ? l + 1 : l, act[l]);
        }
        float reward = toy_reward(act, target);
        res.best = fmaxf(res.best, reward);
        if (e >= TOY_EPISODES - 20) res.last20 += reward / 20;
        if (!agent) continue;
        for (int l = 0; l < TOY_L; l++) {
            rl_ddpg_observe(a, s[l], act[l], reward, s[l + 1], l == TOY_L - 1);
            if (e > c.warmup) ck_assert_int_eq(rl_ddpg_update(a, NULL, NULL), 0);
        }
    }
    toy_state(s[0], 0, 0.0f);
    for (int l = 0; l < TOY_L; l++) {
        act[l] = agent ? rl_ddpg_act(a, s[l], TOY_EPISODES, 0) : nn_rng_uniform(&r);
        toy_state(s[l + 1], l + 1, act[l]);
    }
    res.greedy = toy_reward(act, target);
    rl_ddpg_free(a);
    return res;
}

/* Against random search with as many episodes, on every seed: a better best reward, a last-20
 * mean better by more than a bit per layer, and a greedy policy better than random's best. (With
 * the actor's Adam step removed the agent's rewards stay at random search's level.) */
START_TEST(test_learning) {
    double agent_best = 0, random_best = 0;
    for (uint64_t seed = 1; seed <= TOY_SEEDS; seed++) {
        struct toy_result ag = toy_run(seed, 1), rs = toy_run(seed, 0);
        char msg[200];
        snprintf(msg, sizeof msg,
                 "seed %d: agent best %.2f last20 %.2f greedy %.2f, random best "
                 "%.2f last20 %.2f",
                 (int)seed, ag.best, ag.last20, ag.greedy, rs.best, rs.last20);
        ck_assert_msg(ag.best > rs.best, "%s", msg);
        ck_assert_msg(ag.last20 > rs.last20 + 1.2f, "%s", msg);
        ck_assert_msg(ag.greedy > rs.best, "%s", msg);
        agent_best += ag.best / TOY_SEEDS;
        random_best += rs.best / TOY_SEEDS;
    }
    ck_assert_msg(agent_best > random_best + 0.4, "mean best: agent %.2f, random %.2f", agent_best,
                  random_best);
}
END_TEST

Suite *suite_rl_agent(void) {
    Suite *s = suite_create("rl_agent");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_gradients);
    tcase_add_test(tc, test_init_and_soft_update);
    tcase_add_test(tc, test_baseline_and_target);
    tcase_add_test(tc, test_config);
    tcase_add_test(tc, test_exploration);
    tcase_add_test(tc, test_replay_ring);
    tcase_add_test(tc, test_replay_sampling);
    tcase_add_test(tc, test_save_load_resume);
    tcase_add_test(tc, test_load_damaged);
    tcase_add_test(tc, test_thread_count);
    suite_add_tcase(s, tc);
    TCase *tl = tcase_create("learning");
    tcase_set_timeout(tl, 120);
    tcase_add_test(tl, test_learning);
    suite_add_tcase(s, tl);
    return s;
}
