/* haq eval: top-1/top-5 of a checkpoint on a data set, and with --hw the hardware cost of its
 * policy (the bits the checkpoint carries, or --policy). It lives here, above data/ and hw/,
 * because it reads both. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "data/cmd.h"
#include "data/runlog.h"
#include "data/split.h"
#include "hw/model.h"
#include "hw/size.h"
#include "nn/checkpoint.h"
#include "nn/cli.h"
#include "nn/error.h"
#include "quant/policy.h"
#include "quant/quantize.h"

static const char eval_help[] =
    "usage: haq eval --model FILE --data SPEC [--hw NAME [--policy P] [--method M]]\n"
    "                [--batch B] [--threads T] [--val-size N ...]\n\n"
    "Top-1/top-5 accuracy and loss of a checkpoint on the held-out split of a data set, or with\n"
    "--val-size on the validation split of HAQ's search splits (drawn from the train split).\n"
    "With --hw, also the latency, energy and size of the checkpoint's policy on that hardware\n"
    "model (cost_ratio against all-8/8; size_ratio against fp32).\n\n"
    "  --hw NAME          bitfusion-edge, bitfusion-cloud, bismo-edge, bismo-cloud, a config\n"
    "                     file or table:FILE.npy\n"
    "  --policy P         price this policy instead of the bits the checkpoint carries (a file,\n"
    "                     e.g. a search's DIR/best.policy, a HAQ list, or w4a4); the accuracy\n"
    "                     stays the checkpoint's own (haq quantize / finetune apply a policy)\n"
    "  --method M         linear (default) or kmeans: the size accounting of --policy\n"
    "  --batch B          images per batch (default 100)\n"
    "  --threads T, --loader-threads N\n"
    "%s";

enum { OPT_MODEL = 6000, OPT_DATA, OPT_BATCH, OPT_LOADERS, OPT_HW, OPT_POLICY, OPT_METHOD };

/* The bits the graph's conv/linear nodes carry, as a policy. */
static int graph_policy(const struct nn_graph *g, struct q_policy *p) {
    int n = q_layers(g, NULL);
    int *nodes = malloc((size_t)(n > 0 ? n : 1) * sizeof(int));
    if (!nodes) return nn_err("out of memory");
    q_layers(g, nodes);
    if (q_policy_uniform(p, n, Q_FLOAT, Q_FLOAT)) {
        free(nodes);
        return -1;
    }
    for (int l = 0; l < n; l++) {
        const struct nn_qattr *q = nn_node_q((struct nn_graph *)g, nodes[l]);
        p->w_bits[l] = q->w_bits;
        p->a_bits[l] = q->a_bits;
    }
    free(nodes);
    return 0;
}

struct costs {
    double latency_ms, energy_mj, size_bytes, fp32_bytes, units, units_8;
};

static int price(const struct nn_graph *g, const char *hw, const struct q_policy *p,
                 enum q_method method, struct costs *c) {
    struct hw_model m;
    struct hw_layer *ls = NULL;
    memset(c, 0, sizeof *c);
    if (hw_model_load(&m, hw)) return -1;
    int rc = -1, n = hw_layers(g, m.batch > 0 ? m.batch : 1, &ls);
    if (n < 0) goto out;
    if (n != p->n) {
        nn_err("the policy has %d layers, the network %d", p->n, n);
        goto out;
    }
    enum hw_quantizer q = method == Q_KMEANS ? HW_Q_KMEANS : HW_Q_LINEAR;
    for (int l = 0; l < n; l++) {
        struct hw_cost k, k8;
        if (hw_cost(&m, &ls[l], p->w_bits[l], p->a_bits[l], &k) ||
            hw_cost(&m, &ls[l], 8, l == 0 && p->a_bits[l] == Q_FLOAT ? Q_FLOAT : 8, &k8))
            goto out;
        c->latency_ms += k.latency_ms;
        c->energy_mj += k.energy_mj;
        c->units += k.units;
        c->units_8 += k8.units;
        c->size_bytes += hw_size_bytes(&ls[l], p->w_bits[l], p->a_bits[l], q);
        c->fp32_bytes += hw_size_fp32_bytes(&ls[l]);
    }
    rc = 0;
out:
    free(ls);
    hw_model_free(&m);
    return rc;
}

