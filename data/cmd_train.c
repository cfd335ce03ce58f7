/* haq train: full-precision training of an architecture on a data set. (haq eval, which also
 * prices a policy on a hardware model, lives in rl/cmd_eval.c.) */
#include "cmd.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset.h"
#include "loader.h"
#include "nn/checkpoint.h"
#include "nn/cli.h"
#include "nn/error.h"
#include "nn/pool.h"
#include "nn/progress.h"
#include "nn/safetensors.h"
#include "nn/train.h"
#include "runlog.h"
#include "split.h"

enum {
    OPT_DATA = 2000,
    OPT_EPOCHS,
    OPT_BATCH,
    OPT_LR,
    OPT_MOMENTUM,
    OPT_WD,
    OPT_NESTEROV,
    OPT_SCHED,
    OPT_WARMUP,
    OPT_OUT,
    OPT_CSV,
    OPT_INIT,
    OPT_DROPOUT,
    OPT_LOADERS,
    OPT_MODEL,
    OPT_EVAL_EVERY,
};

static const char train_help[] =
    "usage: haq train --arch ARCH --data SPEC --out FILE [options]\n\n"
    "Train a full-precision network with SGD and save it as a safetensors checkpoint (after\n"
    "every epoch, atomically), with a per-epoch CSV beside it.\n\n"
    "%s"
    "  --data SPEC      data set: synthetic[:classes=10,size=32,train=10000,val=2000,seed=1],\n"
    "                   imagenet:DIR[,classes=FILE], imagenet100:DIR[,classes=FILE],\n"
    "                   fashion-mnist[:DIR], cifar10:DIR, cache:FILE\n"
    "  --epochs E       epochs (default 10)\n"
    "  --batch B        batch size (default 64)\n"
    "  --lr LR          initial learning rate (default 0.05)\n"
    "  --momentum M     SGD momentum (default 0.9)\n"
    "  --wd WD          weight decay on conv/linear weights (default 4e-5)\n"
    "  --nesterov       Nesterov momentum\n"
    "  --sched S        cosine (default), step:N:GAMMA, exp:GAMMA or const, per iteration\n"
    "  --warmup E       linear warm-up epochs (default 0)\n"
    "  --dropout P      classifier dropout of mobilenet_v2 (default 0.2)\n"
    "  --init FILE      start from a checkpoint's weights instead of a random init\n"
    "  --out FILE       checkpoint to write (FILE.csv gets the per-epoch log)\n"
    "  --csv FILE       per-epoch log path (default OUT.csv)\n"
    "  --eval-every N   evaluate the held-out split every N epochs (default 1; 0 = at the end)\n"
    "  --seed S         random seed (default 1)\n"
    "  --threads T      compute threads (default: online CPUs)\n"
    "  --loader-threads N  decoding threads (default 1)\n"
    "%s"
    "With --val-size both splits come from the data's train split (HAQ's search splits): the\n"
    "held-out split is not read.\n";

