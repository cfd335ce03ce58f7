#include "policy.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nn/error.h"

int q_layers(const struct nn_graph *g, int *nodes) {
    int n = 0;
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i].op == NN_OP_CONV || g->nodes[i].op == NN_OP_LINEAR) {
            if (nodes) nodes[n] = i;
            n++;
        }
    return n;
}

static int policy_alloc(struct q_policy *p, int n) {
    p->n = n;
    p->w_bits = calloc((size_t)(n > 0 ? n : 1), sizeof *p->w_bits);
    p->a_bits = calloc((size_t)(n > 0 ? n : 1), sizeof *p->a_bits);
    if (!p->w_bits || !p->a_bits) {
        q_policy_free(p);
        return nn_err("out of memory (policy of %d layers)", n);
    }
    return 0;
}

static int bits_ok(int b) {
    return b == Q_FLOAT || (b >= 1 && b <= Q_BITS_MAX);
}

int q_policy_uniform(struct q_policy *p, int n, int w, int a) {
    memset(p, 0, sizeof *p);
    if (n < 1) return nn_err("policy: %d layers", n);
    if (!bits_ok(w) || !bits_ok(a)) return nn_err("policy: bits w%d a%d out of range", w, a);
    if (policy_alloc(p, n)) return -1;
    for (int i = 0; i < n; i++) {
        p->w_bits[i] = w;
        p->a_bits[i] = a;
    }
    return 0;
}

void q_policy_free(struct q_policy *p) {
    free(p->w_bits);
    free(p->a_bits);
    p->w_bits = p->a_bits = NULL;
    p->n = 0;
}

int q_policy_parse_uniform(const char *s, int *w, int *a) {
    if (strlen(s) == 4 && s[0] == 'w' && s[2] == 'a' && s[1] >= '1' && s[1] <= '8' && s[3] >= '1' &&
        s[3] <= '8') {
        *w = s[1] - '0';
        *a = s[3] - '0';
        return 0;
    }
    return nn_err("'%s' is not a uniform policy (w1a1 … w8a8)", s);
}

/* ---- parsing ----------------------------------------------------------------------------------
 */

struct pp {
    const char *s, *end, *src;
    int line;
    int *w, *a; /* growing arrays */
    int n, cap;
    char **names; /* [n], NULL entries where a line gave no name */
};

static int perr(const struct pp *p, const char *fmt, const char *tok) {
    char msg[256];
    snprintf(msg, sizeof msg, fmt, tok);
    return nn_err("%s:%d: %s", p->src, p->line, msg);
}

/* Skip blanks, newlines (counted) and '#' comments. */
static void skip(struct pp *p) {
    while (p->s < p->end) {
        if (*p->s == '#') {
            while (p->s < p->end && *p->s != '\n') p->s++;
        } else if (*p->s == '\n') {
            p->line++;
            p->s++;
        } else if (*p->s == ' ' || *p->s == '\t' || *p->s == '\r') {
            p->s++;
        } else {
            return;
        }
    }
}

static int push(struct pp *p, int w, int a, const char *name, size_t name_len) {
    if (p->n == p->cap) {
        int nc = p->cap ? 2 * p->cap : 64;
        int *nw = realloc(p->w, (size_t)nc * sizeof *nw);
        if (nw) p->w = nw;
        int *na = realloc(p->a, (size_t)nc * sizeof *na);
        if (na) p->a = na;
        char **nn = realloc(p->names, (size_t)nc * sizeof *nn);
        if (nn) p->names = nn;
        if (!nw || !na || !nn) return nn_err("%s: out of memory", p->src);
        p->cap = nc;
    }
    p->names[p->n] = NULL;
    if (name) {
        p->names[p->n] = malloc(name_len + 1);
        if (!p->names[p->n]) return nn_err("%s: out of memory", p->src);
        memcpy(p->names[p->n], name, name_len);
        p->names[p->n][name_len] = 0;
    }
    p->w[p->n] = w;
    p->a[p->n] = a;
    p->n++;
    return 0;
}

/* A bit-width token: integer or "float"/"fp32". Weights: 1..8, 32, float → Q_FLOAT.
 * Activations additionally −1 and 0 (unquantized). */
static int bits_token(struct pp *p, const char *tok, size_t len, int act, int *out) {
    char t[32];
    if (len >= sizeof t) return perr(p, "bit-width token too long", "");
    memcpy(t, tok, len);
    t[len] = 0;
    if (!strcmp(t, "float") || !strcmp(t, "fp32")) {
        *out = Q_FLOAT;
        return 0;
    }
    char *e;
    errno = 0;
    long v = strtol(t, &e, 10);
    if (e == t || *e || errno) return perr(p, "'%s' is not a bit-width", t);
    if (v == 32 || (act && (v == -1 || v == 0)))
        *out = Q_FLOAT;
    else if (v >= 1 && v <= Q_BITS_MAX)
        *out = (int)v;
    else
        return perr(p,
                    act ? "activation bits %s outside 1..8 (or 32, float, -1, 0)"
                        : "weight bits %s outside 1..8 (or 32, float)",
                    t);
    return 0;
}

