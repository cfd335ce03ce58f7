/* haq data info / haq data cache: what a data set holds, and its packed cache. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "cmd.h"
#include "dataset.h"
#include "nn/cli.h"
#include "nn/cpu.h"
#include "nn/error.h"
#include "nn/pool.h"
#include "nn/progress.h"
#include "split.h"

enum { OPT_DATA = 4000, OPT_SCAN, OPT_SAMPLE, OPT_SIZE, OPT_OUT };

const char data_cli_split_help[] =
    "  --val-size N     HAQ's search splits from the train split: N images for validation\n"
    "  --train-size M   and the next M for training (default: all the rest)\n"
    "  --split-seed S   seed of the shuffle (default 1, the release's; NumPy's permutation)\n";

int data_cli_split_opt(const char *cmd, int opt, const char *arg, struct data_cli_split *sp) {
    switch (opt) {
    case DATA_OPT_VAL_SIZE:
        return nn_cli_int(cmd, "val-size", arg, 1, 2147483647, &sp->val_size) ? -1 : 1;
    case DATA_OPT_TRAIN_SIZE:
        return nn_cli_int(cmd, "train-size", arg, 1, 2147483647, &sp->train_size) ? -1 : 1;
    case DATA_OPT_SPLIT_SEED:
        return nn_cli_int(cmd, "split-seed", arg, 0, 2147483647, &sp->seed) ? -1 : 1;
    default: return 0;
    }
}

int data_cli_split_check(const char *cmd, const struct data_cli_split *sp) {
    if (sp->val_size == 0 && (sp->train_size || sp->seed != 1)) {
        fprintf(stderr, "haq %s: --train-size and --split-seed go with --val-size\n", cmd);
        return -1;
    }
    return 0;
}

int data_cli_split_open(struct data_source *src, const char *data,
                        const struct data_cli_split *sp, struct data_subsets *sub, int *split) {
    memset(sub, 0, sizeof *sub);
    if (sp->val_size) {
        *split = DATA_TRAIN;
        return data_search_split(src, (size_t)sp->val_size, (size_t)sp->train_size,
                                 (uint32_t)sp->seed, sub);
    }
    *split = DATA_VAL;
    if (src->count[DATA_VAL] == 0)
        return nn_err("%s: the held-out split has no images (a train-only folder takes "
                      "--val-size N [--train-size M] for the search splits)",
                      data);
    return 0;
}

/* ---- data info ----------------------------------------------------------------------------- */

static const char info_help[] =
    "usage: haq data info --data SPEC [--sample N | --scan]\n\n"
    "What a data set holds: kind, classes, images per split, channels, image sizes (fixed, or\n"
    "the range over N evenly spaced images per split, or over all of them with --scan), entries\n"
    "skipped while scanning folders, and the normalization. --scan also checks a cache's pixel\n"
    "CRC.\n\n"
    "  --data SPEC      data set (haq train --help lists the kinds)\n"
    "  --sample N       images per split whose size is read (default 100)\n"
    "  --scan           read the size of every image\n";

struct size_range {
    int min_w, max_w, min_h, max_h;
    size_t n;
};

static int survey(struct data_source *s, size_t sample, struct size_range *r) {
    r->min_w = r->min_h = 1 << 30;
    r->max_w = r->max_h = 0;
    r->n = 0;
    size_t total = 0;
    for (int sp = 0; sp < 2; sp++)
        total += sample < s->count[sp] ? sample : s->count[sp];
    struct nn_progress prog;
    nn_progress_start(&prog, "scan", total, "img");
    struct data_image im = {0};
    int rc = 0;
    for (int sp = 0; sp < 2 && !rc; sp++) {
        size_t n = s->count[sp], m = sample < n ? sample : n;
        for (size_t i = 0; i < m && !rc; i++) {
            size_t idx = (size_t)((double)i * n / m); /* evenly spaced, first image included */
            int w, h, label;
            if (s->ops->dims) {
                rc = s->ops->dims(s, sp, idx, &w, &h);
            } else {
                rc = data_load(s, sp, idx, &im, &label);
                w = im.w;
                h = im.h;
            }
            if (rc) break;
            if (w < r->min_w) r->min_w = w;
            if (w > r->max_w) r->max_w = w;
            if (h < r->min_h) r->min_h = h;
            if (h > r->max_h) r->max_h = h;
            r->n++;
            nn_progress_update(&prog, r->n, NULL);
        }
    }
    nn_progress_end(&prog);
    data_image_free(&im);
    return rc;
}

