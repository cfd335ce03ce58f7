/* Hardware cost models: hand-computed layers for every formula (a 1×1 conv, a depthwise 3×3
 * stride 2, an FC, the stem), BitFusion's precision steps, BISMO's w·a scaling, monotonicity,
 * memory-bound depthwise layers, edge vs cloud, the release's table, built tables, sizes,
 * configurations and the command. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hw/cmd_hw.h"
#include "hw/model.h"
#include "hw/size.h"
#include "nn/error.h"
#include "nn/models.h"
#include "quant/policy.h"
#include "tests/testutil.h"

static struct hw_layer layer(enum hw_layer_type t, int index, int cin, int cout, int k, int s,
                             int groups, int h, int batch) {
    struct hw_layer l;
    memset(&l, 0, sizeof l);
    snprintf(l.name, sizeof l.name, "layer%d", index);
    l.type = t;
    l.index = index;
    l.cin = cin;
    l.cout = cout;
    l.kh = l.kw = k;
    l.stride = s;
    l.groups = groups;
    l.h = l.w = h;
    l.ho = l.wo = (h + 2 * (k / 2) - k) / s + 1;
    l.batch = batch;
    return l;
}

static struct hw_model load(const char *name) {
    struct hw_model m;
    ck_assert_msg(hw_model_load(&m, name) == 0, "%s", nn_errmsg());
    return m;
}

static struct hw_cost cost(const struct hw_model *m, const struct hw_layer *l, int w, int a) {
    struct hw_cost c;
    ck_assert_msg(hw_cost(m, l, w, a, &c) == 0, "%s", nn_errmsg());
    return c;
}

static int mobilenet_v2_layers(int batch, struct hw_layer **ls) {
    struct nn_model_cfg cfg = nn_model_defaults("mobilenet_v2");
    struct nn_graph *g = nn_model_build(&cfg);
    ck_assert_ptr_nonnull(g);
    int n = hw_layers(g, batch, ls);
    nn_graph_free(g);
    ck_assert_int_eq(n, 53);
    return n;
}

/* ---- BitFusion --------------------------------------------------------------------------- */

