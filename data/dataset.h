/* Data sets: one interface over every image source, chosen with a `--data SPEC` string.
 *
 *   synthetic[:classes=10,size=32,train=10000,val=2000,seed=1]   built-in generated RGB set
 *   imagenet:DIR[,classes=FILE]       ImageFolder: DIR/train/<class>/<file>, DIR/val/…
 *   imagenet100:DIR[,classes=FILE]    the same, restricted to the 100 classes of HAQ's
 *                                     ImageNet-100 (data_imagenet100) in list order
 *   fashion-mnist[:DIR]               the four IDX files (.gz or not), default DIR
 *                                     /usr/share/datasets/fashion-mnist
 *   cifar10:DIR                       CIFAR-10 binary batches (data_batch_1..5.bin, test_batch.bin)
 *   cache:FILE                        a packed cache written by `haq data cache` (cache.h)
 *
 * In the ImageFolder kinds DIR runs to the first ',' (a directory whose name holds a comma
 * cannot be named); classes=FILE lists the class directories to use, one per line, labels in
 * the order of the file.
 *
 * A source hands out 8-bit HWC images with integer labels for two splits (DATA_TRAIN and
 * DATA_VAL, the held-out split). Sources whose images all share one size report it in
 * (h, w); others report 0 and each image carries its own size. Every source says how to
 * normalize: per-channel mean and std on the [0, 1] scale. */
#ifndef HAQ_DATA_DATASET_H
#define HAQ_DATA_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "image.h"

enum data_split { DATA_TRAIN = 0, DATA_VAL = 1 };

struct data_source;
struct data_source_ops {
    /* Image idx of a split into *im and its label; 0 or −1 (nn_err names the file). Must be
     * safe to call from several threads at once. */
    int (*load)(struct data_source *s, int split, size_t idx, struct data_image *im,
                int *label);
    void (*close)(struct data_source *s);
    /* Optional (NULL when h and w are fixed): the size of image idx without decoding it, for
     * size surveys over many files. 0 or −1. */
    int (*dims)(struct data_source *s, int split, size_t idx, int *w, int *h);
};

struct data_source {
    const struct data_source_ops *ops;
    char desc[160];     /* one line for logs: "synthetic: 10 classes, 32x32, seed 1" */
    char kind[32];      /* "synthetic", "imagenet", … */
    int classes, c;     /* channels of every image (1 or 3) */
    int h, w;           /* common image size, or 0 when images vary */
    size_t count[2];    /* images in DATA_TRAIN and DATA_VAL */
    float mean[3], std[3];
    const char *const *class_names; /* [classes] (directory names, CIFAR's meta), or NULL */
    size_t skipped;                 /* directory entries seen and not taken (ImageFolder) */
    void *impl;
};

/* Open a source from a SPEC string; 0 or −1 with nn_err explaining what is wrong. */
int data_open(const char *spec, struct data_source **out);
void data_close(struct data_source *s);

static inline int data_load(struct data_source *s, int split, size_t idx, struct data_image *im,
                            int *label) {
    return s->ops->load(s, split, idx, im, label);
}

/* Parse "key=value,key=value" options of a SPEC into the named integer slots; unknown keys
 * and malformed numbers are errors naming the SPEC. keys[] is NULL-terminated. */
int data_spec_options(const char *spec, const char *opts, const char *const *keys, long *vals);

/* The openers data_open dispatches to: spec is the whole SPEC (for messages), rest the part
 * after the first ':' ("" when there is none). */
int data_open_synthetic(const char *spec, const char *rest, struct data_source **out);
int data_open_imagefolder(const char *spec, const char *rest, int imagenet100,
                          struct data_source **out);
int data_open_fashion_mnist(const char *spec, const char *rest, struct data_source **out);
int data_open_cifar10(const char *spec, const char *rest, struct data_source **out);
int data_open_cache(const char *spec, const char *rest, struct data_source **out);

/* The 100 WNIDs of HAQ's ImageNet-100 (the release's imagenet100.txt: the first 100 ImageNet-1k
 * classes in sorted order, so label k here is ImageNet-1k label k). */
extern const char *const data_imagenet100[100];

#endif