int data_cmd_train(int argc, char **argv) {
    static const struct option opts[] = {
        NN_CLI_MODEL_OPTIONS,
        {"data", required_argument, 0, OPT_DATA},
        {"epochs", required_argument, 0, OPT_EPOCHS},
        {"batch", required_argument, 0, OPT_BATCH},
        {"lr", required_argument, 0, OPT_LR},
        {"momentum", required_argument, 0, OPT_MOMENTUM},
        {"wd", required_argument, 0, OPT_WD},
        {"nesterov", no_argument, 0, OPT_NESTEROV},
        {"sched", required_argument, 0, OPT_SCHED},
        {"warmup", required_argument, 0, OPT_WARMUP},
        {"dropout", required_argument, 0, OPT_DROPOUT},
        {"init", required_argument, 0, OPT_INIT},
        {"out", required_argument, 0, OPT_OUT},
        {"csv", required_argument, 0, OPT_CSV},
        {"eval-every", required_argument, 0, OPT_EVAL_EVERY},
        {"seed", required_argument, 0, NN_OPT_SEED},
        {"threads", required_argument, 0, NN_OPT_THREADS},
        {"loader-threads", required_argument, 0, OPT_LOADERS},
        DATA_CLI_SPLIT_OPTIONS,
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    struct nn_model_cfg cfg = nn_model_defaults(NULL);
    struct data_cli_split sp = DATA_CLI_SPLIT_DEFAULTS;
    cfg.classes = 0;
    cfg.input = 0;
    const char *data = NULL, *out = NULL, *csv_path = NULL, *init = NULL;
    int epochs = 10, batch = 64, seed = 1, loaders = 1, nesterov = 0, eval_every = 1;
    float lr = 0.05f, momentum = 0.9f, wd = 4e-5f, warmup = 0;
    struct nn_sched sched = {NN_SCHED_COSINE, 0, 0, 0, 0, 0, 0};
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        int r = nn_cli_model_opt("train", opt, optarg, &cfg);
        if (!r) r = data_cli_split_opt("train", opt, optarg, &sp);
        if (r < 0) return 2;
        if (r > 0) continue;
        switch (opt) {
        case 'h':
            printf(train_help, nn_cli_model_help, data_cli_split_help);
            return 0;
        case OPT_DATA: data = optarg; break;
        case OPT_OUT: out = optarg; break;
        case OPT_CSV: csv_path = optarg; break;
        case OPT_INIT: init = optarg; break;
        case OPT_NESTEROV: nesterov = 1; break;
        case OPT_EPOCHS:
            if (nn_cli_int("train", "epochs", optarg, 1, 100000, &epochs)) return 2;
            break;
        case OPT_BATCH:
            if (nn_cli_int("train", "batch", optarg, 1, 65536, &batch)) return 2;
            break;
        case OPT_EVAL_EVERY:
            if (nn_cli_int("train", "eval-every", optarg, 0, 100000, &eval_every)) return 2;
            break;
        case NN_OPT_SEED:
            if (nn_cli_int("train", "seed", optarg, 0, 2147483647, &seed)) return 2;
            break;
        case OPT_LOADERS:
            if (nn_cli_int("train", "loader-threads", optarg, 1, 16, &loaders)) return 2;
            break;
        case OPT_LR:
            if (nn_cli_float("train", "lr", optarg, 0, 100, &lr)) return 2;
            break;
        case OPT_MOMENTUM:
            if (nn_cli_float("train", "momentum", optarg, 0, 0.9999, &momentum)) return 2;
            break;
        case OPT_WD:
            if (nn_cli_float("train", "wd", optarg, 0, 1, &wd)) return 2;
            break;
        case OPT_WARMUP:
            if (nn_cli_float("train", "warmup", optarg, 0, 100000, &warmup)) return 2;
            break;
        case OPT_DROPOUT:
            if (nn_cli_float("train", "dropout", optarg, 0, 0.99, &cfg.dropout)) return 2;
            break;
        case OPT_SCHED:
            if (nn_sched_parse(&sched, optarg)) {
                fprintf(stderr, "haq train: --sched: %s\n", nn_errmsg());
                return 2;
            }
            break;
        case NN_OPT_THREADS:
            if (nn_cli_threads("train", optarg)) return 2;
            break;
        default:
            fprintf(stderr, train_help, nn_cli_model_help, data_cli_split_help);
            return 2;
        }
    }
    if (!cfg.arch || !data || !out || optind < argc) {
        fprintf(stderr, "haq train: --arch, --data and --out are required (haq train --help)\n");
        return 2;
    }
    if (data_cli_split_check("train", &sp)) return 2;
    struct data_source *src;
    if (data_open(data, &src)) {
        fprintf(stderr, "haq train: %s\n", nn_errmsg());
        return 1;
    }
    if (!cfg.classes) cfg.classes = src->classes;
    if (!cfg.input) cfg.input = src->h > 0 ? src->h : 224;
    cfg.in_channels = src->c;
    if (cfg.classes < src->classes) {
        fprintf(stderr, "haq train: --classes %d is fewer than the data's %d\n", cfg.classes,
                src->classes);
        data_close(src);
        return 2;
    }
    int rc = 1;
    struct nn_graph *g = nn_model_build(&cfg);
    struct data_loader *tl = NULL, *vl = NULL;
    struct nn_batches tb, vb;
    struct nn_sgd o = {0};
    struct data_csv log = {0};
    char *csv_default = NULL;
    struct data_subsets sub = {0};
    int vsplit;
    if (data_cli_split_open(src, data, &sp, &sub, &vsplit)) goto fail;
    if (!g || nn_graph_alloc(g, batch, 1)) goto fail;
    struct nn_rng rng;
    nn_rng_seed(&rng, (uint64_t)seed);
    nn_graph_init(g, &rng);
    nn_rng_split(&g->rng, &rng, 1);
    if (init) {
        struct nn_model_cfg icfg;
        struct nn_graph *ig = nn_ckpt_load(init, 1, 0, &icfg);
        if (!ig) goto fail;
        if (ig->n_param_floats != g->n_param_floats || strcmp(icfg.arch, cfg.arch)) {
            nn_err("%s: a %s checkpoint does not fit this %s", init, icfg.arch, cfg.arch);
            nn_graph_free(ig);
            goto fail;
        }
        memcpy(g->param_data, ig->param_data, g->n_param_floats * sizeof(float));
        memcpy(g->buf_data, ig->buf_data, g->n_buf_floats * sizeof(float));
        nn_graph_free(ig);
    }
    if (data_batches_open(src, DATA_TRAIN, batch, cfg.input, 1, (uint64_t)seed, loaders,
                          sub.train, sub.n_train, &tl, &tb) ||
        data_batches_open(src, vsplit, batch, cfg.input, 0, (uint64_t)seed, loaders, sub.val,
                          sub.n_val, &vl, &vb))
        goto fail;
    if (tb.batches == 0) {
        nn_err("%s: fewer training images than one batch of %d", data, batch);
        goto fail;
    }
    struct nn_param_set ps = nn_graph_params(g);
    if (nn_sgd_init(&o, ps.n, lr, momentum, wd, nesterov)) goto fail;
    sched.lr0 = lr;
    sched.total = epochs;
    sched.warmup = warmup;
    if (!csv_path) {
        csv_default = malloc(strlen(out) + 8);
        if (!csv_default) goto fail;
        sprintf(csv_default, "%s.csv", out);
        csv_path = csv_default;
    }
    fprintf(stderr, "train %s (width %g, %d classes, %d px, %s stem) on %s; %zu batches of %d\n",
            cfg.arch, (double)cfg.width, cfg.classes, cfg.input,
            nn_model_small_stem(&cfg) ? "small" : "imagenet", src->desc, tb.batches, batch);
    if (sp.val_size)
        fprintf(stderr, "search splits of the train split (seed %d): %zu train, %zu val\n",
                sp.seed, sub.n_train, sub.n_val);
    if (data_csv_open(&log, csv_path,
                      "epoch,lr,train_loss,train_top1,val_loss,val_top1,val_top5,seconds,img_s\n"))
        goto fail;
    struct nn_epoch_stats ts = {0}, vs = {0};
    double total_s = 0;
    for (int e = 0; e < epochs; e++) {
        char label[48];
        snprintf(label, sizeof label, "epoch %d/%d", e + 1, epochs);
        if (nn_train_epoch(g, &o, &ps, &tb, e, &sched, NULL, label, &ts)) goto fail;
        total_s += ts.seconds;
        int do_eval = (eval_every && (e + 1) % eval_every == 0) || e == epochs - 1;
        if (do_eval && nn_evaluate(g, &vb, "  eval", &vs)) goto fail;
        char line[256];
        snprintf(line, sizeof line, "%d,%.6g,%.5f,%.3f,%.5f,%.3f,%.3f,%.2f,%.1f\n", e + 1,
                 (double)o.lr, ts.loss, ts.top1, do_eval ? vs.loss : NAN, do_eval ? vs.top1 : NAN,
                 do_eval ? vs.top5 : NAN, ts.seconds, ts.img_s);
        if (data_csv_add(&log, line)) goto fail;
        fprintf(stderr, "epoch %d/%d  loss %.4f  train top1 %.2f%%", e + 1, epochs, ts.loss,
                ts.top1);
        if (do_eval) fprintf(stderr, "  val top1 %.2f%% top5 %.2f%%", vs.top1, vs.top5);
        fprintf(stderr, "  %.1f img/s\n", ts.img_s);
        if (nn_ckpt_save(out, g, &cfg, NULL, 0)) goto fail;
    }
    printf("result top1=%.2f top5=%.2f loss=%.4f train_top1=%.2f train_loss=%.4f epochs=%d "
           "img_s=%.1f seconds=%.1f out=%s\n",
           vs.top1, vs.top5, vs.loss, ts.top1, ts.loss, epochs,
           (double)tb.images * epochs / (total_s > 0 ? total_s : 1), total_s, out);
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "haq train: %s\n", nn_errmsg());
done:
    data_subsets_free(&sub);
    free(csv_default);
    data_csv_free(&log);
    nn_sgd_free(&o);
    data_loader_free(tl);
    data_loader_free(vl);
    nn_graph_free(g);
    data_close(src);
    return rc;
}
