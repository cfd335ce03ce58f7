/* The `haq decode` command. */
#ifndef HAQ_DATA_CMD_DECODE_H
#define HAQ_DATA_CMD_DECODE_H

/* haq decode IN.jpg -o OUT.ppm: argv[0] is "decode". Returns the exit status (0, 1 on failure,
 * 2 on a usage error). */
int data_cmd_decode(int argc, char **argv);

#endif
