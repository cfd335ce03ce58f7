/* Subcommands that live in rl/ (dispatched from haq.c). Each takes argv with argv[0] = the
 * command name and returns the process exit status (0 ok, 1 failure, 2 usage). */
#ifndef HAQ_RL_CMD_H
#define HAQ_RL_CMD_H

/* `haq report DIR [--out FILE]`: the HTML report of a search run (rl/report.h). The last
 * stdout line is `result report=PATH episodes=N best_reward=R best_top1=T`. */
int rl_cmd_report(int argc, char **argv);

#endif