START_TEST(bitfusion_hand_layers) {
    struct hw_model m = load("bitfusion-edge");
    const struct hw_bitfusion *p = &m.u.bf;
    /* 1×1 conv 24→144 at 56×56: B·⌈144/32⌉·56·56·⌈24/(16·pf)⌉ = 5·3136·⌈24/(16·pf)⌉. */
    struct hw_layer pw = layer(HW_LAYER_CONV, 5, 24, 144, 1, 1, 1, 56, 1);
    ck_assert_double_eq(hw_bitfusion_compute_cycles(p, &pw, 8, 8), 5 * 3136 * 2);
    ck_assert_double_eq(hw_bitfusion_compute_cycles(p, &pw, 4, 4), 5 * 3136 * 1);
    struct hw_cost c = cost(&m, &pw, 8, 8);
    ck_assert_double_eq(c.compute_cycles, 31360);
    ck_assert_double_ge(c.cycles, c.compute_cycles);
    /* DRAM: at least the weights, the inputs and the 32-bit outputs once. */
    double once = (24 * 144 * 8 + 56 * 56 * 24 * 8 + 56 * 56 * 144 * 32) / 8.0;
    ck_assert_double_ge(c.dram_bytes, once);
    ck_assert_double_le(c.dram_bytes, 1.05 * once);
    /* Energy = core per busy cycle + buffers + DRAM at 15 pJ/bit. */
    ck_assert_double_le(c.e_dram_mj, c.energy_mj);
    ck_assert(c.e_compute_mj > 0 && c.e_sram_mj > 0);
    ck_assert_double_eq_tol(c.e_compute_mj, 31360 * 235.104e-9, 1e-12);
    ck_assert_double_eq_tol(c.energy_mj, c.e_compute_mj + c.e_sram_mj + c.e_dram_mj, 1e-12);
    ck_assert_double_eq_tol(c.latency_ms, c.cycles / 500e3, 1e-12);

    /* Depthwise 3×3 stride 2, 96 channels 112→56: groups packed g at a time,
     * ⌈96/g⌉·⌈g/32⌉·56·56·9·⌈g/(16·pf)⌉, fewest at g = 16 or 32 (pf 1) and g = 32, 96 (pf 16). */
    struct hw_layer dw = layer(HW_LAYER_DEPTHWISE, 4, 96, 96, 3, 2, 96, 112, 1);
    ck_assert_double_eq(hw_bitfusion_compute_cycles(p, &dw, 8, 8), 6 * 28224);
    ck_assert_double_eq(hw_bitfusion_compute_cycles(p, &dw, 2, 2), 3 * 28224);
    /* FC 1280→1000, batch 1: ⌈1000/32⌉·⌈1280/(16·pf)⌉ = 32·10 at pf 8 (w2 a4). */
    struct hw_layer fc = layer(HW_LAYER_FC, 52, 1280, 1000, 1, 1, 1, 1, 1);
    ck_assert_double_eq(hw_bitfusion_compute_cycles(p, &fc, 2, 4), 32 * 10);
    ck_assert_double_eq(hw_bitfusion_compute_cycles(p, &fc, 8, 8), 32 * 80);
    ck_assert_int_eq(cost(&m, &fc, 8, 8).memory_bound, 1); /* 1.28 M weights over 192 bits */
    /* Stem 3×3/2 3→32 at 224, first layer: im2col, ⌈32/32⌉·112·112·⌈27/(16·pf)⌉. */
    struct hw_layer stem = layer(HW_LAYER_CONV, 0, 3, 32, 3, 2, 1, 224, 1);
    ck_assert_double_eq(hw_bitfusion_compute_cycles(p, &stem, 8, 8), 12544 * 2);
    ck_assert_double_eq(hw_bitfusion_compute_cycles(p, &stem, 4, 4), 12544);
    stem.index = 1; /* not first: direct, 9 taps × ⌈3/(16·pf)⌉ */
    ck_assert_double_eq(hw_bitfusion_compute_cycles(p, &stem, 8, 8), 12544 * 9);
    hw_model_free(&m);
}
END_TEST

START_TEST(bitfusion_precision_steps) {
    struct hw_model m = load("bitfusion-edge");
    const struct hw_bitfusion *p = &m.u.bf;
    int passes;
    ck_assert_int_eq(hw_bitfusion_pf(p, 2, 2, &passes), 16);
    ck_assert_int_eq(hw_bitfusion_pf(p, 1, 1, &passes), 16);
    ck_assert_int_eq(hw_bitfusion_pf(p, 3, 2, &passes), 8);
    ck_assert_int_eq(hw_bitfusion_pf(p, 4, 4, &passes), 4);
    ck_assert_int_eq(hw_bitfusion_pf(p, 8, 5, &passes), 1);
    ck_assert_int_eq(passes, 1);
    ck_assert_int_eq(hw_bitfusion_pf(p, 32, 8, &passes), 1);
    ck_assert_int_eq(passes, 4);
    struct hw_layer pw = layer(HW_LAYER_CONV, 3, 256, 256, 1, 1, 1, 14, 1);
    for (int a = 1; a <= 8; a++) {
        double c4 = hw_bitfusion_compute_cycles(p, &pw, 4, a);
        ck_assert_double_eq(hw_bitfusion_compute_cycles(p, &pw, 3, a), c4);
        double c8 = hw_bitfusion_compute_cycles(p, &pw, 8, a);
        for (int w = 5; w <= 7; w++)
            ck_assert_double_eq(hw_bitfusion_compute_cycles(p, &pw, w, a), c8);
        ck_assert_double_eq(hw_bitfusion_compute_cycles(p, &pw, 2, a),
                            hw_bitfusion_compute_cycles(p, &pw, 1, a));
        ck_assert_double_lt(c4, c8);
    }
    hw_model_free(&m);
}
END_TEST

/* ---- BISMO ------------------------------------------------------------------------------- */