static int data_info(int argc, char **argv) {
    static const struct option opts[] = {{"data", required_argument, 0, OPT_DATA},
                                         {"sample", required_argument, 0, OPT_SAMPLE},
                                         {"scan", no_argument, 0, OPT_SCAN},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *data = NULL;
    int sample = 100, scan = 0, opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (opt) {
        case 'h':
            fputs(info_help, stdout);
            return 0;
        case OPT_DATA: data = optarg; break;
        case OPT_SCAN: scan = 1; break;
        case OPT_SAMPLE:
            if (nn_cli_int("data info", "sample", optarg, 1, 2147483647, &sample)) return 2;
            break;
        default:
            fputs(info_help, stderr);
            return 2;
        }
    }
    if (!data || optind < argc) {
        fputs(info_help, stderr);
        return 2;
    }
    struct data_source *s;
    if (data_open(data, &s)) {
        fprintf(stderr, "haq data info: %s\n", nn_errmsg());
        return 1;
    }
    struct size_range r = {s->w, s->w, s->h, s->h, 0};
    int rc = 0, fixed = s->h > 0 && s->w > 0, crc = -1;
    if (!fixed) rc = survey(s, scan ? SIZE_MAX : (size_t)sample, &r);
    if (!rc && scan && !strcmp(s->kind, "cache")) {
        rc = data_cache_verify(s);
        crc = rc == 0;
    }
    if (rc) {
        fprintf(stderr, "haq data info: %s\n", nn_errmsg());
        data_close(s);
        return 1;
    }
    printf("kind      %s\nsource    %s\nclasses   %d", s->kind, s->desc, s->classes);
    if (s->class_names) {
        int show = s->classes <= 10 ? s->classes : 4;
        for (int k = 0; k < show; k++) printf("%s%s", k ? ", " : " (", s->class_names[k]);
        if (show < s->classes) printf(", … %s", s->class_names[s->classes - 1]);
        printf(")");
    }
    printf("\ntrain     %zu images\nval       %zu images\nchannels  %d\n", s->count[DATA_TRAIN],
           s->count[DATA_VAL], s->c);
    if (fixed)
        printf("size      %dx%d (w x h, every image)\n", s->w, s->h);
    else if (r.n)
        printf("size      varies: w %d..%d, h %d..%d over %s%zu images\n", r.min_w, r.max_w,
               r.min_h, r.max_h, scan ? "all " : "a sample of ", r.n);
    else
        printf("size      varies (no images)\n");
    if (!strcmp(s->kind, "imagenet") || !strcmp(s->kind, "imagenet100"))
        printf("skipped   %zu entries of the class directories (not JPEG/PPM/PGM files)\n",
               s->skipped);
    printf("mean     ");
    for (int c = 0; c < s->c; c++) printf(" %.4f", (double)s->mean[c]);
    printf("\nstd      ");
    for (int c = 0; c < s->c; c++) printf(" %.4f", (double)s->std[c]);
    printf("\n");
    if (crc >= 0) printf("pixels    CRC-32 ok\n");
    printf("result kind=%s classes=%d train=%zu val=%zu c=%d h=%d w=%d min_w=%d max_w=%d "
           "min_h=%d max_h=%d sampled=%zu skipped=%zu\n",
           s->kind, s->classes, s->count[DATA_TRAIN], s->count[DATA_VAL], s->c, s->h, s->w,
           r.n || fixed ? r.min_w : 0, r.max_w, r.n || fixed ? r.min_h : 0, r.max_h, r.n,
           s->skipped);
    data_close(s);
    return 0;
}

/* ---- data cache ---------------------------------------------------------------------------- */

static const char cache_help[] =
    "usage: haq data cache --data SPEC --out FILE [--size S] [search splits] [--threads T]\n\n"
    "Decode a data set once into a packed cache of 8-bit pixels (read back as --data\n"
    "cache:FILE at memory speed). --size S resizes each image so that its shorter side is S and\n"
    "keeps the center S×S crop (images already S×S are stored as they are); without it the\n"
    "source's images must share one size. For ImageNet, S = 256 keeps the eval transform as it\n"
    "is (shorter side 256, center 224). With --val-size the cache holds the search splits\n"
    "instead: its train split the M search-training images, its held-out split the N\n"
    "validation ones. The file is written under a temporary name and renamed when complete; its\n"
    "bytes do not depend on the thread count.\n\n"
    "  --data SPEC      data set to pack\n"
    "  --out FILE       cache file to write\n"
    "  --size S         side of the stored square images\n"
    "%s"
    "  --threads T      decoding threads (default: online CPUs)\n";

