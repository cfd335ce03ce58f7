#include "models.h"

#include <stdio.h>
#include <string.h>

#include "error.h"

const char *const nn_model_archs[] = {"mobilenet_v2", "mobilenet_v1", "resnet18", "resnet34",
                                      "resnet50", NULL};

int nn_make_divisible(double v, int d) {
    int nv = (int)(v + d / 2.0) / d * d;
    if (nv < d) nv = d;
    if (nv < 0.9 * v) nv += d;
    return nv;
}

struct nn_model_cfg nn_model_defaults(const char *arch) {
    struct nn_model_cfg c = {arch, 1.0f, 1000, 224, NN_STEM_AUTO, 0.2f, 3};
    return c;
}

int nn_model_small_stem(const struct nn_model_cfg *cfg) {
    if (cfg->stem == NN_STEM_SMALL) return 1;
    if (cfg->stem == NN_STEM_IMAGENET) return 0;
    return cfg->input <= 64;
}

/* conv (no bias) + BN with activation: the ConvBNActivation unit of torchvision, named
 * <conv> and <bn>. Returns the BN node. */
static int conv_bn(struct nn_graph *g, const char *conv, const char *bn, int in, int cout,
                   int k, int stride, int groups, enum nn_act act) {
    int c = nn_conv(g, conv, in, cout, k, k, stride, (k - 1) / 2, (k - 1) / 2, groups, 0);
    return nn_bn(g, bn, c, act);
}

static void name(char *buf, size_t n, const char *fmt, int a, int b) {
    snprintf(buf, n, fmt, a, b);
}

/* torchvision MobileNetV2: features.0 stem, features.1–17 inverted residual blocks,
 * features.18 1×1 conv to the last channel, classifier.0 dropout, classifier.1 linear. */
static int build_mobilenet_v2(struct nn_graph *g, const struct nn_model_cfg *cfg) {
    static const int setting[7][4] = {{1, 16, 1, 1},  {6, 24, 2, 2},  {6, 32, 3, 2},
                                      {6, 64, 4, 2},  {6, 96, 3, 1},  {6, 160, 3, 2},
                                      {6, 320, 1, 1}};
    int small = nn_model_small_stem(cfg);
    int cin = nn_make_divisible(32 * cfg->width, 8);
    int last_c = nn_make_divisible(1280 * (cfg->width > 1.0f ? cfg->width : 1.0), 8);
    int x = conv_bn(g, "features.0.0", "features.0.1", 0, cin, 3, small ? 1 : 2, 1,
                    NN_ACT_RELU6);
    int idx = 1;
    char a[NN_NAME_MAX], b[NN_NAME_MAX];
    for (int s = 0; s < 7; s++) {
        int t = setting[s][0], cout = nn_make_divisible(setting[s][1] * cfg->width, 8);
        for (int i = 0; i < setting[s][2]; i++, idx++) {
            int stride = i == 0 ? setting[s][3] : 1;
            if (small && s == 1) stride = 1; /* CIFAR variant: the 24-channel stage keeps size */
            int hidden = (int)(cin * t + 0.5), y = x, m = 0;
            if (t != 1) {
                name(a, sizeof a, "features.%d.conv.%d.0", idx, m);
                name(b, sizeof b, "features.%d.conv.%d.1", idx, m);
                y = conv_bn(g, a, b, y, hidden, 1, 1, 1, NN_ACT_RELU6);
                m++;
            }
            name(a, sizeof a, "features.%d.conv.%d.0", idx, m);
            name(b, sizeof b, "features.%d.conv.%d.1", idx, m);
            y = conv_bn(g, a, b, y, hidden, 3, stride, hidden, NN_ACT_RELU6);
            m++;
            name(a, sizeof a, "features.%d.conv.%d", idx, m);
            name(b, sizeof b, "features.%d.conv.%d", idx, m + 1);
            y = nn_bn(g, b, nn_conv(g, a, y, cout, 1, 1, 1, 0, 0, 1, 0), NN_ACT_NONE);
            if (stride == 1 && cin == cout) {
                name(a, sizeof a, "features.%d.add", idx, 0);
                y = nn_add(g, a, x, y);
            }
            x = y;
            cin = cout;
        }
    }
    name(a, sizeof a, "features.%d.0", idx, 0);
    name(b, sizeof b, "features.%d.1", idx, 0);
    x = conv_bn(g, a, b, x, last_c, 1, 1, 1, NN_ACT_RELU6);
    x = nn_avgpool(g, "avgpool", x);
    x = nn_dropout(g, "classifier.0", x, cfg->dropout);
    return nn_linear(g, "classifier.1", x, cfg->classes, 1);
}

