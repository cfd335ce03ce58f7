/* Error reporting for library code.
 *
 * Library functions never print, exit or abort on bad input: a function that can fail returns
 * an int (0 ok, negative on error) after recording a message here. The command that called it
 * prints nn_errmsg() and exits. Messages are per thread, so a loader thread and the trainer do
 * not overwrite each other's. */
#ifndef HAQ_NN_ERROR_H
#define HAQ_NN_ERROR_H

#define NN_ERRMSG_MAX 1024

/* Record a printf-style message (replacing any earlier one); returns -1 so that a caller can
 * write `return nn_err("...")`. */
int nn_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prefix the current message with context, e.g. a file name: "model.pth: " + old message.
 * Returns -1. */
int nn_err_ctx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The last message recorded by this thread ("" when none). */
const char *nn_errmsg(void);

void nn_err_clear(void);

#endif