static int is_space(char c) {
    return c == ' ' || c == '\t' || c == '\r';
}

/* One line of the text form: `name w a` or `w a`. */
static int parse_text_line(struct pp *p) {
    const char *tok[4];
    size_t len[4];
    int nt = 0;
    while (p->s < p->end && *p->s != '\n' && *p->s != '#') {
        if (is_space(*p->s)) {
            p->s++;
            continue;
        }
        const char *t = p->s;
        while (p->s < p->end && !is_space(*p->s) && *p->s != '\n' && *p->s != '#') p->s++;
        if (nt == 3) return perr(p, "more than three fields (expected 'name w_bits a_bits')", "");
        tok[nt] = t;
        len[nt++] = (size_t)(p->s - t);
    }
    if (nt == 0) return 0;
    if (nt == 1) return perr(p, "one field (expected 'name w_bits a_bits' or 'w_bits a_bits')", "");
    int w, a, k = nt - 2;
    if (bits_token(p, tok[k], len[k], 0, &w) || bits_token(p, tok[k + 1], len[k + 1], 1, &a))
        return -1;
    return push(p, w, a, nt == 3 ? tok[0] : NULL, nt == 3 ? len[0] : 0);
}

static int list_int(struct pp *p, int act, int *out) {
    skip(p);
    const char *t = p->s;
    if (p->s < p->end && *p->s == '-') p->s++;
    while (p->s < p->end && *p->s >= '0' && *p->s <= '9') p->s++;
    if (p->s == t || (p->s == t + 1 && *t == '-')) return perr(p, "expected an integer", "");
    return bits_token(p, t, (size_t)(p->s - t), act, out);
}

static int list_expect(struct pp *p, char c) {
    skip(p);
    if (p->s >= p->end || *p->s != c) {
        char what[2] = {c, 0};
        return perr(p, "expected '%s'", what);
    }
    p->s++;
    return 0;
}

/* [[w, a], …] or [w, …]; trailing commas allowed as in Python. */
static int parse_list(struct pp *p) {
    if (list_expect(p, '[')) return -1;
    skip(p);
    int pairs = p->s < p->end && *p->s == '[';
    for (;;) {
        skip(p);
        if (p->s < p->end && *p->s == ']') break;
        int w, a = Q_FLOAT;
        if (pairs) {
            if (list_expect(p, '[') || list_int(p, 0, &w) || list_expect(p, ',') ||
                list_int(p, 1, &a))
                return -1;
            skip(p);
            if (p->s < p->end && *p->s == ',') p->s++;
            if (list_expect(p, ']')) return -1;
        } else if (list_int(p, 0, &w)) {
            return -1;
        }
        if (push(p, w, a, NULL, 0)) return -1;
        skip(p);
        if (p->s < p->end && *p->s == ',') {
            p->s++;
            continue;
        }
        skip(p);
        if (p->s < p->end && *p->s == ']') break;
        return perr(p, "expected ',' or ']'", "");
    }
    p->s++;
    skip(p);
    if (p->s != p->end) return perr(p, "text after the closing ']'", "");
    return 0;
}

static int validate(struct pp *p, const struct nn_graph *g) {
    if (p->n == 0) return nn_err("%s: empty policy", p->src);
    if (!g) return 0;
    int n = q_layers(g, NULL);
    int *nodes = malloc((size_t)n * sizeof *nodes);
    if (!nodes) return nn_err("out of memory");
    q_layers(g, nodes);
    int rc = 0;
    if (p->n != n)
        rc = nn_err("%s: %d layers in the policy, the network has %d quantizable layers", p->src,
                    p->n, n);
    for (int i = 0; !rc && i < p->n; i++)
        if (p->names[i] && strcmp(p->names[i], g->nodes[nodes[i]].name))
            rc = nn_err("%s: layer %d is named '%s' in the policy but '%s' in the network", p->src,
                        i, p->names[i], g->nodes[nodes[i]].name);
    free(nodes);
    return rc;
}

int q_policy_parse(struct q_policy *pol, const char *text, size_t len, const char *src,
                   const struct nn_graph *g) {
    memset(pol, 0, sizeof *pol);
    struct pp p = {text, text + len, src, 1, NULL, NULL, 0, 0, NULL};
    if (memchr(text, 0, len)) return nn_err("%s: NUL byte in a policy", src);
    skip(&p);
    int rc = 0;
    if (p.s < p.end && *p.s == '[') {
        rc = parse_list(&p);
    } else {
        /* Text form: line by line (skip() consumed leading comments and blank lines). */
        while (!rc && p.s < p.end) {
            rc = parse_text_line(&p);
            while (p.s < p.end && *p.s != '\n') p.s++;
            if (p.s < p.end) {
                p.s++;
                p.line++;
            }
        }
    }
    if (!rc) rc = validate(&p, g);
    if (!rc) rc = policy_alloc(pol, p.n);
    if (!rc) {
        memcpy(pol->w_bits, p.w, (size_t)p.n * sizeof *p.w);
        memcpy(pol->a_bits, p.a, (size_t)p.n * sizeof *p.a);
    }
    for (int i = 0; i < p.n; i++) free(p.names[i]);
    free(p.names);
    free(p.w);
    free(p.a);
    return rc;
}