START_TEST(bismo_hand_layers) {
    struct hw_model m = load("bismo-edge");
    const struct hw_bismo *p = &m.u.bismo;
    ck_assert_double_eq_tol(hw_bismo_bits_per_cycle(p), 84, 1e-9); /* 2.1 GB/s at 200 MHz */
    /* Depthwise 3×3/2, 96 ch, 112→56, batch 1: M = 3136, K = 9, N = 1, g = min(96, 28, 8) = 8,
     * 12 GEMMs of 3136 × 72 × 8: compute 12·w·a·⌈3136/8⌉ = 4704·w·a. */
    struct hw_layer dw = layer(HW_LAYER_DEPTHWISE, 4, 96, 96, 3, 2, 96, 112, 1);
    ck_assert_double_eq(hw_bismo_compute_cycles(p, &dw, 8, 8), 4704 * 64);
    struct hw_cost c = cost(&m, &dw, 8, 8);
    double moved = 3136 * 72 * 8 + 72 * 8 * 8 + 3136 * 8 * 32; /* per GEMM, bits */
    double fill = 8 * 72 * 8 + 72 * 8 * 8 + 8 * 8 * 32;
    ck_assert_double_eq_tol(c.cycles, 12 * (fill / 84 + (moved - fill) / 84), 1e-6);
    ck_assert_int_eq(c.memory_bound, 1);
    ck_assert_double_eq_tol(c.dram_bytes, 12 * moved / 8, 1e-6);
    ck_assert_double_eq_tol(c.e_dram_mj, 12 * moved * 20e-9, 1e-12);
    ck_assert_double_eq_tol(c.e_compute_mj, 4704 * 64 * 17022.3e-9, 1e-9);
    double bram = 4704 * 64 * 16.0 * 256 * 0.15625 + 12 * (moved - 3136 * 8 * 32) * 0.15625;
    ck_assert_double_eq_tol(c.e_sram_mj, bram * 1e-9, 1e-12);
    /* Without group packing, HAQ_SPEC's C separate GEMMs: 96·w·a·392. */
    m.u.bismo.group_packing = 0;
    ck_assert_double_eq(hw_bismo_compute_cycles(p, &dw, 8, 8), 96 * 392 * 64);
    m.u.bismo.group_packing = 1;
    /* 1×1 conv 64→384 at 14×14: w·a·⌈196/8⌉·⌈64/256⌉·⌈384/8⌉ = 1200·w·a, compute bound. */
    struct hw_layer pw = layer(HW_LAYER_CONV, 30, 64, 384, 1, 1, 1, 14, 1);
    ck_assert_double_eq(hw_bismo_compute_cycles(p, &pw, 8, 8), 1200 * 64);
    ck_assert_int_eq(cost(&m, &pw, 8, 8).memory_bound, 0);
    /* Stem 3→32 3×3/2 at 224: M = 12544, K = 27, N = 32: w·a·1568·1·4. */
    struct hw_layer stem = layer(HW_LAYER_CONV, 0, 3, 32, 3, 2, 1, 224, 1);
    ck_assert_double_eq(hw_bismo_compute_cycles(p, &stem, 8, 8), 6272 * 64);
    hw_model_free(&m);

    /* FC 1280→1000 at batch 16 on the cloud array: w·a·⌈16/16⌉·⌈1280/256⌉·⌈1000/16⌉ = 315·w·a;
     * the weights stream at 1024 bits per cycle (port bound). */
    m = load("bismo-cloud");
    p = &m.u.bismo;
    ck_assert_double_eq(hw_bismo_bits_per_cycle(p), 1024);
    struct hw_layer fc = layer(HW_LAYER_FC, 52, 1280, 1000, 1, 1, 1, 1, 16);
    c = cost(&m, &fc, 8, 8);
    ck_assert_double_eq(c.compute_cycles, 315 * 64);
    double fmoved = 16 * 1280 * 8 + 1280 * 1000 * 8 + 16 * 1000 * 32;
    double ffill = 16 * 1280 * 8 + 1280 * 16 * 8 + 16 * 16 * 32;
    ck_assert_double_eq_tol(c.cycles, ffill / 1024 + 315 * 64, 1e-6);
    ck_assert_int_eq(c.memory_bound, 0);
    c = cost(&m, &fc, 8, 1); /* few passes: the weight stream bounds, ∝ w */
    ck_assert_int_eq(c.memory_bound, 1);
    /* Memory bound: fill + steady = every bit moved over the ports. */
    ck_assert_double_eq_tol(c.cycles, (fmoved - 16 * 1280 * 7) / 1024, 1e-6);
    hw_model_free(&m);
}
END_TEST

