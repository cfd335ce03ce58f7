/* haq quantize / haq finetune / haq export: post-training quantization of a checkpoint with a
 * policy, quantization-aware fine-tuning (HAQ's final fine-tune: SGD, cosine learning rate),
 * and the packed export with its exact byte accounting. */
#include "cmd_quant.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/cmd.h"
#include "data/runlog.h"
#include "data/split.h"
#include "nn/checkpoint.h"
#include "nn/cli.h"
#include "nn/error.h"
#include "quantize.h"

enum {
    OPT_MODEL = 4000,
    OPT_POLICY,
    OPT_METHOD,
    OPT_DATA,
    OPT_CALIB,
    OPT_WTH,
    OPT_ATH,
    OPT_PERCH,
    OPT_BATCH,
    OPT_OUT,
    OPT_EPOCHS,
    OPT_LR,
    OPT_WD,
    OPT_MOMENTUM,
    OPT_ITERS,
    OPT_FREE_HIGH,
    OPT_LOADERS,
    OPT_QFIRST,
    OPT_CAP,
};

struct qrun {
    const char *model, *policy, *data, *out;
    struct q_options o;
    struct data_cli_split sp;
    int calib, batch, epochs, loaders, seed;
    float lr, wd, momentum;
    int wd_given;
};

static const char common_help[] =
    "  --model FILE       a float checkpoint (haq train / haq import)\n"
    "  --policy P         a policy file, a HAQ list [[8, -1], [4, 4], …] or w4a4-style\n"
    "  --method M         linear (weights + activations, default) or kmeans (weights)\n"
    "  --data SPEC        data set: calibration and fine-tuning on its train split,\n"
    "                     accuracy on the held-out split (or on HAQ's search splits of the\n"
    "                     train split with --val-size, as haq train and haq eval)\n"
    "  --calib-batches N  linear: batches for the calibration pass (default 1, as HAQ)\n"
    "  --w-thresh T       weight thresholds below 5 bits: kl (default), kl-release, mse, max,\n"
    "                     percentile:P\n"
    "  --a-thresh T       activation ranges below 5 bits: the same choices\n"
    "  --per-channel      one weight threshold per output channel\n"
    "  --quantize-input   quantize the first layer's input too (default: the image stays float)\n"
    "  --act-cap R        cap calibrated activation ranges at R (the release: 6; default none)\n"
    "  --kmeans-iters N   k-means iterations (default 50)\n"
    "  --free-high-bit    k-means: layers above 6 bits stay float\n"
    "  --batch B          batch size (default 64)\n"
    "  --seed S           seed (default 1)\n"
    "  --threads T, --loader-threads N\n";

enum { MODE_QUANTIZE, MODE_FINETUNE, MODE_EXPORT };

