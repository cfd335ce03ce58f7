/* haq summary: the node table of an architecture (names, op, output shape, parameters,
 * multiply-adds per image). */
#include "cmd.h"

#include <getopt.h>
#include <stdio.h>

#include "cli.h"
#include "error.h"
#include "models.h"

static void usage(FILE *f) {
    fprintf(f, "usage: haq summary --arch ARCH [--width W] [--classes N] [--input S] "
               "[--stem small|imagenet]\n\n%s",
            nn_cli_model_help);
}

int nn_cmd_summary(int argc, char **argv) {
    static const struct option opts[] = {NN_CLI_MODEL_OPTIONS, {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    struct nn_model_cfg cfg = nn_model_defaults(NULL);
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (opt == 'h') {
            usage(stdout);
            return 0;
        }
        int r = nn_cli_model_opt("summary", opt, optarg, &cfg);
        if (r < 0) return 2;
        if (r == 0) {
            usage(stderr);
            return 2;
        }
    }
    if (!cfg.arch || optind < argc) {
        usage(stderr);
        return 2;
    }
    struct nn_graph *g = nn_model_build(&cfg);
    if (!g) {
        fprintf(stderr, "haq summary: %s\n", nn_errmsg());
        return 1;
    }
    nn_graph_summary(g, stdout);
    double macs = 0;
    size_t params = 0;
    int layers = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        macs += nn_node_macs(g, i);
        params += nn_node_params(g, i);
        layers += g->nodes[i].op == NN_OP_CONV || g->nodes[i].op == NN_OP_LINEAR;
    }
    printf("result arch=%s width=%g input=%d classes=%d params=%zu macs=%.0f "
           "quantizable_layers=%d\n",
           cfg.arch, (double)cfg.width, cfg.input, cfg.classes, params, macs, layers);
    nn_graph_free(g);
    return 0;
}
