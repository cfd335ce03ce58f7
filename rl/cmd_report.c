#include "cmd.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/error.h"
#include "rl/report.h"

static const char usage_text[] =
    "usage: haq report DIR [--out FILE]\n"
    "\n"
    "An HTML report of the search run in DIR (the --out directory of haq search): reward,\n"
    "accuracy and exploration per episode, the best policy's bits per layer, its per-layer\n"
    "latency and energy against uniform 8-bit, and cost against accuracy of every episode.\n"
    "One self-contained file: inline CSS and SVG, no scripts, fonts or links.\n"
    "\n"
    "  --out FILE   where to write the report (DIR/report.html)\n";

int rl_cmd_report(int argc, char **argv) {
    static const struct option longopts[] = {{"out", required_argument, 0, 'o'},
                                             {"help", no_argument, 0, 'h'},
                                             {0, 0, 0, 0}};
    const char *out = NULL;
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "ho:", longopts, NULL)) != -1) {
        switch (opt) {
        case 'o':
            out = optarg;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return 0;
        default:
            fputs(usage_text, stderr);
            return 2;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "haq report: a run directory is required\n%s", usage_text);
        return 2;
    }
    if (optind + 1 < argc) {
        fprintf(stderr, "haq report: unexpected argument '%s'\n%s", argv[optind + 1],
                usage_text);
        return 2;
    }
    const char *dir = argv[optind];
    size_t n = strlen(dir) + sizeof "/report.html";
    char *def = malloc(n);
    if (!def) {
        fprintf(stderr, "haq report: out of memory\n");
        return 1;
    }
    snprintf(def, n, "%s/report.html", dir);
    struct rl_report_summary s;
    int rc = rl_report_write_summary(dir, out ? out : def, &s);
    if (rc) {
        fprintf(stderr, "haq report: %s\n", nn_errmsg());
    } else {
        if (!s.episodes) fprintf(stderr, "haq report: no episodes yet in %s\n", dir);
        printf("result report=%s episodes=%d best_reward=%.6f best_top1=%.4f\n", out ? out : def,
               s.episodes, s.best_reward, s.best_top1);
    }
    free(def);
    return rc ? 1 : 0;
}