START_TEST(bismo_compute_scales_with_w_times_a) {
    const char *names[] = {"bismo-edge", "bismo-cloud"};
    struct hw_layer *ls;
    int n = mobilenet_v2_layers(1, &ls);
    for (int k = 0; k < 2; k++) {
        struct hw_model m = load(names[k]);
        for (int l = 0; l < n; l++) {
            double one = hw_bismo_compute_cycles(&m.u.bismo, &ls[l], 1, 1);
            for (int w = 1; w <= 8; w++)
                for (int a = 1; a <= 8; a++)
                    ck_assert_double_eq(hw_bismo_compute_cycles(&m.u.bismo, &ls[l], w, a),
                                        w * a * one);
        }
        hw_model_free(&m);
    }
    free(ls);
}
END_TEST

/* ---- every model ------------------------------------------------------------------------- */

START_TEST(monotone_in_both_widths) {
    struct hw_layer *ls;
    int n = mobilenet_v2_layers(1, &ls);
    for (int k = 0; hw_builtin_names[k]; k++) {
        struct hw_model m = load(hw_builtin_names[k]);
        if (m.batch != 1) /* keep the test fast: the cloud models on a subset at their batch */
            for (int l = 0; l < n; l++) ls[l].batch = m.batch;
        for (int l = 0; l < n; l += m.batch == 1 ? 1 : 5)
            for (int w = 1; w <= 8; w++)
                for (int a = 1; a <= 8; a++) {
                    struct hw_cost c = cost(&m, &ls[l], w, a);
                    if (w < 8) {
                        struct hw_cost d = cost(&m, &ls[l], w + 1, a);
                        ck_assert_msg(d.cycles >= c.cycles && d.energy_mj >= c.energy_mj,
                                      "%s %s w%d a%d", m.name, ls[l].name, w, a);
                    }
                    if (a < 8) {
                        struct hw_cost d = cost(&m, &ls[l], w, a + 1);
                        ck_assert_msg(d.cycles >= c.cycles && d.energy_mj >= c.energy_mj,
                                      "%s %s w%d a%d", m.name, ls[l].name, w, a);
                    }
                }
        for (int l = 0; l < n; l++) ls[l].batch = 1;
        hw_model_free(&m);
    }
    free(ls);
}
END_TEST

START_TEST(depthwise_memory_bound_edge_vs_cloud) {
    struct hw_layer *ls;
    int n = mobilenet_v2_layers(1, &ls);
    struct hw_model edge = load("bismo-edge"), cloud = load("bismo-cloud");
    int dw = 0, dw_mem_edge = 0, dw_mem_cloud = 0, pw_mem_edge = 0, pw = 0;
    for (int l = 0; l < n; l++) {
        struct hw_cost e = cost(&edge, &ls[l], 8, 8);
        ls[l].batch = 16;
        struct hw_cost c = cost(&cloud, &ls[l], 8, 8);
        ls[l].batch = 1;
        if (ls[l].type == HW_LAYER_DEPTHWISE) {
            dw++;
            dw_mem_edge += e.memory_bound;
            dw_mem_cloud += c.memory_bound;
        } else if (ls[l].type == HW_LAYER_CONV && ls[l].kh == 1) {
            pw++;
            pw_mem_edge += e.memory_bound;
        }
        /* The cloud array at 16 images is faster per image than the edge one at 1. */
        ck_assert_double_lt(c.latency_ms / 16, e.latency_ms);
    }
    ck_assert_int_eq(dw, 17);
    /* On the edge board the depthwise layers wait for DRAM, the pointwise ones compute; the
     * cloud board's wider memory leaves the depthwise layers compute bound. */
    ck_assert_int_ge(dw_mem_edge, 13);
    ck_assert_int_eq(pw_mem_edge, 0);
    ck_assert_int_eq(dw_mem_cloud, 0);
    ck_assert_int_eq(pw, 34);
    /* BitFusion edge vs cloud: the server's 4096-bit interface removes the stalls. */
    struct hw_model bfe = load("bitfusion-edge"), bfc = load("bitfusion-cloud");
    struct hw_cost e = cost(&bfe, &ls[3], 8, 8), c = cost(&bfc, &ls[3], 8, 8);
    ck_assert_int_eq(e.memory_bound, 1);
    ck_assert_int_eq(c.memory_bound, 0);
    ck_assert_double_lt(c.latency_ms, e.latency_ms);
    hw_model_free(&edge);
    hw_model_free(&cloud);
    hw_model_free(&bfe);
    hw_model_free(&bfc);
    free(ls);
}
END_TEST

