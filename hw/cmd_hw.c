#include "cmd_hw.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hw/layer.h"
#include "hw/model.h"
#include "hw/size.h"
#include "nn/cli.h"
#include "nn/error.h"
#include "nn/checkpoint.h"
#include "nn/models.h"
#include "quant/policy.h"

static const char usage_text[] =
    "usage: haq hw (--model FILE | --arch ARCH [--width W] [--classes N] [--input S])\n"
    "              --hw NAME [--metric latency|energy|size] [--policy P] [--batch B]\n"
    "              [--quantizer linear|kmeans] [--csv] [--table OUT.npy] [--show-config]\n"
    "              [--stem small|imagenet]\n"
    "\n"
    "Cost of a network on a hardware model: one row per quantizable layer and the totals\n"
    "for a policy, or a summary of every uniform policy w2a2 ... w8a8 without one.\n"
    "\n"
    "  --arch ARCH        mobilenet_v2, mobilenet_v1, resnet18, resnet34, resnet50\n"
    "  --width W          width multiplier (1.0)\n"
    "  --classes N        classifier outputs (1000)\n"
    "  --input S          input size in pixels (224)\n"
    "  --stem STEM        small or imagenet (automatic: small for inputs <= 64 px)\n"
    "  --model FILE       take the architecture from a checkpoint's metadata\n"
    "  --hw NAME          bitfusion-edge, bitfusion-cloud, bismo-edge, bismo-cloud,\n"
    "                     table:FILE.npy (a HAQ lookup table), or a configuration file\n"
    "  --hw-config FILE   a configuration file (key = value; see --show-config)\n"
    "  --metric M         what cost_ratio compares: latency and energy against all-8/8,\n"
    "                     size against fp32 (latency)\n"
    "  --policy P         w4a4-style shorthand, a HAQ list [[8, -1], ...], or a policy file\n"
    "  --batch B          images per inference (the configuration's batch)\n"
    "  --quantizer Q      size accounting: linear (scales) or kmeans (codebooks) (linear)\n"
    "  --csv              rows as CSV\n"
    "  --table OUT.npy    write the layers x 8 x 8 table of the metric (latency: cycles,\n"
    "                     energy: pJ) as the HAQ release's .npy\n"
    "  --show-config      print the configuration text of --hw and exit\n";

struct totals {
    double units, latency_ms, energy_mj, size_bytes, fp32_bytes;
};

/* Cost of the network under per-layer bits w[], a[]; rows printed to f when f is not NULL. */
static int score(const struct hw_model *m, const struct hw_layer *ls, int n, const int *w,
                 const int *a, enum hw_quantizer q, struct totals *t, FILE *f, int csv) {
    memset(t, 0, sizeof *t);
    for (int i = 0; i < n; i++) {
        struct hw_cost c;
        if (hw_cost(m, &ls[i], w[i], a[i], &c)) return -1;
        double size = hw_size_bytes(&ls[i], w[i], a[i], q);
        t->units += c.units;
        t->latency_ms += c.latency_ms;
        t->energy_mj += c.energy_mj;
        t->size_bytes += size;
        t->fp32_bytes += hw_size_fp32_bytes(&ls[i]);
        if (!f) continue;
        const char *bound = m->kind == HW_TABLE ? "-" : c.memory_bound ? "memory" : "compute";
        int wp = w[i] == Q_FLOAT ? 32 : w[i], ap = a[i] == Q_FLOAT ? -1 : a[i];
        if (csv)
            fprintf(f, "%s,%s,%.0f,%.0f,%d,%d,%.0f,%.6g,%.6g,%s\n", ls[i].name,
                    hw_layer_type_name(ls[i].type), hw_layer_macs(&ls[i]), hw_layer_weights(&ls[i]),
                    wp, ap, c.units, c.latency_ms, c.energy_mj, bound);
        else
            fprintf(f, "%-28s %-4s %12.0f %9.0f %2d %2d %12.0f %11.5f %11.5f %s\n", ls[i].name,
                    hw_layer_type_name(ls[i].type), hw_layer_macs(&ls[i]), hw_layer_weights(&ls[i]),
                    wp, ap, c.units, c.latency_ms, c.energy_mj, bound);
    }
    return 0;
}

