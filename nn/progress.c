#include "progress.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cpu.h"

void nn_format_duration(double s, char *buf, size_t cap) {
    if (!(s >= 0) || s > 1e7) {
        snprintf(buf, cap, "?");
        return;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, cap, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else snprintf(buf, cap, "%ld:%02ld", t / 60, t % 60);
}

void nn_progress_start(struct nn_progress *p, const char *label, size_t total, const char *unit) {
    memset(p, 0, sizeof *p);
    snprintf(p->label, sizeof p->label, "%s", label);
    p->unit = unit;
    p->total = total;
    p->t0 = nn_now();
    p->tty = isatty(2);
}

void nn_progress_update(struct nn_progress *p, size_t done, const char *extra) {
    p->done = done;
    if (!p->tty) return;
    double now = nn_now();
    if (now - p->last < 0.1 && done < p->total) return;
    p->last = now;
    double el = now - p->t0, rate = el > 0 ? (double)done / el : 0;
    char eta[32];
    nn_format_duration(rate > 0 ? (double)(p->total - done) / rate : -1, eta, sizeof eta);
    enum { W = 24 };
    char bar[W + 1];
    size_t fill = p->total ? done * W / p->total : 0;
    for (size_t i = 0; i < W; i++) bar[i] = i < fill ? '=' : i == fill ? '>' : ' ';
    bar[W] = 0;
    fprintf(stderr, "\r\033[K%s [%s] %zu/%zu %.1f %s/s%s%s ETA %s", p->label, bar, done, p->total,
            rate, p->unit, extra ? "  " : "", extra ? extra : "", eta);
    fflush(stderr);
}

void nn_progress_end(struct nn_progress *p) {
    if (p->tty) {
        fprintf(stderr, "\r\033[K");
        fflush(stderr);
    }
}