/* ---- lookup tables ----------------------------------------------------------------------- */

START_TEST(release_table_backend) {
    struct hw_model m = load("table:tests/fixtures/haq_mobilenetv2_latency_table.npy");
    ck_assert_int_eq(m.kind, HW_TABLE);
    ck_assert_int_eq(m.table.n, 53);
    struct hw_layer *ls;
    int n = mobilenet_v2_layers(16, &ls);
    double s88 = 0, s44 = 0;
    for (int l = 0; l < n; l++) {
        s88 += cost(&m, &ls[l], 8, 8).units;
        s44 += cost(&m, &ls[l], 4, 4).units;
    }
    ck_assert_double_eq(s88, 39624933);
    ck_assert_double_eq_tol(s44 / s88, 0.397, 5e-4);
    /* Shapes the release's table shows: depthwise ∝ a and flat in w, FC ∝ w. */
    ck_assert_double_eq(cost(&m, &ls[1], 1, 1).units, 401408);
    ck_assert_double_eq(cost(&m, &ls[1], 8, 2).units - cost(&m, &ls[1], 8, 1).units, 401632);
    ck_assert_double_eq(cost(&m, &ls[30], 8, 8).units, 331888);
    ck_assert(isnan(cost(&m, &ls[30], 8, 8).latency_ms));
    /* Policy scoring; an unquantized input is the 7-bit column, as the release indexes −1 − 1. */
    struct q_policy p;
    ck_assert_int_eq(q_policy_uniform(&p, 53, 8, 8), 0);
    double v;
    ck_assert_int_eq(hw_table_score(&m.table, &p, &v), 0);
    ck_assert_double_eq(v, 39624933);
    p.a_bits[0] = Q_FLOAT;
    ck_assert_int_eq(hw_table_score(&m.table, &p, &v), 0);
    ck_assert_double_eq(v, 39624933 - 1620752 + *hw_table_at(&m.table, 0, 7, 6));
    ck_assert_double_eq(cost(&m, &ls[0], 8, Q_FLOAT).units, *hw_table_at(&m.table, 0, 7, 6));
    p.w_bits[5] = Q_FLOAT;
    ck_assert_int_ne(hw_table_score(&m.table, &p, &v), 0);
    q_policy_free(&p);
    ck_assert_int_eq(q_policy_uniform(&p, 52, 8, 8), 0);
    ck_assert_int_ne(hw_table_score(&m.table, &p, &v), 0);
    q_policy_free(&p);
    hw_model_free(&m);
    free(ls);
    ck_assert_int_ne(hw_model_load(&m, "table:/nonexistent.npy"), 0);
}
END_TEST