int rl_cmd_eval(int argc, char **argv) {
    static const struct option opts[] = {{"model", required_argument, 0, OPT_MODEL},
                                         {"data", required_argument, 0, OPT_DATA},
                                         {"batch", required_argument, 0, OPT_BATCH},
                                         {"hw", required_argument, 0, OPT_HW},
                                         {"policy", required_argument, 0, OPT_POLICY},
                                         {"method", required_argument, 0, OPT_METHOD},
                                         {"threads", required_argument, 0, NN_OPT_THREADS},
                                         {"loader-threads", required_argument, 0, OPT_LOADERS},
                                         DATA_CLI_SPLIT_OPTIONS,
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *model = NULL, *data = NULL, *hw = NULL, *policy = NULL;
    enum q_method method = Q_LINEAR;
    int batch = 100, loaders = 1, opt;
    struct data_cli_split sp = DATA_CLI_SPLIT_DEFAULTS;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        int r = data_cli_split_opt("eval", opt, optarg, &sp);
        if (r < 0) return 2;
        if (r > 0) continue;
        switch (opt) {
        case 'h':
            printf(eval_help, data_cli_split_help);
            return 0;
        case OPT_MODEL: model = optarg; break;
        case OPT_DATA: data = optarg; break;
        case OPT_HW: hw = optarg; break;
        case OPT_POLICY: policy = optarg; break;
        case OPT_METHOD:
            if (q_method_parse(optarg, &method)) {
                fprintf(stderr, "haq eval: %s\n", nn_errmsg());
                return 2;
            }
            break;
        case OPT_BATCH:
            if (nn_cli_int("eval", "batch", optarg, 1, 65536, &batch)) return 2;
            break;
        case OPT_LOADERS:
            if (nn_cli_int("eval", "loader-threads", optarg, 1, 16, &loaders)) return 2;
            break;
        case NN_OPT_THREADS:
            if (nn_cli_threads("eval", optarg)) return 2;
            break;
        default:
            fprintf(stderr, eval_help, data_cli_split_help);
            return 2;
        }
    }
    if (!model || !data || optind < argc || (policy && !hw)) {
        fprintf(stderr, policy && !hw ? "haq eval: --policy goes with --hw\n" : eval_help,
                data_cli_split_help);
        return 2;
    }
    if (data_cli_split_check("eval", &sp)) return 2;
    struct data_source *src = NULL;
    struct data_subsets sub = {0};
    int vsplit;
    struct nn_model_cfg cfg;
    struct nn_graph *g = NULL;
    struct data_loader *L = NULL;
    struct nn_batches b;
    struct q_policy p = {0};
    int rc = 1;
    if (data_open(data, &src) || data_cli_split_open(src, data, &sp, &sub, &vsplit)) goto fail;
    g = nn_ckpt_load(model, batch, 0, &cfg);
    if (!g) goto fail;
    if (cfg.classes < src->classes) {
        nn_err("%s has %d classes, %s has %d", model, cfg.classes, data, src->classes);
        goto fail;
    }
    if (src->c != (cfg.in_channels > 0 ? cfg.in_channels : 3)) {
        nn_err("%s takes %d-channel images, %s has %d", model, cfg.in_channels, data, src->c);
        goto fail;
    }
    struct costs c;
    if (hw) {
        if (policy ? q_policy_from_arg(&p, policy, g) : graph_policy(g, &p)) goto fail;
        if (price(g, hw, &p, method, &c)) goto fail;
    }
    if (data_batches_open(src, vsplit, batch, cfg.input, 0, 1, loaders, sub.val, sub.n_val, &L,
                          &b))
        goto fail;
    struct nn_epoch_stats st;
    if (nn_evaluate(g, &b, "eval", &st)) goto fail;
    printf("result top1=%.2f top5=%.2f loss=%.4f images=%zu img_s=%.1f", st.top1, st.top5,
           st.loss, st.images, st.img_s);
    if (hw)
        printf(" hw=%s latency_ms=%.6g energy_mj=%.6g size_bytes=%.0f cost_ratio=%.6f "
               "size_ratio=%.6f fp32_bytes=%.0f",
               hw, c.latency_ms, c.energy_mj, c.size_bytes, c.units_8 > 0 ? c.units / c.units_8 : 0,
               c.fp32_bytes > 0 ? c.size_bytes / c.fp32_bytes : 0, c.fp32_bytes);
    printf("\n");
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "haq eval: %s\n", nn_errmsg());
done:
    q_policy_free(&p);
    data_subsets_free(&sub);
    data_loader_free(L);
    nn_graph_free(g);
    data_close(src);
    return rc;
}
