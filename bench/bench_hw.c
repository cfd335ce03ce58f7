/* Hardware models: time to score a policy from a lookup table, time to build a full table
 * (ResNet-50, every built-in model), and the release's MobileNetV2 table against our BISMO
 * cloud model at batch 16 (rank correlation of the 53 × 8 × 8 entries, uniform 4/4 : 8/8).
 *   build/bench_hw [RELEASE_TABLE.npy]   (default tests/fixtures/haq_mobilenetv2_latency_table.npy)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "hw/model.h"
#include "nn/cpu.h"
#include "nn/error.h"
#include "nn/models.h"
#include "nn/rng.h"
#include "quant/policy.h"

static int layers_of(const char *arch, int batch, struct hw_layer **ls) {
    struct nn_model_cfg cfg = nn_model_defaults(arch);
    struct nn_graph *g = nn_model_build(&cfg);
    if (!g) return -1;
    int n = hw_layers(g, batch, ls);
    nn_graph_free(g);
    return n;
}

static const double *sort_key;
static int by_key(const void *a, const void *b) {
    double x = sort_key[*(const int *)a], y = sort_key[*(const int *)b];
    return (x > y) - (x < y);
}

/* Ranks 1..n, ties sharing their average rank. */
static void ranks(const double *v, int n, double *r) {
    int *idx = malloc((size_t)n * sizeof *idx);
    for (int i = 0; i < n; i++) idx[i] = i;
    sort_key = v;
    qsort(idx, (size_t)n, sizeof *idx, by_key);
    for (int i = 0; i < n;) {
        int j = i;
        while (j + 1 < n && v[idx[j + 1]] == v[idx[i]]) j++;
        for (int k = i; k <= j; k++) r[idx[k]] = (i + j) / 2.0 + 1;
        i = j + 1;
    }
    free(idx);
}

/* Spearman's ρ: Pearson correlation of the ranks. */
static double spearman(const double *a, const double *b, int n) {
    double *ra = malloc((size_t)n * sizeof *ra), *rb = malloc((size_t)n * sizeof *rb);
    ranks(a, n, ra);
    ranks(b, n, rb);
    double ma = 0, mb = 0, sab = 0, saa = 0, sbb = 0;
    for (int i = 0; i < n; i++) {
        ma += ra[i] / n;
        mb += rb[i] / n;
    }
    for (int i = 0; i < n; i++) {
        sab += (ra[i] - ma) * (rb[i] - mb);
        saa += (ra[i] - ma) * (ra[i] - ma);
        sbb += (rb[i] - mb) * (rb[i] - mb);
    }
    free(ra);
    free(rb);
    return sab / sqrt(saa * sbb);
}

static double uniform_ratio(const struct hw_table *t, int b) {
    double s = 0, s8 = 0;
    for (int l = 0; l < t->n; l++) {
        s += *hw_table_at(t, l, b - 1, b - 1);
        s8 += *hw_table_at(t, l, 7, 7);
    }
    return s / s8;
}

static int fail(void) {
    fprintf(stderr, "bench_hw: %s\n", nn_errmsg());
    return 1;
}

int main(int argc, char **argv) {
    const char *release = argc > 1 ? argv[1] : "tests/fixtures/haq_mobilenetv2_latency_table.npy";
    struct hw_layer *ls;
    int n = layers_of("resnet50", 1, &ls);
    if (n < 0) return fail();

    /* Building a table: every built-in model on ResNet-50 at its batch. */
    struct hw_table t50 = {0, NULL};
    for (int k = 0; hw_builtin_names[k]; k++) {
        struct hw_model m;
        if (hw_model_load(&m, hw_builtin_names[k])) return fail();
        for (int l = 0; l < n; l++) ls[l].batch = m.batch;
        struct hw_table t;
        double t0 = nn_now();
        if (hw_table_build(&t, &m, ls, n, HW_METRIC_LATENCY)) return fail();
        double ms = (nn_now() - t0) * 1e3;
        printf("bench=hw what=table model=resnet50 hw=%s layers=%d batch=%d ms=%.1f\n", m.name, n,
               m.batch, ms);
        if (k == 0)
            t50 = t;
        else
            hw_table_free(&t);
        hw_model_free(&m);
    }

    /* Scoring a policy from the table: random 2..8-bit policies, as the search draws them. */
    struct q_policy p;
    if (q_policy_uniform(&p, n, 8, 8)) return fail();
    struct nn_rng rng;
    nn_rng_seed(&rng, 234);
    int reps = 200000;
    double sink = 0, t0 = nn_now();
    for (int r = 0; r < reps; r++) {
        int l = (int)nn_rng_below(&rng, (uint64_t)n);
        p.w_bits[l] = 2 + (int)nn_rng_below(&rng, 7);
        p.a_bits[l] = 2 + (int)nn_rng_below(&rng, 7);
        double v;
        if (hw_table_score(&t50, &p, &v)) return fail();
        sink += v;
    }
    double us = (nn_now() - t0) * 1e6 / reps;
    printf("bench=hw what=score model=resnet50 layers=%d us=%.3f checksum=%.6g\n", n, us,
           sink / reps);
    q_policy_free(&p);
    hw_table_free(&t50);
    free(ls);

    /* The release's table against our BISMO cloud model, MobileNetV2 at batch 16. */
    struct hw_model rel, bis;
    char spec[1024];
    snprintf(spec, sizeof spec, "table:%s", release);
    if (hw_model_load(&rel, spec)) {
        fprintf(stderr, "bench_hw: %s: skipping the comparison\n", nn_errmsg());
        return 0;
    }
    if (hw_model_load(&bis, "bismo-cloud")) return fail();
    n = layers_of("mobilenet_v2", bis.batch, &ls);
    struct hw_table tm;
    if (n != rel.table.n || hw_table_build(&tm, &bis, ls, n, HW_METRIC_LATENCY)) return fail();
    int cells = n * HW_TABLE_BITS * HW_TABLE_BITS;
    double rho = spearman(rel.table.v, tm.v, cells);
    /* Per layer class: the correlation of the 64 entries of each layer, averaged. */
    double rho_dw = 0, rho_pw = 0;
    int ndw = 0, npw = 0;
    for (int l = 0; l < n; l++) {
        double r = spearman(hw_table_at(&rel.table, l, 0, 0), hw_table_at(&tm, l, 0, 0), 64);
        if (ls[l].type == HW_LAYER_DEPTHWISE) {
            rho_dw += r;
            ndw++;
        } else {
            rho_pw += r;
            npw++;
        }
    }
    printf("bench=hw what=compare model=mobilenet_v2 hw=bismo-cloud batch=%d cells=%d "
           "spearman=%.4f spearman_layer_dw=%.4f spearman_layer_other=%.4f "
           "ratio44_release=%.4f ratio44_model=%.4f ratio22_release=%.4f ratio22_model=%.4f\n",
           bis.batch, cells, rho, rho_dw / ndw, rho_pw / npw, uniform_ratio(&rel.table, 4),
           uniform_ratio(&tm, 4), uniform_ratio(&rel.table, 2), uniform_ratio(&tm, 2));
    hw_table_free(&tm);
    hw_model_free(&rel);
    hw_model_free(&bis);
    free(ls);
    return 0;
}
