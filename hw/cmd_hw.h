/* `haq hw`: the cost of a network under a bit-width policy on a hardware model. */
#ifndef HAQ_HW_CMD_HW_H
#define HAQ_HW_CMD_HW_H

/* Returns the process exit code: 0, 1 on error, 2 on a usage error. */
int hw_cmd_hw(int argc, char **argv);

#endif
