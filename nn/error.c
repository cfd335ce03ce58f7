#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char errbuf[NN_ERRMSG_MAX];

int nn_err(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errbuf, sizeof errbuf, fmt, ap);
    va_end(ap);
    return -1;
}

int nn_err_ctx(const char *fmt, ...) {
    char old[NN_ERRMSG_MAX];
    memcpy(old, errbuf, sizeof old);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(errbuf, sizeof errbuf, fmt, ap);
    va_end(ap);
    if (n < 0) n = 0;
    size_t used = (size_t)n < sizeof errbuf ? (size_t)n : sizeof errbuf - 1;
    size_t room = sizeof errbuf - 1 - used, len = strlen(old);
    if (len > room) len = room;
    memcpy(errbuf + used, old, len);
    errbuf[used + len] = 0;
    return -1;
}

const char *nn_errmsg(void) { return errbuf; }

void nn_err_clear(void) { errbuf[0] = 0; }
