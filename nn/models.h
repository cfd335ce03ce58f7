/* Model builders: MobileNetV1, MobileNetV2, ResNet-18/34/50 as nn graphs.
 *
 * Node and parameter names are the PyTorch state-dict keys: torchvision's for mobilenet_v2
 * and the ResNets (features.N.conv.M…, layerX.Y.conv1, classifier.1, fc), the HAQ release's
 * for mobilenet_v1 (conv1.0, features.K.0 / .3, classifier.0). Channel counts for a width
 * multiplier follow torchvision's make-divisible-by-8 rule, so its weights import.
 *
 * Stems: the ImageNet stem (stride-2 3×3 conv; ResNet: 7×7/2 conv + 3×3/2 max pool) or, for
 * 28–64 px images, the small-input stem of the CIFAR variants (stride-1 3×3 conv, no max pool;
 * MobileNetV2 also keeps the first 24-channel stage at stride 1). NN_STEM_AUTO picks the small
 * stem for inputs ≤ 64 px. */
#ifndef HAQ_NN_MODELS_H
#define HAQ_NN_MODELS_H

#include "graph.h"

enum nn_stem { NN_STEM_AUTO = 0, NN_STEM_SMALL = 1, NN_STEM_IMAGENET = 2 };

struct nn_model_cfg {
    const char *arch; /* mobilenet_v2, mobilenet_v1, resnet18, resnet34, resnet50 */
    float width;      /* width multiplier (1.0) */
    int classes;      /* output classes (1000) */
    int input;        /* input height = width in pixels (224) */
    int stem;         /* enum nn_stem */
    float dropout;    /* classifier dropout of mobilenet_v2 (torchvision: 0.2) */
    int in_channels;  /* 3 for RGB (0 means 3) */
};

/* Defaults: width 1, 1000 classes, 224 px, automatic stem, dropout 0.2, 3 channels. */
struct nn_model_cfg nn_model_defaults(const char *arch);

/* The graph of an architecture (unallocated: shapes only; call nn_graph_alloc to run it).
 * NULL with nn_err set for an unknown architecture or an impossible size. */
struct nn_graph *nn_model_build(const struct nn_model_cfg *cfg);

/* 1 if the stem for cfg is the small-input one. */
int nn_model_small_stem(const struct nn_model_cfg *cfg);

/* torchvision's _make_divisible: round v to the nearest multiple of d (at least d), never
 * more than 10 % below v. */
int nn_make_divisible(double v, int d);

/* The architectures known to nn_model_build, NULL-terminated. */
extern const char *const nn_model_archs[];

#endif