static int parse(int argc, char **argv, const char *cmd, int mode, struct qrun *r) {
    int finetune = mode == MODE_FINETUNE;
    static const struct option opts[] = {{"model", required_argument, 0, OPT_MODEL},
                                         {"policy", required_argument, 0, OPT_POLICY},
                                         {"method", required_argument, 0, OPT_METHOD},
                                         {"data", required_argument, 0, OPT_DATA},
                                         {"calib-batches", required_argument, 0, OPT_CALIB},
                                         {"w-thresh", required_argument, 0, OPT_WTH},
                                         {"a-thresh", required_argument, 0, OPT_ATH},
                                         {"per-channel", no_argument, 0, OPT_PERCH},
                                         {"quantize-input", no_argument, 0, OPT_QFIRST},
                                         {"act-cap", required_argument, 0, OPT_CAP},
                                         {"kmeans-iters", required_argument, 0, OPT_ITERS},
                                         {"free-high-bit", no_argument, 0, OPT_FREE_HIGH},
                                         {"batch", required_argument, 0, OPT_BATCH},
                                         {"out", required_argument, 0, OPT_OUT},
                                         {"epochs", required_argument, 0, OPT_EPOCHS},
                                         {"lr", required_argument, 0, OPT_LR},
                                         {"wd", required_argument, 0, OPT_WD},
                                         {"momentum", required_argument, 0, OPT_MOMENTUM},
                                         {"seed", required_argument, 0, NN_OPT_SEED},
                                         {"threads", required_argument, 0, NN_OPT_THREADS},
                                         {"loader-threads", required_argument, 0, OPT_LOADERS},
                                         DATA_CLI_SPLIT_OPTIONS,
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    memset(r, 0, sizeof *r);
    r->o = q_options_default();
    r->sp = (struct data_cli_split)DATA_CLI_SPLIT_DEFAULTS;
    r->calib = 1;
    r->batch = 64;
    r->epochs = 1;
    r->loaders = 1;
    r->seed = 1;
    r->lr = 0.01f;
    r->wd = 4e-5f;
    r->momentum = 0.9f;
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        int sr = data_cli_split_opt(cmd, opt, optarg, &r->sp);
        if (sr < 0) return -1;
        if (sr > 0) continue;
        switch (opt) {
        case 'h': return 1;
        case OPT_MODEL: r->model = optarg; break;
        case OPT_POLICY: r->policy = optarg; break;
        case OPT_DATA: r->data = optarg; break;
        case OPT_OUT: r->out = optarg; break;
        case OPT_PERCH: r->o.per_channel = 1; break;
        case OPT_QFIRST: r->o.quantize_first_input = 1; break;
        case OPT_FREE_HIGH: r->o.free_high_bit = 1; break;
        case OPT_METHOD:
            if (q_method_parse(optarg, &r->o.method)) goto bad_value;
            break;
        case OPT_WTH:
            if (q_thresh_parse(optarg, &r->o.w_method, &r->o.pct)) goto bad_value;
            break;
        case OPT_ATH:
            if (q_thresh_parse(optarg, &r->o.a_method, &r->o.pct)) goto bad_value;
            break;
        case OPT_CALIB:
            if (nn_cli_int(cmd, "calib-batches", optarg, 1, 100000, &r->calib)) return -1;
            break;
        case OPT_CAP:
            if (nn_cli_float(cmd, "act-cap", optarg, 1e-6, 1e30, &r->o.act_cap)) return -1;
            break;
        case OPT_ITERS:
            if (nn_cli_int(cmd, "kmeans-iters", optarg, 0, 10000, &r->o.kmeans_iters)) return -1;
            break;
        case OPT_BATCH:
            if (nn_cli_int(cmd, "batch", optarg, 1, 65536, &r->batch)) return -1;
            break;
        case OPT_EPOCHS:
            if (nn_cli_int(cmd, "epochs", optarg, 0, 100000, &r->epochs)) return -1;
            break;
        case OPT_LOADERS:
            if (nn_cli_int(cmd, "loader-threads", optarg, 1, 16, &r->loaders)) return -1;
            break;
        case NN_OPT_SEED:
            if (nn_cli_int(cmd, "seed", optarg, 0, 2147483647, &r->seed)) return -1;
            break;
        case OPT_LR:
            if (nn_cli_float(cmd, "lr", optarg, 0, 100, &r->lr)) return -1;
            break;
        case OPT_WD:
            if (nn_cli_float(cmd, "wd", optarg, 0, 1, &r->wd)) return -1;
            r->wd_given = 1;
            break;
        case OPT_MOMENTUM:
            if (nn_cli_float(cmd, "momentum", optarg, 0, 0.9999, &r->momentum)) return -1;
            break;
        case NN_OPT_THREADS:
            if (nn_cli_threads(cmd, optarg)) return -1;
            break;
        default:
            return -1;
        }
        continue;
    bad_value:
        fprintf(stderr, "haq %s: %s\n", cmd, nn_errmsg());
        return -1;
    }
    if (mode == MODE_EXPORT) {
        if (!r->model || !r->out || optind < argc) {
            fprintf(stderr, "haq %s: --model and --out are required (haq %s --help)\n", cmd, cmd);
            return -1;
        }
    } else if (!r->model || !r->policy || !r->data || (finetune && !r->out) || optind < argc) {
        fprintf(stderr, "haq %s: --model, --policy, --data%s are required (haq %s --help)\n",
                cmd, finetune ? " and --out" : "", cmd);
        return -1;
    }
    if (data_cli_split_check(cmd, &r->sp)) return -1;
    /* the release's final fine-tune: weight decay 4e-5 (linear) or 1e-5 (k-means) */
    if (!r->wd_given && r->o.method == Q_KMEANS) r->wd = 1e-5f;
    r->o.seed = (uint64_t)r->seed;
    return 0;
}

