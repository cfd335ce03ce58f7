/* Subcommands that live in rl/ (dispatched from haq.c): argv[0] is the command name; the
 * return value is the exit status (0 ok, 1 failure, 2 usage). */
#ifndef HAQ_RL_CMD_H
#define HAQ_RL_CMD_H

int rl_cmd_search(int argc, char **argv);
int rl_cmd_eval(int argc, char **argv);

#endif
