#include "dataset.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "nn/error.h"

int data_spec_options(const char *spec, const char *opts, const char *const *keys, long *vals) {
    const char *p = opts;
    while (p && *p) {
        const char *eq = strchr(p, '='), *end = strchr(p, ',');
        if (!end) end = p + strlen(p);
        if (!eq || eq > end)
            return nn_err("data '%s': option '%.*s' is not key=value", spec, (int)(end - p), p);
        size_t klen = (size_t)(eq - p);
        int k = 0;
        while (keys[k] && (strlen(keys[k]) != klen || strncmp(keys[k], p, klen))) k++;
        if (!keys[k]) return nn_err("data '%s': unknown option '%.*s'", spec, (int)klen, p);
        char num[32];
        size_t vlen = (size_t)(end - eq - 1);
        if (vlen == 0 || vlen >= sizeof num)
            return nn_err("data '%s': bad value for '%s'", spec, keys[k]);
        memcpy(num, eq + 1, vlen);
        num[vlen] = 0;
        char *e;
        errno = 0;
        long v = strtol(num, &e, 10);
        if (errno || *e) return nn_err("data '%s': '%s=%s' is not an integer", spec, keys[k], num);
        vals[k] = v;
        p = *end ? end + 1 : end;
    }
    return 0;
}

int data_open(const char *spec, struct data_source **out) {
    static const struct {
        const char *kind;
        int (*open)(const char *spec, const char *rest, struct data_source **out);
    } kinds[] = {
        {"synthetic", data_open_synthetic},
        {"fashion-mnist", data_open_fashion_mnist},
        {"cifar10", data_open_cifar10},
        {"cache", data_open_cache},
    };
    *out = NULL;
    const char *colon = strchr(spec, ':');
    size_t klen = colon ? (size_t)(colon - spec) : strlen(spec);
    const char *rest = colon ? colon + 1 : "";
    for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++)
        if (strlen(kinds[i].kind) == klen && !strncmp(spec, kinds[i].kind, klen))
            return kinds[i].open(spec, rest, out);
    if (klen == 8 && !strncmp(spec, "imagenet", 8))
        return data_open_imagefolder(spec, rest, 0, out);
    if (klen == 11 && !strncmp(spec, "imagenet100", 11))
        return data_open_imagefolder(spec, rest, 1, out);
    return nn_err("data '%s': unknown kind '%.*s' (known: synthetic, imagenet, imagenet100, "
                  "fashion-mnist, cifar10, cache)",
                  spec, (int)klen, spec);
}

void data_close(struct data_source *s) {
    if (s && s->ops->close) s->ops->close(s);
}
