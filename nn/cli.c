#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"

const char nn_cli_model_help[] =
    "  --arch ARCH      mobilenet_v2, mobilenet_v1, resnet18, resnet34, resnet50\n"
    "  --width W        width multiplier (default 1.0)\n"
    "  --classes N      output classes (default 1000)\n"
    "  --input S        input size in pixels (default 224)\n"
    "  --stem KIND      small | imagenet (default: small for inputs <= 64 px)\n";

int nn_cli_int(const char *cmd, const char *flag, const char *s, long lo, long hi, int *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "haq %s: --%s: expected an integer in [%ld, %ld], got '%s'\n", cmd, flag,
                lo, hi, s);
        return -1;
    }
    *out = (int)v;
    return 0;
}

int nn_cli_float(const char *cmd, const char *flag, const char *s, double lo, double hi,
                 float *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi)) {
        fprintf(stderr, "haq %s: --%s: expected a number in [%g, %g], got '%s'\n", cmd, flag, lo,
                hi, s);
        return -1;
    }
    *out = (float)v;
    return 0;
}

int nn_cli_model_opt(const char *cmd, int opt, const char *arg, struct nn_model_cfg *cfg) {
    switch (opt) {
    case NN_OPT_ARCH:
        for (int i = 0; nn_model_archs[i]; i++)
            if (!strcmp(arg, nn_model_archs[i])) {
                cfg->arch = nn_model_archs[i];
                return 1;
            }
        fprintf(stderr, "haq %s: --arch: unknown architecture '%s'\n", cmd, arg);
        return -1;
    case NN_OPT_WIDTH:
        return nn_cli_float(cmd, "width", arg, 0.05, 8.0, &cfg->width) ? -1 : 1;
    case NN_OPT_CLASSES:
        return nn_cli_int(cmd, "classes", arg, 1, 1000000, &cfg->classes) ? -1 : 1;
    case NN_OPT_INPUT:
        return nn_cli_int(cmd, "input", arg, 8, 4096, &cfg->input) ? -1 : 1;
    case NN_OPT_STEM:
        if (!strcmp(arg, "small")) cfg->stem = NN_STEM_SMALL;
        else if (!strcmp(arg, "imagenet")) cfg->stem = NN_STEM_IMAGENET;
        else {
            fprintf(stderr, "haq %s: --stem: expected small or imagenet, got '%s'\n", cmd, arg);
            return -1;
        }
        return 1;
    }
    return 0;
}

int nn_cli_threads(const char *cmd, const char *arg) {
    int n;
    if (nn_cli_int(cmd, "threads", arg, 0, 256, &n)) return -1;
    return nn_pool_init(n);
}
