/* Subcommands that live in rl/ (dispatched from haq.c): argv[0] is the command name; the
 * return value is the exit status (0 ok, 1 failure, 2 usage). */
#ifndef HAQ_RL_CMD_H
#define HAQ_RL_CMD_H

/* `haq search`: the HAQ search or a baseline into a run directory (rl/search.h). */
int rl_cmd_search(int argc, char **argv);
/* `haq eval`: accuracy of a checkpoint, and with --hw the cost of its policy. */
int rl_cmd_eval(int argc, char **argv);
/* `haq report DIR [--out FILE]`: the HTML report of a search run (rl/report.h). The last
 * stdout line is `result report=PATH episodes=N best_reward=R best_top1=T`. */
int rl_cmd_report(int argc, char **argv);

#endif
