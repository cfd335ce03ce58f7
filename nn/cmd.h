/* Subcommands that live in nn/ (dispatched from haq.c). Each takes argv with argv[0] = the
 * command name and returns the process exit status (0 ok, 1 failure, 2 usage). */
#ifndef HAQ_NN_CMD_H
#define HAQ_NN_CMD_H

int nn_cmd_summary(int argc, char **argv);

#endif
