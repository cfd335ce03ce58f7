/* Progress bars on stderr: redrawn in place at most ten times a second with the rate and the
 * time left, only when stderr is a terminal (logs and pipes get the final lines alone). */
#ifndef HAQ_NN_PROGRESS_H
#define HAQ_NN_PROGRESS_H

#include <stddef.h>

struct nn_progress {
    char label[64];
    const char *unit; /* "img", "ep" … */
    size_t total, done;
    double t0, last;
    int tty;
};

void nn_progress_start(struct nn_progress *p, const char *label, size_t total, const char *unit);
/* done items so far; extra (may be NULL) is appended, e.g. "loss 1.23 acc 45.6%". */
void nn_progress_update(struct nn_progress *p, size_t done, const char *extra);
/* Clear the bar line (the caller prints its own summary). */
void nn_progress_end(struct nn_progress *p);

/* "1:02:03" or "2:03" for a duration in seconds. */
void nn_format_duration(double s, char *buf, size_t cap);

#endif