/* The shared part: model, data, policy, loaders, quantization and the accuracy before and
 * after. The caller frees everything through qstate_free. */
struct qstate {
    struct nn_graph *g;
    struct nn_model_cfg cfg;
    struct data_source *src;
    struct data_subsets sub; /* the search splits (empty without --val-size) */
    int vsplit;              /* the split evaluated: held-out, or the train split's subset */
    struct data_loader *tl, *vl;
    struct nn_batches tb, vb;
    struct q_policy p;
    struct q_kmeans_state km;
    struct nn_epoch_stats fp, pq;
};

static void qstate_free(struct qstate *s) {
    q_kmeans_free(&s->km);
    q_policy_free(&s->p);
    data_loader_free(s->tl);
    data_loader_free(s->vl);
    data_subsets_free(&s->sub);
    nn_graph_free(s->g);
    data_close(s->src);
}

static int quantize(const struct qrun *r, int trainable, struct qstate *s) {
    memset(s, 0, sizeof *s);
    if (data_open(r->data, &s->src)) return -1;
    s->g = nn_ckpt_load(r->model, r->batch, trainable, &s->cfg);
    if (!s->g) return -1;
    if (nn_graph_quantized(s->g))
        return nn_err("%s is already quantized: start from the float checkpoint", r->model);
    if (s->cfg.classes < s->src->classes)
        return nn_err("%s has %d classes, %s has %d", r->model, s->cfg.classes, r->data,
                      s->src->classes);
    if (data_cli_split_open(s->src, r->data, &r->sp, &s->sub, &s->vsplit) ||
        data_batches_open(s->src, DATA_TRAIN, r->batch, s->cfg.input, trainable, (uint64_t)r->seed,
                          r->loaders, s->sub.train, s->sub.n_train, &s->tl, &s->tb) ||
        data_batches_open(s->src, s->vsplit, r->batch, s->cfg.input, 0, (uint64_t)r->seed,
                          r->loaders, s->sub.val, s->sub.n_val, &s->vl, &s->vb))
        return -1;
    if (r->sp.val_size)
        fprintf(stderr, "search splits of the train split (seed %d): %zu train, %zu val\n",
                r->sp.seed, s->sub.n_train, s->sub.n_val);
    if (q_policy_from_arg(&s->p, r->policy, s->g)) return -1;
    if (nn_evaluate(s->g, &s->vb, "float eval", &s->fp)) return -1;
    if (q_apply(s->g, &s->p, &r->o, r->o.method == Q_KMEANS ? &s->km : NULL)) return -1;
    if (r->o.method == Q_LINEAR) {
        /* calibration: the release uses one train batch, seen without augmentation */
        struct data_loader *cl;
        struct nn_batches cb;
        if (data_batches_open(s->src, DATA_TRAIN, r->batch, s->cfg.input, 0, (uint64_t)r->seed,
                              r->loaders, s->sub.train, s->sub.n_train, &cl, &cb))
            return -1;
        int rc = q_calibrate(s->g, &cb, r->calib, &r->o);
        data_loader_free(cl);
        if (rc) return -1;
    }
    return nn_evaluate(s->g, &s->vb, "quantized eval", &s->pq);
}

/* The policy as "w:a,…" for the checkpoint's metadata. */
static char *policy_meta(const struct q_policy *p, enum q_method m) {
    size_t cap = 12 * (size_t)p->n + 32, len = 0;
    char *s = malloc(cap);
    if (!s) return NULL;
    len += (size_t)snprintf(s, cap, "%s:", m == Q_KMEANS ? "kmeans" : "linear");
    for (int l = 0; l < p->n; l++)
        len += (size_t)snprintf(s + len, cap - len, "%s%d/%d", l ? "," : "", p->w_bits[l],
                                p->a_bits[l]);
    return s;
}