/* MobileNetV1 as the HAQ release builds it: conv1 (3×3 conv, BN, ReLU), 13 depthwise-
 * separable blocks features.K (dw conv .0, BN .1, ReLU6, pw conv .3, BN .4, ReLU6),
 * global average pool, classifier.0 linear. */
static int build_mobilenet_v1(struct nn_graph *g, const struct nn_model_cfg *cfg) {
    static const int cfgv[13][2] = {{64, 1},  {128, 2}, {128, 1}, {256, 2}, {256, 1},
                                    {512, 2}, {512, 1}, {512, 1}, {512, 1}, {512, 1},
                                    {512, 1}, {1024, 2}, {1024, 1}};
    int small = nn_model_small_stem(cfg);
    int cin = nn_make_divisible(32 * cfg->width, 8);
    int x = conv_bn(g, "conv1.0", "conv1.1", 0, cin, 3, small ? 1 : 2, 1, NN_ACT_RELU);
    char a[NN_NAME_MAX], b[NN_NAME_MAX];
    for (int k = 0; k < 13; k++) {
        int cout = nn_make_divisible(cfgv[k][0] * cfg->width, 8);
        name(a, sizeof a, "features.%d.0", k, 0);
        name(b, sizeof b, "features.%d.1", k, 0);
        x = conv_bn(g, a, b, x, cin, 3, cfgv[k][1], cin, NN_ACT_RELU6);
        name(a, sizeof a, "features.%d.3", k, 0);
        name(b, sizeof b, "features.%d.4", k, 0);
        x = conv_bn(g, a, b, x, cout, 1, 1, 1, NN_ACT_RELU6);
        cin = cout;
    }
    x = nn_avgpool(g, "avgpool", x);
    return nn_linear(g, "classifier.0", x, cfg->classes, 1);
}

/* torchvision ResNet: conv1/bn1/relu/maxpool, layer1–4 of BasicBlock (18, 34) or Bottleneck
 * (50, stride on the 3×3 conv as in torchvision ≥ 0.3), avgpool, fc. */
