/* Shared pieces of the command line: number parsing with clear errors, the model flags that
 * several commands take (--arch --width --classes --input --stem), and the thread count. */
#ifndef HAQ_NN_CLI_H
#define HAQ_NN_CLI_H

#include <getopt.h>

#include "models.h"

/* Parse a whole string as a number within [lo, hi]; on failure print
 * "haq CMD: --FLAG: …" to stderr and return -1. */
int nn_cli_int(const char *cmd, const char *flag, const char *s, long lo, long hi, int *out);
int nn_cli_float(const char *cmd, const char *flag, const char *s, double lo, double hi,
                 float *out);

/* Option ids (above any short-option character) for the model and common flags. */
enum {
    NN_OPT_ARCH = 1000,
    NN_OPT_WIDTH,
    NN_OPT_CLASSES,
    NN_OPT_INPUT,
    NN_OPT_STEM,
    NN_OPT_THREADS,
    NN_OPT_SEED,
};

#define NN_CLI_MODEL_OPTIONS                                                                     \
    {"arch", required_argument, 0, NN_OPT_ARCH}, {"width", required_argument, 0, NN_OPT_WIDTH},  \
        {"classes", required_argument, 0, NN_OPT_CLASSES},                                       \
        {"input", required_argument, 0, NN_OPT_INPUT},                                           \
        {"stem", required_argument, 0, NN_OPT_STEM}

/* Apply one of the model options to cfg; returns 1 if opt was a model option (0 if not, −1 on
 * a bad value, already reported). */
int nn_cli_model_opt(const char *cmd, int opt, const char *arg, struct nn_model_cfg *cfg);

/* --threads N: start the pool with N threads (0 = default); returns 0 or −1 (reported). */
int nn_cli_threads(const char *cmd, const char *arg);

/* Help text for the model options, one line each. */
extern const char nn_cli_model_help[];

#endif