static int data_cache(int argc, char **argv) {
    static const struct option opts[] = {{"data", required_argument, 0, OPT_DATA},
                                         {"out", required_argument, 0, OPT_OUT},
                                         {"size", required_argument, 0, OPT_SIZE},
                                         DATA_CLI_SPLIT_OPTIONS,
                                         {"threads", required_argument, 0, NN_OPT_THREADS},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *data = NULL, *out = NULL;
    int size = 0, opt;
    struct data_cli_split sp = DATA_CLI_SPLIT_DEFAULTS;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        int r = data_cli_split_opt("data cache", opt, optarg, &sp);
        if (r < 0) return 2;
        if (r > 0) continue;
        switch (opt) {
        case 'h':
            printf(cache_help, data_cli_split_help);
            return 0;
        case OPT_DATA: data = optarg; break;
        case OPT_OUT: out = optarg; break;
        case OPT_SIZE:
            if (nn_cli_int("data cache", "size", optarg, 1, 65535, &size)) return 2;
            break;
        case NN_OPT_THREADS:
            if (nn_cli_threads("data cache", optarg)) return 2;
            break;
        default:
            fprintf(stderr, cache_help, data_cli_split_help);
            return 2;
        }
    }
    if (!data || !out || optind < argc) {
        fprintf(stderr, cache_help, data_cli_split_help);
        return 2;
    }
    if (data_cli_split_check("data cache", &sp)) return 2;
    struct data_source *s;
    if (data_open(data, &s)) {
        fprintf(stderr, "haq data cache: %s\n", nn_errmsg());
        return 1;
    }
    struct data_cache_cfg cfg = data_cache_defaults(size);
    struct data_subsets sub = {0};
    char desc[200];
    int rc = 0;
    if (sp.val_size) {
        rc = data_search_split(s, (size_t)sp.val_size, (size_t)sp.train_size,
                               (uint32_t)sp.seed, &sub);
        cfg.from[0] = cfg.from[1] = DATA_TRAIN;
        cfg.idx[0] = sub.train;
        cfg.n[0] = sub.n_train;
        cfg.idx[1] = sub.val;
        cfg.n[1] = sub.n_val;
        snprintf(desc, sizeof desc, "search splits (seed %d) of %s", sp.seed, s->desc);
        cfg.desc = desc;
    }
    cfg.label = "cache";
    double t0 = nn_now();
    if (!rc) rc = data_cache_write(s, out, &cfg);
    double secs = nn_now() - t0;
    if (rc) {
        fprintf(stderr, "haq data cache: %s\n", nn_errmsg());
    } else {
        struct data_source *c;
        rc = data_open_cache("cache", out, &c); /* what was written reads back */
        if (rc) {
            fprintf(stderr, "haq data cache: %s\n", nn_errmsg());
        } else {
            size_t n = c->count[0] + c->count[1];
            fprintf(stderr, "%s\n", c->desc);
            printf("result images=%zu train=%zu val=%zu h=%d w=%d c=%d pixel_bytes=%llu "
                   "seconds=%.1f img_s=%.1f threads=%d out=%s\n",
                   n, c->count[0], c->count[1], c->h, c->w, c->c,
                   (unsigned long long)((unsigned long long)n * c->h * c->w * c->c),
                   secs, secs > 0 ? (double)n / secs : 0.0, nn_pool_size(), out);
            data_close(c);
        }
    }
    data_subsets_free(&sub);
    data_close(s);
    return rc ? 1 : 0;
}

static const char data_help[] =
    "usage: haq data <info|cache> [options]   (haq data <sub> --help for each)\n"
    "  info    classes, images per split, image sizes and normalization of a data set\n"
    "  cache   decode and resize a data set once into a packed file (--data cache:FILE)\n";

int data_cmd_data(int argc, char **argv) {
    if (argc < 2) {
        fputs(data_help, stderr);
        return 2;
    }
    if (!strcmp(argv[1], "info")) return data_info(argc - 1, argv + 1);
    if (!strcmp(argv[1], "cache")) return data_cache(argc - 1, argv + 1);
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(data_help, stdout);
        return 0;
    }
    fprintf(stderr, "haq data: unknown subcommand '%s'\n", argv[1]);
    fputs(data_help, stderr);
    return 2;
}
