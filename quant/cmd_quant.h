/* Subcommands of the quantization module (dispatched from haq.c): argv[0] is the command
 * name; the result is the exit status (0 ok, 1 failure, 2 usage). */
#ifndef HAQ_QUANT_CMD_QUANT_H
#define HAQ_QUANT_CMD_QUANT_H

int q_cmd_quantize(int argc, char **argv);
int q_cmd_finetune(int argc, char **argv);
int q_cmd_export(int argc, char **argv);
/* haq import --packed FILE --out FILE (haq.c routes import here when --packed is given). */
int q_cmd_import_packed(int argc, char **argv);

#endif