int q_cmd_quantize(int argc, char **argv) {
    struct qrun r;
    int pr = parse(argc, argv, "quantize", MODE_QUANTIZE, &r);
    if (pr) {
        printf("usage: haq quantize --model FILE --policy P --data SPEC [options] [--out FILE]\n\n"
               "Post-training quantization: apply a policy to a float checkpoint, calibrate\n"
               "(linear) or cluster (k-means), and report the held-out accuracy before and\n"
               "after.\n\n%s%s  --out FILE         save the quantized checkpoint\n",
               common_help, data_cli_split_help);
        return pr > 0 ? 0 : 2;
    }
    struct qstate s;
    int rc = 1;
    if (quantize(&r, 0, &s)) goto fail;
    if (r.out) {
        char *meta = policy_meta(&s.p, r.o.method);
        const char *extra[2] = {"policy", meta ? meta : ""};
        int bad = nn_ckpt_save(r.out, s.g, &s.cfg, extra, 1);
        free(meta);
        if (bad) goto fail;
    }
    fprintf(stderr, "float top1 %.2f%%  quantized top1 %.2f%% (%+.2f)\n", s.fp.top1, s.pq.top1,
            s.pq.top1 - s.fp.top1);
    printf("result fp_top1=%.2f top1=%.2f top5=%.2f loss=%.4f delta_top1=%.2f images=%zu "
           "method=%s%s%s\n",
           s.fp.top1, s.pq.top1, s.pq.top5, s.pq.loss, s.pq.top1 - s.fp.top1, s.pq.images,
           r.o.method == Q_KMEANS ? "kmeans" : "linear", r.out ? " out=" : "", r.out ? r.out : "");
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "haq quantize: %s\n", nn_errmsg());
done:
    qstate_free(&s);
    return rc;
}