static double metric_total(const struct totals *t, enum hw_metric metric, int table) {
    if (metric == HW_METRIC_SIZE) return t->size_bytes;
    if (table) return t->units;
    return metric == HW_METRIC_LATENCY ? t->latency_ms : t->energy_mj;
}

static int fail(const char *what) {
    fprintf(stderr, "haq hw: %s\n", what);
    return 1;
}

int hw_cmd_hw(int argc, char **argv) {
    static const struct option longopts[] = {NN_CLI_MODEL_OPTIONS,
                                             {"model", required_argument, 0, 'm'},
                                             {"hw", required_argument, 0, 'H'},
                                             {"hw-config", required_argument, 0, 'F'},
                                             {"metric", required_argument, 0, 'M'},
                                             {"policy", required_argument, 0, 'P'},
                                             {"batch", required_argument, 0, 'B'},
                                             {"quantizer", required_argument, 0, 'Q'},
                                             {"csv", no_argument, 0, 'c'},
                                             {"table", required_argument, 0, 'T'},
                                             {"show-config", no_argument, 0, 'S'},
                                             {"help", no_argument, 0, 'h'},
                                             {0, 0, 0, 0}};
    const char *model_file = NULL, *hw = NULL, *policy_arg = NULL;
    const char *table_out = NULL;
    struct nn_model_cfg cfg = nn_model_defaults(NULL);
    enum hw_metric metric = HW_METRIC_LATENCY;
    enum hw_quantizer quantizer = HW_Q_LINEAR;
    int csv = 0, show = 0, batch = 0, opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        int mo = nn_cli_model_opt("hw", opt, optarg, &cfg);
        if (mo < 0) return 2;
        if (mo > 0) continue;
        switch (opt) {
        case 'm':
            model_file = optarg;
            break;
        case 'H':
        case 'F':
            hw = optarg;
            break;
        case 'M':
            if (!hw_metric_parse(optarg, &metric)) break;
            fprintf(stderr, "haq hw: %s\n", nn_errmsg());
            return 2;
        case 'P':
            policy_arg = optarg;
            break;
        case 'B':
            if (nn_cli_int("hw", "batch", optarg, 1, 1 << 16, &batch)) return 2;
            break;
        case 'Q':
            if (!strcmp(optarg, "linear"))
                quantizer = HW_Q_LINEAR;
            else if (!strcmp(optarg, "kmeans"))
                quantizer = HW_Q_KMEANS;
            else {
                fprintf(stderr, "haq hw: --quantizer linear|kmeans\n");
                return 2;
            }
            break;
        case 'c':
            csv = 1;
            break;
        case 'T':
            table_out = optarg;
            break;
        case 'S':
            show = 1;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return 0;
        default:
            fputs(usage_text, stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "haq hw: unexpected argument '%s'\n%s", argv[optind], usage_text);
        return 2;
    }
    if (!hw) {
        fprintf(stderr, "haq hw: --hw is required\n%s", usage_text);
        return 2;
    }
    if (show) {
        const char *text = hw_builtin_text(hw);
        if (!text) return fail("--show-config prints a built-in configuration");
        fputs(text, stdout);
        return 0;
    }
    if (model_file) { /* the architecture and input size from the checkpoint's metadata */
        struct nn_st_file f;
        if (nn_st_open(model_file, &f)) return fail(nn_errmsg());
        int bad = nn_ckpt_cfg(&f, model_file, &cfg);
        nn_st_close(&f);
        if (bad) return fail(nn_errmsg());
    }
    if (!cfg.arch) {
        fprintf(stderr, "haq hw: --arch or --model is required\n%s", usage_text);
        return 2;
    }

    struct hw_model m;
    if (hw_model_load(&m, hw)) return fail(nn_errmsg());
    struct nn_graph *g = nn_model_build(&cfg);
    if (!g) {
        hw_model_free(&m);
        return fail(nn_errmsg());
    }
    struct hw_layer *ls = NULL;
    struct q_policy pol = {0, NULL, NULL};
    int *w8 = NULL, *a8 = NULL, rc = 1;
    int n = hw_layers(g, batch ? batch : m.batch ? m.batch : 1, &ls);
    if (n < 0) goto out;
    if (m.kind == HW_TABLE && m.table.n != n) {
        nn_err("%s has %d rows, %s has %d quantizable layers", hw, m.table.n, cfg.arch, n);
        goto out;
    }
    w8 = malloc((size_t)n * sizeof *w8);
    a8 = malloc((size_t)n * sizeof *a8);
    if (!w8 || !a8) {
        nn_err("out of memory");
        goto out;
    }
    if (table_out) {
        struct hw_table t;
        if (hw_table_build(&t, &m, ls, n, metric)) goto out;
        int wrc = hw_table_write(&t, table_out);
        hw_table_free(&t);
        if (wrc) goto out;
        fprintf(stderr, "haq hw: wrote %s (%d x 8 x 8, %s in %s)\n", table_out, n,
                metric == HW_METRIC_ENERGY ? "energy" : "latency",
                metric == HW_METRIC_ENERGY ? "pJ"
                : m.kind == HW_TABLE       ? "table units"
                                           : "cycles");
    }
    for (int i = 0; i < n; i++) w8[i] = a8[i] = 8;
    struct totals base, t;
    if (score(&m, ls, n, w8, a8, quantizer, &base, NULL, 0)) goto out;
    int table = m.kind == HW_TABLE;
    double ref = metric == HW_METRIC_SIZE ? base.fp32_bytes : metric_total(&base, metric, table);

    printf("# %s on %s, batch %d, %d quantizable layers\n", cfg.arch, m.name, ls[0].batch, n);
    if (policy_arg) {
        if (q_policy_from_arg(&pol, policy_arg, g)) goto out;
        if (csv)
            printf("name,type,macs,weights,w_bits,a_bits,%s,latency_ms,energy_mj,bound\n",
                   table ? "units" : "cycles");
        else
            printf("%-28s %-4s %12s %9s %2s %2s %12s %11s %11s %s\n", "name", "type", "macs",
                   "weights", "w", "a", table ? "units" : "cycles", "latency_ms", "energy_mj",
                   "bound");
        if (score(&m, ls, n, pol.w_bits, pol.a_bits, quantizer, &t, stdout, csv)) goto out;
        printf("total: %s=%.0f latency_ms=%.6g energy_mj=%.6g size_bytes=%.0f\n",
               table ? "units" : "cycles", t.units, t.latency_ms, t.energy_mj, t.size_bytes);
    } else {
        t = base;
        if (csv)
            printf("policy,%s,latency_ms,energy_mj,size_bytes,cost_ratio\n",
                   table ? "units" : "cycles");
        else
            printf("%-7s %14s %12s %12s %12s %10s\n", "policy", table ? "units" : "cycles",
                   "latency_ms", "energy_mj", "size_bytes", "cost_ratio");
        for (int b = 2; b <= 8; b++) {
            struct totals u;
            int *wb = malloc((size_t)n * sizeof *wb);
            if (!wb) {
                nn_err("out of memory");
                goto out;
            }
            for (int i = 0; i < n; i++) wb[i] = b;
            int src = score(&m, ls, n, wb, wb, quantizer, &u, NULL, 0);
            free(wb);
            if (src) goto out;
            double r = metric_total(&u, metric, table) / ref;
            if (csv)
                printf("w%da%d,%.0f,%.6g,%.6g,%.0f,%.6f\n", b, b, u.units, u.latency_ms,
                       u.energy_mj, u.size_bytes, r);
            else
                printf("w%da%d    %14.0f %12.5f %12.5f %12.0f %10.4f\n", b, b, u.units,
                       u.latency_ms, u.energy_mj, u.size_bytes, r);
        }
    }
    printf("result hw=%s metric=%s layers=%d batch=%d latency_ms=%.6g energy_mj=%.6g "
           "size_bytes=%.0f cost_ratio=%.6f",
           m.name,
           metric == HW_METRIC_SIZE     ? "size"
           : metric == HW_METRIC_ENERGY ? "energy"
                                        : "latency",
           n, ls[0].batch, t.latency_ms, t.energy_mj, t.size_bytes,
           metric_total(&t, metric, table) / ref);
    if (table)
        printf(" table_units=%.0f", t.units);
    else
        printf(" cycles=%.0f", t.units);
    printf("\n");
    rc = 0;
out:
    if (rc) fprintf(stderr, "haq hw: %s\n", nn_errmsg());
    free(w8);
    free(a8);
    free(ls);
    q_policy_free(&pol);
    nn_graph_free(g);
    hw_model_free(&m);
    return rc;
}