int q_policy_read(struct q_policy *p, const char *path, const struct nn_graph *g) {
    memset(p, 0, sizeof *p);
    FILE *f = fopen(path, "rb");
    if (!f) return nn_err("%s: %s", path, strerror(errno));
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            if (cap >= (size_t)64 << 20) {
                free(buf);
                fclose(f);
                return nn_err("%s: larger than 64 MiB: not a policy", path);
            }
            size_t nc = cap ? 2 * cap : 4096;
            char *nb = realloc(buf, nc);
            if (!nb) {
                free(buf);
                fclose(f);
                return nn_err("%s: out of memory", path);
            }
            buf = nb;
            cap = nc;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (!got) break;
    }
    int bad = ferror(f);
    fclose(f);
    int rc = bad ? nn_err("%s: read error", path) : q_policy_parse(p, buf, len, path, g);
    free(buf);
    return rc;
}

int q_policy_from_arg(struct q_policy *p, const char *arg, const struct nn_graph *g) {
    int w = 0, a = 0;
    memset(p, 0, sizeof *p);
    if (!q_policy_parse_uniform(arg, &w, &a)) {
        if (!g) return nn_err("policy '%s': the uniform shorthand needs a network", arg);
        return q_policy_uniform(p, q_layers(g, NULL), w, a);
    }
    if (arg[0] == '[') return q_policy_parse(p, arg, strlen(arg), "policy argument", g);
    return q_policy_read(p, arg, g);
}

int q_policy_check(const struct q_policy *p, const struct nn_graph *g) {
    if (g && p->n != q_layers(g, NULL))
        return nn_err("policy: %d layers, the network has %d quantizable layers", p->n,
                      q_layers(g, NULL));
    for (int i = 0; i < p->n; i++)
        if (!bits_ok(p->w_bits[i]) || !bits_ok(p->a_bits[i]))
            return nn_err("policy: layer %d has bits w%d a%d out of range", i, p->w_bits[i],
                          p->a_bits[i]);
    return 0;
}

/* ---- writing ----------------------------------------------------------------------------------
 */

static int w_print(int b) {
    return b == Q_FLOAT ? 32 : b;
}
static int a_print(int b) {
    return b == Q_FLOAT ? -1 : b;
}

int q_policy_write_text(const struct q_policy *p, const struct nn_graph *g, FILE *f) {
    int *nodes = NULL;
    if (g) {
        if (q_policy_check(p, g)) return -1;
        nodes = malloc((size_t)p->n * sizeof *nodes);
        if (!nodes) return nn_err("out of memory");
        q_layers(g, nodes);
    }
    fprintf(f, "# layer w_bits a_bits (32 = float weights, -1 = unquantized activation)\n");
    for (int i = 0; i < p->n; i++) {
        if (nodes) fprintf(f, "%-40s ", g->nodes[nodes[i]].name);
        fprintf(f, "%d %d\n", w_print(p->w_bits[i]), a_print(p->a_bits[i]));
    }
    free(nodes);
    return ferror(f) ? nn_err("policy: write error") : 0;
}

int q_policy_write_list(const struct q_policy *p, FILE *f) {
    fputc('[', f);
    for (int i = 0; i < p->n; i++)
        fprintf(f, "%s[%d, %d]", i ? ", " : "", w_print(p->w_bits[i]), a_print(p->a_bits[i]));
    fputs("]\n", f);
    return ferror(f) ? nn_err("policy: write error") : 0;
}

int q_policy_save(const struct q_policy *p, const struct nn_graph *g, const char *path) {
    size_t n = strlen(path);
    char *tmp = malloc(n + 16);
    if (!tmp) return nn_err("%s: out of memory", path);
    memcpy(tmp, path, n);
    memcpy(tmp + n, ".tmp.XXXXXX", 12);
    int fd = mkstemp(tmp);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        nn_err("%s: cannot create a temporary file: %s", path, strerror(errno));
        if (fd >= 0) {
            close(fd);
            unlink(tmp);
        }
        free(tmp);
        return -1;
    }
    int rc = q_policy_write_text(p, g, f);
    if (fclose(f) && !rc) rc = nn_err("%s: write failed: %s", path, strerror(errno));
    if (!rc && rename(tmp, path)) rc = nn_err("%s: %s", path, strerror(errno));
    if (rc) unlink(tmp);
    free(tmp);
    return rc;
}
