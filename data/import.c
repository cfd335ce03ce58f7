#include "import.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/checkpoint.h"
#include "nn/error.h"

static int ends(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

/* A HAQ-release MobileNetV2 key: "features.N.conv.M.param" with the release's M numbering, or
 * "classifier.weight|bias". */
static int is_haq_mnv2(const struct data_pth *p) {
    for (int i = 0; i < p->n; i++) {
        const char *k = p->t[i].name;
        int blk, m;
        char rest[32];
        if (sscanf(k, "features.%d.conv.%d.%31s", &blk, &m, rest) == 3 && (m == 6 || m == 7))
            return 1;
        if (!strcmp(k, "classifier.weight")) return 1;
    }
    return 0;
}

/* The torchvision name of a HAQ-release MobileNetV2 key (into buf), or the key itself. */
static const char *haq_to_tv(const char *k, char *buf, size_t cap) {
    int blk, m, used = 0;
    if (sscanf(k, "features.%d.conv.%d.%n", &blk, &m, &used) == 2 && used > 0) {
        const char *param = k + used;
        /* block 1 has no expansion: dw conv 0, BN 1, project 3, BN 4 */
        static const char *const t1[8] = {"conv.0.0", "conv.0.1", NULL, "conv.1", "conv.2"};
        static const char *const t6[8] = {"conv.0.0", "conv.0.1", NULL, "conv.1.0", "conv.1.1",
                                          NULL, "conv.2", "conv.3"};
        const char *to = m >= 0 && m < 8 ? (blk == 1 ? t1 : t6)[m] : NULL;
        if (to) {
            snprintf(buf, cap, "features.%d.%s.%s", blk, to, param);
            return buf;
        }
    }
    if (!strcmp(k, "classifier.weight")) return "classifier.1.weight";
    if (!strcmp(k, "classifier.bias")) return "classifier.1.bias";
    return k;
}

int data_import_classes(const struct data_pth *p) {
    static const char *const names[] = {"classifier.1.weight", "classifier.weight",
                                        "classifier.0.weight", "fc.weight", NULL};
    for (int n = 0; names[n]; n++)
        for (int i = 0; i < p->n; i++)
            if (!strcmp(p->t[i].name, names[n]) && p->t[i].ndim == 2)
                return (int)p->t[i].shape[0];
    return 0;
}

int data_import_state(struct nn_graph *g, const char *arch, struct data_pth *p,
                      int allow_unknown, const char *source, struct data_import_report *rep) {
    memset(rep, 0, sizeof *rep);
    int haq = !strcmp(arch, "mobilenet_v2") && is_haq_mnv2(p);
    rep->layout = haq ? "haq-release" : "torchvision";
    struct nn_tensor_view *v = calloc((size_t)p->n + 1, sizeof *v);
    char (*names)[160] = calloc((size_t)p->n + 1, sizeof *names);
    if (!v || !names) {
        free(v);
        free(names);
        return nn_err("%s: out of memory", source);
    }
    int n = 0;
    for (int i = 0; i < p->n; i++) {
        const char *k = p->t[i].name;
        if (ends(k, ".weight_range")) {
            rep->skipped++; /* the release's weight thresholds: recalibrated here */
            continue;
        }
        v[n] = p->t[i];
        if (haq) {
            char tmp[160];
            snprintf(names[n], sizeof names[n], "%s", haq_to_tv(k, tmp, sizeof tmp));
            v[n].name = names[n];
        }
        n++;
    }
    int rc = nn_state_load(g, v, n, allow_unknown, source);
    if (!rc) rep->loaded = n;
    free(v);
    free(names);
    return rc;
}
