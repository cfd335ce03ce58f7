/* Subcommands that live in data/ (dispatched from haq.c): argv[0] is the command name; the
 * return value is the exit status (0 ok, 1 failure, 2 usage). */
#ifndef HAQ_DATA_CMD_H
#define HAQ_DATA_CMD_H

#include <getopt.h>

int data_cmd_train(int argc, char **argv);
int data_cmd_import(int argc, char **argv);
int data_cmd_predict(int argc, char **argv);
/* haq data info | haq data cache (argv[1] names the subcommand). */
int data_cmd_data(int argc, char **argv);

/* The search-split flags that train, eval and data cache share (split.h):
 * --val-size N --train-size M --split-seed S. val_size 0 = not asked for. */
struct data_cli_split {
    int val_size, train_size, seed;
};
#define DATA_CLI_SPLIT_DEFAULTS {0, 0, 1}

enum { DATA_OPT_VAL_SIZE = 1100, DATA_OPT_TRAIN_SIZE, DATA_OPT_SPLIT_SEED };

#define DATA_CLI_SPLIT_OPTIONS                                                                   \
    {"val-size", required_argument, 0, DATA_OPT_VAL_SIZE},                                       \
        {"train-size", required_argument, 0, DATA_OPT_TRAIN_SIZE},                               \
        {"split-seed", required_argument, 0, DATA_OPT_SPLIT_SEED}

/* Apply one of the split flags to sp: 1 if opt was one (0 if not, −1 on a bad value, already
 * reported on stderr). */
int data_cli_split_opt(const char *cmd, int opt, const char *arg, struct data_cli_split *sp);

/* −1 (reported) when --train-size or --split-seed came without --val-size. */
int data_cli_split_check(const char *cmd, const struct data_cli_split *sp);

/* Help lines for the split flags. */
extern const char data_cli_split_help[];

struct data_source;
struct data_subsets;

/* The subsets a command trains and evaluates on: with --val-size, the search's splits of the
 * train split (*split = DATA_TRAIN; sub->train and sub->val are the indices to give
 * data_batches_open); otherwise the whole train split for training and the held-out split for
 * evaluation (*split = DATA_VAL, which must then hold images; sub left empty, so the index
 * lists are NULL). Free sub with data_subsets_free. 0 or −1 (nn_err naming `data`). */
int data_cli_split_open(struct data_source *src, const char *data,
                        const struct data_cli_split *sp, struct data_subsets *sub, int *split);

#endif
