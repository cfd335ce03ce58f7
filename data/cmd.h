/* Subcommands that live in data/ (dispatched from haq.c): argv[0] is the command name; the
 * return value is the exit status (0 ok, 1 failure, 2 usage). */
#ifndef HAQ_DATA_CMD_H
#define HAQ_DATA_CMD_H

int data_cmd_train(int argc, char **argv);
int data_cmd_eval(int argc, char **argv);
int data_cmd_import(int argc, char **argv);
int data_cmd_predict(int argc, char **argv);

#endif
