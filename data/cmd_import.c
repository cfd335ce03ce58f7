/* haq import / haq predict: PyTorch weights in, logits out. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "import.h"
#include "nn/checkpoint.h"
#include "nn/cli.h"
#include "nn/cpu.h"
#include "nn/error.h"
#include "nn/npy.h"
#include "pth.h"

enum { OPT_TORCH = 3000, OPT_OUT, OPT_MODEL, OPT_INPUT_NPY, OPT_OUTPUT_NPY, OPT_BATCH,
       OPT_ALLOW_UNKNOWN };

/* Build cfg's network and fill it from a .pth file; classes default to the checkpoint's.
 * NULL on error (reported by the caller with nn_errmsg). */
static struct nn_graph *graph_from_torch(struct nn_model_cfg *cfg, const char *path,
                                         int max_batch, int allow_unknown,
                                         struct data_import_report *rep) {
    struct data_pth p;
    if (data_pth_read(path, &p)) return NULL;
    if (!cfg->classes) cfg->classes = data_import_classes(&p);
    if (!cfg->classes) {
        data_pth_free(&p);
        nn_err("%s: no classifier found to size --classes; give it", path);
        return NULL;
    }
    struct nn_graph *g = nn_model_build(cfg);
    if (!g || nn_graph_alloc(g, max_batch, 0) ||
        data_import_state(g, cfg->arch, &p, allow_unknown, path, rep)) {
        nn_graph_free(g);
        data_pth_free(&p);
        return NULL;
    }
    data_pth_free(&p);
    return g;
}

static const char import_help[] =
    "usage: haq import --arch ARCH [--width W] [--classes N] [--input S] [--stem KIND]\n"
    "                  --torch FILE.pth --out FILE.safetensors [--allow-unknown]\n\n"
    "Convert PyTorch weights (torch.save zip or legacy format; torchvision's names, or the HAQ\n"
    "release's for mobilenet_v2) into a checkpoint. --classes defaults to the checkpoint's.\n"
    "(haq import --packed FILE --out FILE decodes a packed export instead.)\n\n"
    "%s";

int data_cmd_import(int argc, char **argv) {
    static const struct option opts[] = {NN_CLI_MODEL_OPTIONS,
                                         {"torch", required_argument, 0, OPT_TORCH},
                                         {"out", required_argument, 0, OPT_OUT},
                                         {"allow-unknown", no_argument, 0, OPT_ALLOW_UNKNOWN},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    struct nn_model_cfg cfg = nn_model_defaults(NULL);
    cfg.classes = 0;
    const char *torch = NULL, *out = NULL;
    int allow_unknown = 0, opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        int r = nn_cli_model_opt("import", opt, optarg, &cfg);
        if (r < 0) return 2;
        if (r > 0) continue;
        if (opt == 'h') {
            printf(import_help, nn_cli_model_help);
            return 0;
        } else if (opt == OPT_TORCH) torch = optarg;
        else if (opt == OPT_OUT) out = optarg;
        else if (opt == OPT_ALLOW_UNKNOWN) allow_unknown = 1;
        else {
            fprintf(stderr, import_help, nn_cli_model_help);
            return 2;
        }
    }
    if (!cfg.arch || !torch || !out || optind < argc) {
        fprintf(stderr, "haq import: --arch, --torch and --out are required (haq import --help)\n");
        return 2;
    }
    struct data_import_report rep;
    struct nn_graph *g = graph_from_torch(&cfg, torch, 1, allow_unknown, &rep);
    if (!g || nn_ckpt_save(out, g, &cfg, NULL, 0)) {
        fprintf(stderr, "haq import: %s\n", nn_errmsg());
        nn_graph_free(g);
        return 1;
    }
    size_t params = 0;
    for (int i = 0; i < g->n_nodes; i++) params += nn_node_params(g, i);
    fprintf(stderr, "%s: %s layout, %d tensors loaded, %d quantizer tensors skipped\n", torch,
            rep.layout, rep.loaded, rep.skipped);
    printf("result arch=%s classes=%d params=%zu layout=%s loaded=%d skipped=%d out=%s\n", cfg.arch,
           cfg.classes, params, rep.layout, rep.loaded, rep.skipped, out);
    nn_graph_free(g);
    return 0;
}

static const char predict_help[] =
    "usage: haq predict (--model FILE.safetensors | --arch ARCH [model options] --torch FILE.pth)\n"
    "                   --input X.npy --output Y.npy [--batch B] [--threads T]\n\n"
    "Eval-mode logits of a network: X is float32 [N, C, S, S] (NCHW, normalized as the network\n"
    "expects, as PyTorch takes it); Y is float32 [N, classes]. The network runs at X's size.\n\n"
    "  --arch ARCH, --width W, --classes N, --stem KIND   as for haq import (with --torch)\n";

