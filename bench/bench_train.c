/* Training and inference throughput of whole networks beside PyTorch, in the same run.
 *
 * Each row runs in a child process, so its peak memory (RSS) is its own: a training step is
 * forward, softmax cross-entropy, backward and an SGD step (momentum 0.9, weight decay); an
 * inference step is an eval-mode forward. PyTorch runs the same work through `python3` (the
 * first interpreter on PATH that imports torch, else /usr/bin/python3) with as many threads,
 * when it is installed:
 *
 *   bench=train model=mobilenet_v2 size=224 batch=32 stem=imagenet train_img_s=… torch_train_img_s=…
 *   train_ratio=… infer_img_s=… torch_infer_img_s=… infer_ratio=… rss_mb=… torch_rss_mb=…
 *
 * Options: --threads T (default 2), --steps N (timed steps, default 3), --only MODEL,
 * --no-torch. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nn/cpu.h"
#include "nn/models.h"
#include "nn/optim.h"
#include "nn/pool.h"

struct row {
    const char *arch;
    int size, batch, stem;
};

static const struct row rows[] = {
    {"mobilenet_v2", 224, 32, NN_STEM_IMAGENET},
    {"mobilenet_v2", 32, 128, NN_STEM_SMALL},
    {"mobilenet_v2", 32, 128, NN_STEM_IMAGENET},
    {"resnet18", 224, 32, NN_STEM_IMAGENET},
    {"resnet50", 224, 16, NN_STEM_IMAGENET},
};

/* Best-of-`steps` seconds per training step and per inference step, after one warm-up each. */
static int run_ours(const struct row *r, int steps, double *train_s, double *infer_s) {
    struct nn_model_cfg c = nn_model_defaults(r->arch);
    c.input = r->size;
    c.stem = r->stem;
    struct nn_graph *g = nn_model_build(&c);
    if (!g || nn_graph_alloc(g, r->batch, 1)) return -1;
    struct nn_rng rng;
    nn_rng_seed(&rng, 1);
    nn_graph_init(g, &rng);
    size_t n = (size_t)r->batch * r->size * r->size * 3;
    float *x = malloc(n * sizeof(float));
    int *y = malloc((size_t)r->batch * sizeof(int));
    if (!x || !y) return -1;
    for (size_t i = 0; i < n; i++) x[i] = nn_rng_uniform(&rng) - 0.5f;
    for (int i = 0; i < r->batch; i++) y[i] = (int)nn_rng_below(&rng, 1000);
    struct nn_param_set ps = nn_graph_params(g);
    struct nn_sgd o;
    if (nn_sgd_init(&o, ps.n, 0.01f, 0.9f, 4e-5f, 0)) return -1;
    nn_graph_set_train(g, 1);
    *train_s = *infer_s = 1e30;
    for (int s = 0; s <= steps; s++) {
        double t0 = nn_now();
        if (nn_graph_forward(g, x, r->batch)) return -1;
        nn_graph_xent(g, y, NULL, NULL);
        nn_graph_zero_grad(g);
        if (nn_graph_backward(g)) return -1;
        nn_sgd_step(&o, &ps);
        double t = nn_now() - t0;
        if (s > 0 && t < *train_s) *train_s = t;
    }
    nn_graph_set_train(g, 0);
    for (int s = 0; s <= steps; s++) {
        double t0 = nn_now();
        if (nn_graph_forward(g, x, r->batch)) return -1;
        double t = nn_now() - t0;
        if (s > 0 && t < *infer_s) *infer_s = t;
    }
    return 0;
}

static const char torch_script[] =
    "import sys, time, torch, torchvision\n"
    "arch, size, batch, small, steps, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), "
    "sys.argv[4] == 'small', int(sys.argv[5]), int(sys.argv[6])\n"
    "torch.set_num_threads(threads)\n"
    "m = getattr(torchvision.models, arch)()\n"
    "if small and arch == 'mobilenet_v2':\n"
    "    m.features[0][0].stride = (1, 1); m.features[2].conv[1][0].stride = (1, 1)\n"
    "elif small:\n"
    "    m.conv1 = torch.nn.Conv2d(3, 64, 3, 1, 1, bias=False); m.maxpool = torch.nn.Identity()\n"
    "x = torch.randn(batch, 3, size, size); y = torch.randint(0, 1000, (batch,))\n"
    "opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9, weight_decay=4e-5)\n"
    "m.train(); tr = 1e30\n"
    "for s in range(steps + 1):\n"
    "    t0 = time.time(); opt.zero_grad(); torch.nn.functional.cross_entropy(m(x), y).backward();"
    " opt.step(); t = time.time() - t0\n"
    "    if s > 0: tr = min(tr, t)\n"
    "m.eval(); inf = 1e30\n"
    "with torch.no_grad():\n"
    "    for s in range(steps + 1):\n"
    "        t0 = time.time(); m(x); t = time.time() - t0\n"
    "        if s > 0: inf = min(inf, t)\n"
    "print(tr, inf)\n";

