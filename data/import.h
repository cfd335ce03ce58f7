/* Bringing PyTorch weights into an engine network: state-dict layouts other than the engine's
 * (torchvision's) are recognized and renamed, then every tensor is checked and loaded.
 *
 * Layouts: torchvision's for every architecture; for mobilenet_v2 also the HAQ release's,
 * whose blocks keep convs at conv.0/conv.3/conv.6 with BN at conv.1/4/7 (conv.0/1/3/4 in the
 * expand-free first block), whose classifier is `classifier` itself, and whose quantized
 * layers carry `activation_range` (loaded: the engine's input-activation ranges have the same
 * meaning) and `weight_range` (thresholds, recalibrated here: skipped and counted). The HAQ
 * release's mobilenet_v1 names are the engine's own. */
#ifndef HAQ_DATA_IMPORT_H
#define HAQ_DATA_IMPORT_H

#include "nn/graph.h"
#include "pth.h"

struct data_import_report {
    const char *layout; /* "torchvision", "haq-release" */
    int loaded, skipped; /* tensors loaded; quantizer tensors skipped */
};

/* Rename p's tensors to g's names for the layout detected, then load them into g (missing
 * tensors, wrong shapes and — unless allow_unknown — unknown names are errors naming them).
 * source names the file in messages. */
int data_import_state(struct nn_graph *g, const char *arch, struct data_pth *p,
                      int allow_unknown, const char *source, struct data_import_report *rep);

/* Output features of the classifier in a state dict (the class count), or 0 if none is
 * recognized. */
int data_import_classes(const struct data_pth *p);

#endif