int q_cmd_finetune(int argc, char **argv) {
    struct qrun r;
    int pr = parse(argc, argv, "finetune", MODE_FINETUNE, &r);
    if (pr) {
        printf("usage: haq finetune --model FILE --policy P --data SPEC --out FILE [options]\n\n"
               "Quantization-aware fine-tuning: quantize as haq quantize does, then train with\n"
               "SGD and a cosine learning rate per iteration (the HAQ release's final\n"
               "fine-tune), evaluating after every epoch; the checkpoint keeps the policy.\n\n%s%s"
               "  --epochs E         epochs (default 1)\n"
               "  --lr LR            initial learning rate (default 0.01)\n"
               "  --wd WD            weight decay (default 4e-5 linear, 1e-5 k-means)\n"
               "  --momentum M       (default 0.9)\n"
               "  --out FILE         the fine-tuned checkpoint (FILE.csv: per-epoch log)\n",
               common_help, data_cli_split_help);
        return pr > 0 ? 0 : 2;
    }
    struct qstate s;
    struct nn_sgd o = {0};
    struct data_csv log = {0};
    char *csv = NULL, *meta = NULL;
    int rc = 1;
    if (quantize(&r, 1, &s)) goto fail;
    fprintf(stderr, "float top1 %.2f%%  after quantization %.2f%%\n", s.fp.top1, s.pq.top1);
    struct nn_param_set ps = nn_graph_params(s.g);
    if (nn_sgd_init(&o, ps.n, r.lr, r.momentum, r.wd, 0)) goto fail;
    struct nn_sched sched = {NN_SCHED_COSINE, r.lr, 0, 0, r.epochs, 0, 0};
    struct nn_train_hooks hooks = {&s.km, NULL, q_kmeans_after_step};
    csv = malloc(strlen(r.out) + 8);
    meta = policy_meta(&s.p, r.o.method);
    if (!csv || !meta) {
        nn_err("out of memory");
        goto fail;
    }
    sprintf(csv, "%s.csv", r.out);
    if (data_csv_open(&log, csv, "epoch,lr,train_loss,train_top1,val_loss,val_top1,val_top5,"
                                 "seconds,img_s\n"))
        goto fail;
    char line[256];
    snprintf(line, sizeof line, "0,0,nan,nan,%.5f,%.3f,%.3f,0,0\n", s.pq.loss, s.pq.top1,
             s.pq.top5);
    if (data_csv_add(&log, line)) goto fail;
    struct nn_epoch_stats ts = {0}, vs = s.pq;
    const char *extra[2] = {"policy", meta};
    for (int e = 0; e < r.epochs; e++) {
        char label[48];
        snprintf(label, sizeof label, "qat %d/%d", e + 1, r.epochs);
        if (nn_train_epoch(s.g, &o, &ps, &s.tb, e, &sched,
                           r.o.method == Q_KMEANS ? &hooks : NULL, label, &ts) ||
            nn_evaluate(s.g, &s.vb, "  eval", &vs))
            goto fail;
        snprintf(line, sizeof line, "%d,%.6g,%.5f,%.3f,%.5f,%.3f,%.3f,%.2f,%.1f\n", e + 1,
                 (double)o.lr, ts.loss, ts.top1, vs.loss, vs.top1, vs.top5, ts.seconds, ts.img_s);
        if (data_csv_add(&log, line)) goto fail;
        fprintf(stderr, "epoch %d/%d  loss %.4f  val top1 %.2f%% top5 %.2f%%  %.1f img/s\n", e + 1,
                r.epochs, ts.loss, vs.top1, vs.top5, ts.img_s);
        if (nn_ckpt_save(r.out, s.g, &s.cfg, extra, 1)) goto fail;
    }
    if (r.epochs == 0 && nn_ckpt_save(r.out, s.g, &s.cfg, extra, 1)) goto fail;
    printf("result fp_top1=%.2f ptq_top1=%.2f top1=%.2f top5=%.2f loss=%.4f epochs=%d "
           "images=%zu train_images=%zu method=%s out=%s\n",
           s.fp.top1, s.pq.top1, vs.top1, vs.top5, vs.loss, r.epochs, vs.images,
           s.tb.batches * (size_t)r.batch,
           r.o.method == Q_KMEANS ? "kmeans" : "linear", r.out);
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "haq finetune: %s\n", nn_errmsg());
done:
    free(csv);
    free(meta);
    data_csv_free(&log);
    nn_sgd_free(&o);
    qstate_free(&s);
    return rc;
}

/* ---- haq export / haq import --packed ----------------------------------------------------- */

/* The k-means widths of a checkpoint whose "policy" metadata says kmeans:w/a,… (n layers);
 * 0 when it is not a k-means checkpoint, −1 on a malformed entry. */
static int kmeans_bits_of(const char *path, int n, int *kbits) {
    struct nn_st_file f;
    if (nn_st_open(path, &f)) return -1;
    const char *pm = nn_st_meta(&f, "policy");
    int rc = 0;
    if (pm && !strncmp(pm, "kmeans:", 7)) {
        const char *c = pm + 7;
        for (int l = 0; l < n && rc == 0; l++) {
            char *end;
            long w = strtol(c, &end, 10);
            if (end == c || *end != '/' || w < 0 || w > 8) {
                rc = nn_err("%s: bad 'policy' metadata near '%.20s'", path, c);
                break;
            }
            kbits[l] = (int)w;
            strtol(end + 1, &end, 10);
            c = *end == ',' ? end + 1 : end;
        }
        if (rc == 0) rc = 1;
    }
    nn_st_close(&f);
    return rc;
}

/* Bytes as "1,234,567". */
static const char *grouped(size_t v, char *buf) {
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%zu", v), o = 0;
    for (int i = 0; i < n; i++) {
        if (i && (n - i) % 3 == 0) buf[o++] = ',';
        buf[o++] = tmp[i];
    }
    buf[o] = 0;
    return buf;
}