/* Run the PyTorch script with interpreter py; parse its two timings; peak RSS in MB. */
static int run_torch(const char *py, const struct row *r, int steps, int threads,
                     double *train_s, double *infer_s, double *rss_mb) {
    int fd[2];
    if (pipe(fd)) return -1;
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        dup2(fd[1], 1);
        close(fd[0]);
        int devnull = open("/dev/null", 1);
        if (devnull >= 0) dup2(devnull, 2);
        char a[4][16];
        snprintf(a[0], 16, "%d", r->size);
        snprintf(a[1], 16, "%d", r->batch);
        snprintf(a[2], 16, "%d", steps);
        snprintf(a[3], 16, "%d", threads);
        execlp(py, py, "-c", torch_script, r->arch, a[0], a[1],
               r->stem == NN_STEM_SMALL ? "small" : "imagenet", a[2], a[3], (char *)NULL);
        _exit(127);
    }
    close(fd[1]);
    char buf[256] = {0};
    size_t got = 0;
    ssize_t k;
    while (got < sizeof buf - 1 && (k = read(fd[0], buf + got, sizeof buf - 1 - got)) > 0)
        got += (size_t)k;
    close(fd[0]);
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) < 0 || !WIFEXITED(status) || WEXITSTATUS(status)) return -1;
    *rss_mb = ru.ru_maxrss / 1024.0;
    return sscanf(buf, "%lf %lf", train_s, infer_s) == 2 ? 0 : -1;
}

static const char *find_python(void) {
    static const char *const cands[] = {"python3", "/usr/bin/python3", NULL};
    for (int i = 0; cands[i]; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            int devnull = open("/dev/null", 1);
            if (devnull >= 0) {
                dup2(devnull, 1);
                dup2(devnull, 2);
            }
            execlp(cands[i], cands[i], "-c", "import torch, torchvision", (char *)NULL);
            _exit(127);
        }
        int st;
        if (pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0)
            return cands[i];
    }
    return NULL;
}

int main(int argc, char **argv) {
    int threads = 2, steps = 3, use_torch = 1;
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--steps") && i + 1 < argc) steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--only") && i + 1 < argc) only = argv[++i];
        else if (!strcmp(argv[i], "--no-torch")) use_torch = 0;
        else {
            fprintf(stderr, "usage: bench_train [--threads T] [--steps N] [--only MODEL] [--no-torch]\n");
            return 2;
        }
    }
    const char *py = use_torch ? find_python() : NULL;
    if (use_torch && !py) fprintf(stderr, "bench_train: no python3 with torch; ours only\n");
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        const struct row *r = &rows[i];
        if (only && strcmp(only, r->arch)) continue;
        int fd[2];
        if (pipe(fd)) return 1;
        pid_t pid = fork();
        if (pid == 0) { /* our measurement in a child: its own peak RSS */
            close(fd[0]);
            nn_pool_init(threads);
            double t[2] = {0, 0};
            int rc = run_ours(r, steps, &t[0], &t[1]);
            if (write(fd[1], t, sizeof t) != (ssize_t)sizeof t) rc = -1;
            _exit(rc ? 1 : 0);
        }
        close(fd[1]);
        double t[2] = {0, 0};
        ssize_t got = read(fd[0], t, sizeof t);
        close(fd[0]);
        int status;
        struct rusage ru;
        wait4(pid, &status, 0, &ru);
        if (got != (ssize_t)sizeof t || !WIFEXITED(status) || WEXITSTATUS(status)) {
            fprintf(stderr, "bench_train: %s failed\n", r->arch);
            continue;
        }
        double rss = ru.ru_maxrss / 1024.0;
        printf("bench=train model=%s size=%d batch=%d stem=%s threads=%d train_img_s=%.2f", r->arch,
               r->size, r->batch, r->stem == NN_STEM_SMALL ? "small" : "imagenet", threads,
               r->batch / t[0]);
        double tt, ti, trss;
        int have = py && run_torch(py, r, steps, threads, &tt, &ti, &trss) == 0;
        if (have) printf(" torch_train_img_s=%.2f train_ratio=%.2f", r->batch / tt, tt / t[0]);
        printf(" infer_img_s=%.2f", r->batch / t[1]);
        if (have) printf(" torch_infer_img_s=%.2f infer_ratio=%.2f", r->batch / ti, ti / t[1]);
        printf(" rss_mb=%.0f", rss);
        if (have) printf(" torch_rss_mb=%.0f", trss);
        printf("\n");
        fflush(stdout);
    }
    return 0;
}