START_TEST(built_tables_round_trip) {
    struct hw_layer *ls;
    int n = mobilenet_v2_layers(1, &ls);
    struct hw_model m = load("bismo-edge");
    struct hw_table t, r;
    ck_assert_int_eq(hw_table_build(&t, &m, ls, n, HW_METRIC_LATENCY), 0);
    for (int l = 0; l < n; l += 7)
        ck_assert_double_eq(*hw_table_at(&t, l, 3, 5), cost(&m, &ls[l], 4, 6).cycles);
    char path[] = "/tmp/haq_tab_XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    ck_assert_int_eq(hw_table_write(&t, path), 0);
    ck_assert_int_eq(hw_table_read(&r, path), 0);
    ck_assert_int_eq(r.n, 53);
    for (int i = 0; i < 53 * 64; i++) ck_assert_double_eq(r.v[i], llround(t.v[i]));
    hw_table_free(&r);
    hw_table_free(&t);
    /* Energy tables in pJ. */
    ck_assert_int_eq(hw_table_build(&t, &m, ls, n, HW_METRIC_ENERGY), 0);
    ck_assert_double_eq_tol(*hw_table_at(&t, 9, 7, 7), cost(&m, &ls[9], 8, 8).energy_mj * 1e9,
                            1e-3);
    hw_table_free(&t);
    ck_assert_int_ne(hw_table_build(&t, &m, ls, n, HW_METRIC_SIZE), 0);
    unlink(path);
    hw_model_free(&m);
    free(ls);
}
END_TEST

/* ---- sizes ------------------------------------------------------------------------------- */

START_TEST(model_size) {
    struct hw_layer pw = layer(HW_LAYER_CONV, 3, 24, 144, 1, 1, 1, 56, 1);
    double n = 24 * 144;
    ck_assert_double_eq(hw_size_bytes(&pw, 4, 4, HW_Q_LINEAR), n / 2 + 8);
    ck_assert_double_eq(hw_size_bytes(&pw, 4, Q_FLOAT, HW_Q_LINEAR), n / 2 + 4);
    ck_assert_double_eq(hw_size_bytes(&pw, 3, 3, HW_Q_KMEANS), ceil(3 * n / 8) + 4 * 8);
    ck_assert_double_eq(hw_size_bytes(&pw, Q_FLOAT, 8, HW_Q_KMEANS), 4 * n);
    ck_assert_double_eq(hw_size_bytes(&pw, Q_FLOAT, 8, HW_Q_LINEAR), 4 * n + 4);
    ck_assert_double_eq(hw_size_bytes(&pw, Q_FLOAT, Q_FLOAT, HW_Q_LINEAR), 4 * n);
    ck_assert_double_eq(hw_size_fp32_bytes(&pw), 4 * n);
    struct hw_layer odd = layer(HW_LAYER_CONV, 3, 3, 1, 1, 1, 1, 8, 1); /* 3 weights, 3 bits */
    ck_assert_double_eq(hw_size_bytes(&odd, 3, 8, HW_Q_LINEAR), 2 + 8);
    struct hw_layer *ls;
    int L = mobilenet_v2_layers(1, &ls);
    double weights = 0;
    for (int l = 0; l < L; l++) weights += hw_layer_weights(&ls[l]);
    ck_assert_double_eq(weights, 3469760); /* HAQ_SPEC §5 */
    free(ls);
}
END_TEST

/* ---- configurations ---------------------------------------------------------------------- */

static char *read_all(const char *path) {
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "%s", path);
    char *b = calloc(1 << 16, 1);
    size_t n = fread(b, 1, (1 << 16) - 1, f);
    b[n] = 0;
    fclose(f);
    return b;
}