int q_cmd_export(int argc, char **argv) {
    struct qrun r;
    int pr = parse(argc, argv, "export", MODE_EXPORT, &r);
    if (pr) {
        printf("usage: haq export --model FILE [--policy P [--method M] [--data SPEC]] --out FILE\n\n"
               "Write the packed form of a quantized network: weights as b-bit codes with their\n"
               "thresholds or k-means codebooks, biases and BN in float32, in safetensors\n"
               "(format=haq-packed; haq eval and haq import --packed read it). The model is a\n"
               "quantized checkpoint (haq quantize/finetune --out), exported as it is, or a\n"
               "float one with --policy, quantized here: k-means needs no data, linear needs\n"
               "--data to calibrate quantized activations. Prints the exact byte accounting:\n"
               "packed weights + biases and BN + the safetensors header = the file's size.\n\n%s%s"
               "  --out FILE         the packed file\n",
               common_help, data_cli_split_help);
        return pr > 0 ? 0 : 2;
    }
    struct qstate s;
    memset(&s, 0, sizeof s);
    int rc = 1, *kbits = NULL, n_q = 0;
    char *meta = NULL;
    s.g = nn_ckpt_load(r.model, r.batch, 0, &s.cfg);
    if (!s.g) goto fail;
    n_q = q_layers(s.g, NULL);
    kbits = calloc((size_t)n_q + 1, sizeof(int));
    if (!kbits) {
        nn_err("out of memory");
        goto fail;
    }
    int km = kmeans_bits_of(r.model, n_q, kbits);
    if (km < 0) goto fail;
    int already = km || nn_graph_quantized(s.g);
    if (already && r.policy) {
        nn_err("%s is already quantized: export it without --policy (or start from the float "
               "checkpoint)", r.model);
        goto fail;
    }
    if (!already && !r.policy) {
        nn_err("%s is a float checkpoint: give --policy (and --data for quantized activations)",
               r.model);
        goto fail;
    }
    enum q_method method = km ? Q_KMEANS : Q_LINEAR;
    if (!already) {
        method = r.o.method;
        if (q_policy_from_arg(&s.p, r.policy, s.g) || q_apply(s.g, &s.p, &r.o, NULL)) goto fail;
        if (method == Q_KMEANS) {
            for (int l = 0; l < n_q; l++)
                kbits[l] = r.o.free_high_bit && s.p.w_bits[l] > 6 ? 0 : s.p.w_bits[l];
        } else {
            int acts = 0;
            for (int i = 0; i < s.g->n_nodes; i++) {
                struct nn_qattr *q = nn_node_q(s.g, i);
                acts += q && q->a_bits;
            }
            if (acts && !r.data) {
                nn_err("the policy quantizes activations: give --data to calibrate their ranges");
                goto fail;
            }
            struct nn_batches *cbp = NULL, cb;
            struct data_loader *cl = NULL;
            if (acts) {
                if (data_open(r.data, &s.src) ||
                    (r.sp.val_size &&
                     data_cli_split_open(s.src, r.data, &r.sp, &s.sub, &s.vsplit)) ||
                    data_batches_open(s.src, DATA_TRAIN, r.batch, s.cfg.input, 0,
                                      (uint64_t)r.seed, r.loaders, s.sub.train, s.sub.n_train,
                                      &cl, &cb))
                    goto fail;
                cbp = &cb;
            }
            int bad = q_calibrate(s.g, cbp, r.calib, &r.o);
            data_loader_free(cl);
            if (bad) goto fail;
        }
        meta = policy_meta(&s.p, method);
    } else {
        struct nn_st_file f; /* keep the model's own policy line */
        if (nn_st_open(r.model, &f)) goto fail;
        const char *pm = nn_st_meta(&f, "policy");
        meta = strdup(pm ? pm : "");
        nn_st_close(&f);
    }
    if (!meta) {
        nn_err("out of memory");
        goto fail;
    }
    const char *extra[2] = {"policy", meta};
    struct nn_packed_size sz;
    const int *kb = method == Q_KMEANS ? kbits : NULL;
    if (nn_packed_account(s.g, &s.cfg, kb, extra, 1, &sz) ||
        nn_packed_save(r.out, s.g, &s.cfg, kb, extra, 1))
        goto fail;
    /* read the file back: its size and its tensor data must be the accounting, to the byte */
    struct nn_st_file f;
    if (nn_st_open(r.out, &f)) goto fail;
    size_t data = 0, file = f.size;
    for (int i = 0; i < f.n; i++) data += f.t[i].nbytes;
    nn_st_close(&f);
    if (data != sz.payload_bytes || file != sz.file_bytes) {
        nn_err("%s: %zu bytes (%zu of tensor data), the accounting says %zu (%zu)", r.out, file,
               data, sz.file_bytes, sz.payload_bytes);
        goto fail;
    }
    char b1[32], b2[32], b3[32], b4[32], b5[32], b6[32];
    fprintf(stderr,
            "%s: quantized weights %s B (float32: %s B, %.2fx smaller) + biases and BN %s B\n"
            "  = tensor data %s B, + header %s B = %s B, the size of the file\n",
            r.out, grouped(sz.weight_bytes, b1), grouped(sz.fp32_weight_bytes, b2),
            (double)sz.fp32_weight_bytes / (double)(sz.weight_bytes ? sz.weight_bytes : 1),
            grouped(sz.other_bytes, b3), grouped(sz.payload_bytes, b4),
            grouped(sz.header_bytes, b5), grouped(sz.file_bytes, b6));
    printf("result weight_bytes=%zu fp32_weight_bytes=%zu other_bytes=%zu payload_bytes=%zu "
           "header_bytes=%zu file_bytes=%zu compression=%.4f method=%s out=%s\n",
           sz.weight_bytes, sz.fp32_weight_bytes, sz.other_bytes, sz.payload_bytes,
           sz.header_bytes, sz.file_bytes,
           (double)sz.fp32_weight_bytes / (double)(sz.weight_bytes ? sz.weight_bytes : 1),
           method == Q_KMEANS ? "kmeans" : "linear", r.out);
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "haq export: %s\n", nn_errmsg());
done:
    free(kbits);
    free(meta);
    qstate_free(&s);
    return rc;
}