int data_cmd_predict(int argc, char **argv) {
    static const struct option opts[] = {NN_CLI_MODEL_OPTIONS,
                                         {"model", required_argument, 0, OPT_MODEL},
                                         {"torch", required_argument, 0, OPT_TORCH},
                                         {"input", required_argument, 0, OPT_INPUT_NPY},
                                         {"output", required_argument, 0, OPT_OUTPUT_NPY},
                                         {"batch", required_argument, 0, OPT_BATCH},
                                         {"threads", required_argument, 0, NN_OPT_THREADS},
                                         {"allow-unknown", no_argument, 0, OPT_ALLOW_UNKNOWN},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    /* --input is the .npy here; the model's input size comes from X */
    struct nn_model_cfg cfg = nn_model_defaults(NULL);
    cfg.classes = 0;
    const char *model = NULL, *torch = NULL, *xin = NULL, *yout = NULL;
    int batch = 32, allow_unknown = 0, opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (opt == NN_OPT_INPUT) opt = OPT_INPUT_NPY; /* --input names the data file */
        int r = nn_cli_model_opt("predict", opt, optarg, &cfg);
        if (r < 0) return 2;
        if (r > 0) continue;
        switch (opt) {
        case 'h':
            fputs(predict_help, stdout);
            return 0;
        case OPT_MODEL: model = optarg; break;
        case OPT_TORCH: torch = optarg; break;
        case OPT_INPUT_NPY: xin = optarg; break;
        case OPT_OUTPUT_NPY: yout = optarg; break;
        case OPT_ALLOW_UNKNOWN: allow_unknown = 1; break;
        case OPT_BATCH:
            if (nn_cli_int("predict", "batch", optarg, 1, 4096, &batch)) return 2;
            break;
        case NN_OPT_THREADS:
            if (nn_cli_threads("predict", optarg)) return 2;
            break;
        default:
            fputs(predict_help, stderr);
            return 2;
        }
    }
    if ((!model == !torch) || (torch && !cfg.arch) || !xin || !yout || optind < argc) {
        fprintf(stderr, "haq predict: give --model, or --arch with --torch, and --input and "
                        "--output (haq predict --help)\n");
        return 2;
    }
    struct nn_npy x = {0};
    struct nn_graph *g = NULL;
    float *nhwc = NULL, *y = NULL;
    int rc = 1;
    if (nn_npy_read(&x, xin)) goto fail;
    if (x.dtype != NN_NPY_F4 || x.ndim != 4 || x.shape[2] != x.shape[3] || x.shape[0] < 1 ||
        x.shape[2] < 8 || x.shape[1] < 1 || x.shape[1] > 4) {
        nn_err("%s: expected float32 [N, C, S, S] (NCHW, square images, S ≥ 8)", xin);
        goto fail;
    }
    int N = (int)x.shape[0], C = (int)x.shape[1], S = (int)x.shape[2];
    if (model) {
        g = nn_ckpt_load(model, batch, 0, &cfg);
        if (!g) goto fail;
        if (cfg.input != S) {
            /* convolutions take any size: rebuild at X's and move the weights across (same
             * architecture, so the same parameter layout) */
            cfg.input = S;
            struct nn_graph *h = nn_model_build(&cfg);
            if (!h || nn_graph_alloc(h, batch, 0)) {
                nn_graph_free(h);
                goto fail;
            }
            memcpy(h->param_data, g->param_data, g->n_param_floats * sizeof(float));
            memcpy(h->buf_data, g->buf_data, g->n_buf_floats * sizeof(float));
            nn_graph_free(g);
            g = h;
        }
    } else {
        cfg.input = S;
        cfg.in_channels = C;
        struct data_import_report rep;
        g = graph_from_torch(&cfg, torch, batch, allow_unknown, &rep);
        if (!g) goto fail;
    }
    if ((cfg.in_channels > 0 ? cfg.in_channels : 3) != C) {
        nn_err("%s: %d channels, the network takes %d", xin, C, cfg.in_channels);
        goto fail;
    }
    int classes = g->nodes[nn_graph_last(g)].c;
    nhwc = malloc((size_t)batch * S * S * C * sizeof(float));
    y = malloc((size_t)N * classes * sizeof(float));
    if (!nhwc || !y) {
        nn_err("out of memory");
        goto fail;
    }
    const float *X = x.data;
    double t0 = nn_now();
    for (int b0 = 0; b0 < N; b0 += batch) {
        int nb = N - b0 < batch ? N - b0 : batch;
        for (int b = 0; b < nb; b++) /* NCHW → NHWC, once at the boundary */
            for (int c = 0; c < C; c++)
                for (int i = 0; i < S * S; i++)
                    nhwc[((size_t)b * S * S + i) * C + c] = X[(((size_t)(b0 + b)) * C + c) * S * S + i];
        if (nn_graph_forward(g, nhwc, nb)) goto fail;
        memcpy(y + (size_t)b0 * classes, g->nodes[nn_graph_last(g)].out,
               (size_t)nb * classes * sizeof(float));
    }
    double ms = (nn_now() - t0) * 1e3;
    int64_t shape[2] = {N, classes};
    if (nn_npy_write(yout, NN_NPY_F4, 2, shape, y)) goto fail;
    printf("result images=%d classes=%d size=%d ms=%.1f img_s=%.1f output=%s\n", N, classes, S, ms,
           N / (ms > 0 ? ms * 1e-3 : 1e-9), yout);
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "haq predict: %s\n", nn_errmsg());
done:
    nn_npy_free(&x);
    nn_graph_free(g);
    free(nhwc);
    free(y);
    return rc;
}