START_TEST(configurations) {
    /* The shipped files are the built-ins. */
    for (int k = 0; hw_builtin_names[k]; k++) {
        char path[128];
        snprintf(path, sizeof path, "hw/configs/%s.cfg", hw_builtin_names[k]);
        char *text = read_all(path);
        ck_assert_str_eq(text, hw_builtin_text(hw_builtin_names[k]));
        struct hw_model a, b;
        ck_assert_int_eq(hw_model_load(&a, path), 0);
        ck_assert_int_eq(hw_model_load(&b, hw_builtin_names[k]), 0);
        ck_assert_int_eq(memcmp(&a.u, &b.u, sizeof a.u), 0);
        ck_assert_int_eq(a.batch, b.batch);
        free(text);
    }
    static const struct {
        const char *text, *expect;
    } bad[] = {
        {"model = tpu\n", "c.cfg:1: unknown model 'tpu'"},
        {"batch = 1\n", "no 'model"},
        {"model = bismo\nmodel = bismo\n", "c.cfg:2: 'model' given twice"},
        {"model = bismo\nrows = 16\n", "c.cfg:2: unknown key 'rows' for model bismo"},
        {"model = bismo\n  dm = 8\ndm=8\n", "c.cfg:3: 'dm' given twice"},
        {"model = bismo\ndm = eight\n", "c.cfg:2: 'eight' is not a number"},
        {"model = bismo\ndm = 0\n", "c.cfg:2: dm = 0 outside"},
        {"model = bismo\ndm = 2.5\n", "c.cfg:2: dm must be an integer"},
        {"model = bismo\ndm\n", "c.cfg:2: expected 'key = value'"},
        {"model = bismo\ndm = 8\n", "missing key 'batch'"},
    };
    struct hw_model m;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ck_assert_int_ne(hw_model_parse(&m, bad[i].text, "c.cfg"), 0);
        ck_assert_msg(strstr(nn_errmsg(), bad[i].expect), "case %zu: '%s'", i, nn_errmsg());
    }
    /* A user's accelerator: a built-in with one line changed. */
    const char *src = hw_builtin_text("bismo-edge");
    char *mine = malloc(strlen(src) + 64);
    strcpy(mine, src);
    char *at = strstr(mine, "dm = 8");
    memcpy(at, "dm = 4", 6);
    ck_assert_int_eq(hw_model_parse(&m, mine, "mine.cfg"), 0);
    ck_assert_int_eq(m.u.bismo.dm, 4);
    free(mine);
    ck_assert_int_ne(hw_model_load(&m, "tpu-v9"), 0);
    ck_assert_ptr_nonnull(strstr(nn_errmsg(), "unknown hardware 'tpu-v9'"));
}
END_TEST

/* The energy constants are the figures of the 45 nm synthesis and CACTI tables. */
START_TEST(constants_from_shared_figures) {
    char *synth = read_all(TU_FIXTURE("bitfusion_systolic_array_synth_45nm.csv"));
    const char *row = strstr(synth, "systolic_array,500000000,4,4,8,2,");
    ck_assert_ptr_nonnull(row);
    double area, leak, dyn;
    ck_assert_int_eq(
        sscanf(row, "systolic_array,500000000,4,4,8,2,%lf,%lf,%lf", &area, &leak, &dyn), 3);
    struct hw_model e = load("bitfusion-edge"), c = load("bitfusion-cloud");
    ck_assert_double_eq_tol(e.u.bf.core_pj, dyn / 500e6 * 1e3 * 512 / 16, 1e-3);
    ck_assert_double_eq_tol(c.u.bf.core_pj, e.u.bf.core_pj, 1e-9);
    free(synth);
    char *sram = read_all(TU_FIXTURE("bitfusion_sram_cacti_45nm.csv"));
    struct {
        double size, rd, wr;
    } rows[16];
    int nr = 0;
    for (char *s = strchr(sram, '\n'); s && s[1]; s = strchr(s + 1, '\n')) {
        double blk;
        if (sscanf(s + 1, "%lf,%lf,%lf,%lf", &rows[nr].size, &blk, &rows[nr].rd, &rows[nr].wr) == 4)
            nr++;
    }
    ck_assert_int_eq(nr, 8);
    free(sram);
    /* nJ per 32-bit access → pJ per bit, for the bank sizes of the edge configuration. */
    double want[][3] = {{128, e.u.bf.wbuf_rd_pj, e.u.bf.wbuf_wr_pj},
                        {2048, e.u.bf.ibuf_rd_pj, e.u.bf.ibuf_wr_pj},
                        {512, e.u.bf.obuf_rd_pj, e.u.bf.obuf_wr_pj},
                        {8192, c.u.bf.ibuf_rd_pj, c.u.bf.ibuf_wr_pj},
                        {4096, c.u.bf.obuf_rd_pj, c.u.bf.obuf_wr_pj}};
    for (int k = 0; k < 5; k++) {
        int r = 0;
        while (rows[r].size != want[k][0]) r++;
        ck_assert_double_eq_tol(want[k][1], rows[r].rd / 32 * 1e3, 1e-6);
        ck_assert_double_eq_tol(want[k][2], rows[r].wr / 32 * 1e3, 1e-6);
    }
    /* The edge SRAM sizes divide into the simulator's banks. */
    ck_assert_double_eq(e.u.bf.wbuf_bytes / (e.u.bf.rows * e.u.bf.cols), 128);
    ck_assert_double_eq(e.u.bf.ibuf_bytes / e.u.bf.rows, 2048);
    ck_assert_double_eq(e.u.bf.obuf_bytes / e.u.bf.cols, 512);
}
END_TEST