static int build_resnet(struct nn_graph *g, const struct nn_model_cfg *cfg, const int *blocks,
                        int bottleneck) {
    int small = nn_model_small_stem(cfg);
    int stem_c = nn_make_divisible(64 * cfg->width, 8);
    int x;
    if (small) {
        x = conv_bn(g, "conv1", "bn1", 0, stem_c, 3, 1, 1, NN_ACT_RELU);
    } else {
        x = nn_bn(g, "bn1", nn_conv(g, "conv1", 0, stem_c, 7, 7, 2, 3, 3, 1, 0), NN_ACT_RELU);
        x = nn_maxpool(g, "maxpool", x, 3, 2, 1);
    }
    int cin = stem_c, exp = bottleneck ? 4 : 1;
    char p[NN_NAME_MAX], a[NN_NAME_MAX + 16], b[NN_NAME_MAX + 16];
    for (int L = 0; L < 4; L++) {
        int planes = nn_make_divisible((64 << L) * cfg->width, 8);
        for (int i = 0; i < blocks[L]; i++) {
            int stride = (i == 0 && L > 0) ? 2 : 1;
            snprintf(p, sizeof p, "layer%d.%d", L + 1, i);
            int y;
            if (bottleneck) {
                snprintf(a, sizeof a, "%s.conv1", p);
                snprintf(b, sizeof b, "%s.bn1", p);
                y = conv_bn(g, a, b, x, planes, 1, 1, 1, NN_ACT_RELU);
                snprintf(a, sizeof a, "%s.conv2", p);
                snprintf(b, sizeof b, "%s.bn2", p);
                y = conv_bn(g, a, b, y, planes, 3, stride, 1, NN_ACT_RELU);
                snprintf(a, sizeof a, "%s.conv3", p);
                snprintf(b, sizeof b, "%s.bn3", p);
                y = conv_bn(g, a, b, y, planes * exp, 1, 1, 1, NN_ACT_NONE);
            } else {
                snprintf(a, sizeof a, "%s.conv1", p);
                snprintf(b, sizeof b, "%s.bn1", p);
                y = conv_bn(g, a, b, x, planes, 3, stride, 1, NN_ACT_RELU);
                snprintf(a, sizeof a, "%s.conv2", p);
                snprintf(b, sizeof b, "%s.bn2", p);
                y = conv_bn(g, a, b, y, planes, 3, 1, 1, NN_ACT_NONE);
            }
            int id = x;
            if (stride != 1 || cin != planes * exp) {
                snprintf(a, sizeof a, "%s.downsample.0", p);
                snprintf(b, sizeof b, "%s.downsample.1", p);
                id = nn_bn(g, b, nn_conv(g, a, x, planes * exp, 1, 1, stride, 0, 0, 1, 0),
                           NN_ACT_NONE);
            }
            snprintf(a, sizeof a, "%s.add", p);
            snprintf(b, sizeof b, "%s.relu", p);
            x = nn_act(g, b, nn_add(g, a, y, id), NN_ACT_RELU);
            cin = planes * exp;
        }
    }
    x = nn_avgpool(g, "avgpool", x);
    return nn_linear(g, "fc", x, cfg->classes, 1);
}

struct nn_graph *nn_model_build(const struct nn_model_cfg *cfg) {
    if (!cfg->arch) {
        nn_err("model: no architecture given");
        return NULL;
    }
    if (!(cfg->width > 0.0f && cfg->width <= 8.0f) || cfg->classes < 1 || cfg->input < 8) {
        nn_err("model %s: invalid width %g, classes %d or input %d", cfg->arch,
               (double)cfg->width, cfg->classes, cfg->input);
        return NULL;
    }
    int ch = cfg->in_channels > 0 ? cfg->in_channels : 3;
    struct nn_graph *g = nn_graph_new(cfg->input, cfg->input, ch);
    if (!g) return NULL;
    static const int r18[4] = {2, 2, 2, 2}, r34[4] = {3, 4, 6, 3};
    int last;
    if (!strcmp(cfg->arch, "mobilenet_v2")) last = build_mobilenet_v2(g, cfg);
    else if (!strcmp(cfg->arch, "mobilenet_v1")) last = build_mobilenet_v1(g, cfg);
    else if (!strcmp(cfg->arch, "resnet18")) last = build_resnet(g, cfg, r18, 0);
    else if (!strcmp(cfg->arch, "resnet34")) last = build_resnet(g, cfg, r34, 0);
    else if (!strcmp(cfg->arch, "resnet50")) last = build_resnet(g, cfg, r34, 1);
    else {
        nn_err("unknown architecture '%s' (mobilenet_v2, mobilenet_v1, resnet18, resnet34, "
               "resnet50)",
               cfg->arch);
        nn_graph_free(g);
        return NULL;
    }
    if (last < 0) {
        nn_err_ctx("model %s at %d px: ", cfg->arch, cfg->input);
        nn_graph_free(g);
        return NULL;
    }
    return g;
}
