/* haq: the command. One dispatch table of subcommands; each lives with the module it drives. */
#include <stdio.h>
#include <string.h>

#include "data/cmd.h"
#include "data/cmd_decode.h"
#include "hw/cmd_hw.h"
#include "nn/cmd.h"
#include "quant/cmd_quant.h"
#include "rl/cmd.h"
#include "nn/cpu.h"
#include "nn/pool.h"

#define HAQ_VERSION "0.1.0"

static int cmd_version(int argc, char **argv) {
    (void)argc;
    (void)argv;
    printf("haq %s\nkernels: %s (HAQ_SIMD=scalar forces the portable path)\nthreads: %d "
           "(HAQ_THREADS or --threads)\n",
           HAQ_VERSION, nn_isa_name(nn_isa()), nn_pool_size());
    printf("result version=%s isa=%s threads=%d\n", HAQ_VERSION, nn_isa_name(nn_isa()),
           nn_pool_size());
    return 0;
}

/* import: PyTorch weights (data/), or a packed export decoded back (quant/) */
static int cmd_import(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--packed") || !strncmp(argv[i], "--packed=", 9))
            return q_cmd_import_packed(argc, argv);
    return data_cmd_import(argc, argv);
}

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
};

static const struct command commands[] = {
    {"train", data_cmd_train, "train a full-precision network on a data set"},
    {"eval", rl_cmd_eval, "top-1/top-5 of a checkpoint, and the hardware cost of its policy"},
    {"import", cmd_import, "PyTorch weights (.pth), or a packed export, into a checkpoint"},
    {"predict", data_cmd_predict, "logits of a network for inputs in a .npy file"},
    {"quantize", q_cmd_quantize, "post-training quantization of a checkpoint with a policy"},
    {"finetune", q_cmd_finetune, "quantization-aware fine-tuning with a policy"},
    {"export", q_cmd_export, "the packed form of a quantized network, with its exact size"},
    {"hw", hw_cmd_hw, "cost of a network and a bit-width policy on a hardware model"},
    {"search", rl_cmd_search, "the HAQ search (DDPG agent) or a baseline, into a run directory"},
    {"report", rl_cmd_report, "an HTML report of a search run (inline SVG)"},
    {"summary", nn_cmd_summary, "print an architecture's layer table (shapes, params, MACs)"},
    {"version", cmd_version, "print the version and the kernel path (ISA) in use"},
    {"decode", data_cmd_decode, "decode a JPEG to PPM/PGM"},
    {"data", data_cmd_data, "data set facts (data info) and packed caches (data cache)"},
};

static void usage(FILE *f) {
    fprintf(f, "usage: haq <command> [options]   (haq <command> --help for each)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) return cmd_version(0, NULL);
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "haq: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