/* ---- the command ------------------------------------------------------------------------- */

/* Run `haq hw` with stdout captured into out[cap]; returns its exit code. */
static int run_cmd(char *out, size_t cap, int argc, char **argv) {
    return tu_run_cmd(hw_cmd_hw, out, cap, argc, argv);
}

START_TEST(command_rows_and_result) {
    char *out = malloc(1 << 16);
    char *a1[] = {"hw",         "--arch",   "mobilenet_v2", "--hw",
                  "bismo-edge", "--policy", "w4a4",         "--csv"};
    ck_assert_int_eq(run_cmd(out, 1 << 16, 8, a1), 0);
    ck_assert_ptr_nonnull(strstr(out, "features.1.conv.0.0,dw,"));
    ck_assert_ptr_nonnull(strstr(out, "classifier.1,fc,1280000,1280000,4,4,"));
    const char *res = strstr(out, "\nresult hw=bismo-edge metric=latency layers=53 batch=1 ");
    ck_assert_ptr_nonnull(res);
    ck_assert_ptr_nonnull(strstr(res, "size_bytes=1735304 cost_ratio="));
    int lines = 0;
    for (char *s = out; (s = strchr(s, '\n')); s++) lines++;
    ck_assert_int_eq(lines, 1 + 1 + 53 + 1 + 1);
    char *a2[] = {"hw", "--arch", "mobilenet_v2", "--hw",
                  "table:tests/fixtures/haq_mobilenetv2_latency_table.npy"};
    ck_assert_int_eq(run_cmd(out, 1 << 16, 5, a2), 0);
    ck_assert_ptr_nonnull(strstr(out, "cost_ratio=1.000000 table_units=39624933\n"));
    ck_assert_ptr_nonnull(strstr(out, "w4a4          15716150 "));
    char *a3[] = {"hw",       "--arch", "resnet18", "--hw", "bismo-cloud",
                  "--metric", "size",   "--policy", "w8a8"};
    ck_assert_int_eq(run_cmd(out, 1 << 16, 9, a3), 0);
    ck_assert_ptr_nonnull(strstr(out, "metric=size"));
    char *a4[] = {"hw", "--arch", "mobilenet_v2", "--hw", "bismo-edge", "--policy", "w9a9"};
    ck_assert_int_eq(run_cmd(out, 1 << 16, 7, a4), 1);
    char *a5[] = {"hw", "--arch", "mobilenet_v2"};
    ck_assert_int_eq(run_cmd(out, 1 << 16, 3, a5), 2);
    free(out);
}
END_TEST

Suite *suite_hw(void) {
    Suite *s = suite_create("hw");
    TCase *tc = tcase_create("hw");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, bitfusion_hand_layers);
    tcase_add_test(tc, bitfusion_precision_steps);
    tcase_add_test(tc, bismo_hand_layers);
    tcase_add_test(tc, bismo_compute_scales_with_w_times_a);
    tcase_add_test(tc, monotone_in_both_widths);
    tcase_add_test(tc, depthwise_memory_bound_edge_vs_cloud);
    tcase_add_test(tc, release_table_backend);
    tcase_add_test(tc, built_tables_round_trip);
    tcase_add_test(tc, model_size);
    tcase_add_test(tc, configurations);
    tcase_add_test(tc, constants_from_shared_figures);
    tcase_add_test(tc, command_rows_and_result);
    suite_add_tcase(s, tc);
    return s;
}