int q_cmd_import_packed(int argc, char **argv) {
    static const struct option opts[] = {{"packed", required_argument, 0, 'p'},
                                         {"out", required_argument, 0, 'o'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *in = NULL, *out = NULL;
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (opt == 'p') in = optarg;
        else if (opt == 'o') out = optarg;
        else {
            FILE *f = opt == 'h' ? stdout : stderr;
            fprintf(f, "usage: haq import --packed FILE --out FILE\n\n"
                       "Decode a packed file (haq export) back to a float checkpoint: every\n"
                       "weight takes the value the quantized network computes with, and the\n"
                       "policy, thresholds and ranges stay, so haq eval gives the same accuracy.\n");
            return opt == 'h' ? 0 : 2;
        }
    }
    if (!in || !out || optind < argc) {
        fprintf(stderr, "haq import: --packed and --out are required (haq import --help)\n");
        return 2;
    }
    struct nn_model_cfg cfg;
    struct nn_st_file f;
    char *meta = NULL;
    struct nn_graph *g = NULL;
    int rc = 1;
    if (nn_st_open(in, &f)) goto fail;
    const char *fmt = nn_st_meta(&f, "format"), *pm = nn_st_meta(&f, "policy");
    if (!fmt || strcmp(fmt, "haq-packed")) {
        nn_st_close(&f);
        nn_err("%s: not a packed file (format is '%s'; haq export writes them)", in,
               fmt ? fmt : "none");
        goto fail;
    }
    meta = pm ? strdup(pm) : NULL;
    nn_st_close(&f);
    g = nn_ckpt_load(in, 1, 0, &cfg);
    if (!g) goto fail;
    const char *extra[2] = {"policy", meta};
    if (nn_ckpt_save(out, g, &cfg, extra, meta ? 1 : 0)) goto fail;
    fprintf(stderr, "%s: decoded into %s\n", in, out);
    printf("result out=%s\n", out);
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "haq import: %s\n", nn_errmsg());
done:
    free(meta);
    nn_graph_free(g);
    return rc;
}
