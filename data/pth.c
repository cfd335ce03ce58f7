#include "pth.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inflate.h"
#include "nn/error.h"
#include "zip.h"

#define MAX_VALUES (1 << 24)
#define MAX_STACK (1 << 22)
#define MAX_MEMO (1 << 24)
#define MAX_DIMS 8

enum vtype {
    V_NONE, V_BOOL, V_INT, V_FLOAT, V_STR, V_TUPLE, V_LIST, V_DICT, V_GLOBAL, V_STORAGE,
    V_TENSOR, V_OBJECT
};

struct val {
    enum vtype type;
    int64_t i;
    double f;
    size_t s, len;    /* strings and globals: offset and length in the string arena */
    int *items, n, cap; /* tuples, lists; dicts: key, value, key, value … */
    /* storages */
    enum nn_dtype dtype;
    size_t numel, view_off;
    int root;             /* legacy views: the storage this one is a window of, or −1 */
    const uint8_t *data;  /* resolved bytes (numel · element size) */
    /* tensors */
    int storage, ndim;
    int64_t off, size[MAX_DIMS], stride[MAX_DIMS];
};

struct pk {
    const char *name;
    const uint8_t *b;
    size_t n, i;
    struct val *v;
    int nv, capv;
    int *stack, sp, caps;
    int *marks, nm, capm;
    int *memo;
    size_t nmemo, memo_len; /* capacity; entries set (MEMOIZE's next index) */
    char *str;
    size_t slen, scap;
    int failed;
};

static int perr(struct pk *p, const char *what) {
    if (!p->failed) nn_err("%s: pickle %s at byte %zu", p->name, what, p->i);
    p->failed = 1;
    return -1;
}

static int newv(struct pk *p, enum vtype t) {
    if (p->nv == p->capv) {
        if (p->capv >= MAX_VALUES) return perr(p, "has too many values");
        int nc = p->capv ? 2 * p->capv : 256;
        struct val *nv = realloc(p->v, (size_t)nc * sizeof *nv);
        if (!nv) return perr(p, "out of memory");
        p->v = nv;
        p->capv = nc;
    }
    struct val *x = &p->v[p->nv];
    memset(x, 0, sizeof *x);
    x->type = t;
    x->root = x->storage = -1;
    return p->nv++;
}

static int push(struct pk *p, int v) {
    if (v < 0) return -1;
    if (p->sp == p->caps) {
        if (p->caps >= MAX_STACK) return perr(p, "stack overflow");
        int nc = p->caps ? 2 * p->caps : 256;
        int *ns = realloc(p->stack, (size_t)nc * sizeof *ns);
        if (!ns) return perr(p, "out of memory");
        p->stack = ns;
        p->caps = nc;
    }
    p->stack[p->sp++] = v;
    return 0;
}

static int floor_sp(const struct pk *p) { return p->nm ? p->marks[p->nm - 1] : 0; }

static int pop(struct pk *p) {
    if (p->sp <= floor_sp(p)) return perr(p, "stack underflow");
    return p->stack[--p->sp];
}

static int top(struct pk *p) {
    if (p->sp <= floor_sp(p)) return perr(p, "stack underflow");
    return p->stack[p->sp - 1];
}

static int add_item(struct pk *p, int c, int item) {
    struct val *x = &p->v[c];
    if (x->n == x->cap) {
        int nc = x->cap ? 2 * x->cap : 8;
        if (nc > MAX_STACK) return perr(p, "container too large");
        int *ni = realloc(x->items, (size_t)nc * sizeof *ni);
        if (!ni) return perr(p, "out of memory");
        x->items = ni;
        x->cap = nc;
    }
    x->items[x->n++] = item;
    return 0;
}

static int str_val(struct pk *p, enum vtype t, const char *s, size_t len) {
    if (p->slen + len + 1 > p->scap) {
        size_t nc = p->scap ? p->scap : 1024;
        while (nc < p->slen + len + 1) nc *= 2;
        char *ns = realloc(p->str, nc);
        if (!ns) return perr(p, "out of memory");
        p->str = ns;
        p->scap = nc;
    }
    int v = newv(p, t);
    if (v < 0) return -1;
    memcpy(p->str + p->slen, s, len);
    p->str[p->slen + len] = 0;
    p->v[v].s = p->slen;
    p->v[v].len = len;
    p->slen += len + 1;
    return v;
}

static const char *sval(const struct pk *p, int v) { return p->str + p->v[v].s; }

static int need(struct pk *p, size_t k) {
    if (p->n - p->i < k) return perr(p, "is truncated");
    return 0;
}

static uint64_t le(const uint8_t *b, int k) {
    uint64_t x = 0;
    for (int i = k - 1; i >= 0; i--) x = x << 8 | b[i];
    return x;
}

/* A text argument up to '\n' (protocol 0 opcodes). */
static int line(struct pk *p, const char **s, size_t *len) {
    const uint8_t *nl = memchr(p->b + p->i, '\n', p->n - p->i);
    if (!nl) return perr(p, "line without newline");
    *s = (const char *)p->b + p->i;
    *len = (size_t)(nl - (p->b + p->i));
    p->i += *len + 1;
    return 0;
}

/* Pop the items above the last mark into a new container of type t. */
static int pop_mark_into(struct pk *p, enum vtype t) {
    if (!p->nm) return perr(p, "has no mark");
    int m = p->marks[--p->nm];
    int c = newv(p, t);
    if (c < 0) return -1;
    for (int k = m; k < p->sp; k++)
        if (add_item(p, c, p->stack[k])) return -1;
    p->sp = m;
    return push(p, c);
}

static int memo_put(struct pk *p, uint64_t id) {
    int v = top(p);
    if (v < 0) return -1;
    if (id >= MAX_MEMO) return perr(p, "memo index too large");
    if (id >= p->nmemo) {
        size_t nc = p->nmemo ? p->nmemo : 64;
        while (nc <= id) nc *= 2;
        int *nm = realloc(p->memo, nc * sizeof *nm);
        if (!nm) return perr(p, "out of memory");
        for (size_t k = p->nmemo; k < nc; k++) nm[k] = -1;
        p->memo = nm;
        p->nmemo = nc;
    }
    if (p->memo[id] < 0) p->memo_len++;
    p->memo[id] = v;
    return 0;
}

static int memo_get(struct pk *p, uint64_t id) {
    if (id >= p->nmemo || p->memo[id] < 0) return perr(p, "reads an unset memo entry");
    return push(p, p->memo[id]);
}

static const struct {
    const char *name;
    enum nn_dtype t;
} storages[] = {{"FloatStorage", NN_F32},  {"HalfStorage", NN_F16}, {"BFloat16Storage", NN_BF16},
                {"DoubleStorage", NN_F64}, {"LongStorage", NN_I64}, {"IntStorage", NN_I32},
                {"ShortStorage", NN_I16},  {"CharStorage", NN_I8},  {"ByteStorage", NN_U8},
                {"BoolStorage", NN_BOOL}};

/* persistent_load: ('storage', torch.<T>Storage, key, location, numel[, view metadata]). */
static int persistent(struct pk *p, int pid) {
    const struct val *t = &p->v[pid];
    if (t->type != V_TUPLE || t->n < 5 || p->v[t->items[0]].type != V_STR ||
        strcmp(sval(p, t->items[0]), "storage") || p->v[t->items[1]].type != V_GLOBAL ||
        p->v[t->items[2]].type != V_STR || p->v[t->items[4]].type != V_INT)
        return perr(p, "has a persistent id that is not a tensor storage");
    const char *g = sval(p, t->items[1]);
    const char *dot = strrchr(g, '.');
    const char *base = dot ? dot + 1 : g;
    int found = -1;
    for (size_t k = 0; k < sizeof storages / sizeof *storages; k++)
        if (!strcmp(base, storages[k].name)) found = (int)k;
    if (found < 0 || strncmp(g, "torch.", 6)) return perr(p, "has an unsupported storage type");
    int64_t numel = p->v[t->items[4]].i;
    if (numel < 0 || numel > ((int64_t)1 << 40)) return perr(p, "has a bad storage size");
    /* everything needed from the tuple, before newv may move p->v */
    struct val sv;
    memset(&sv, 0, sizeof sv);
    sv.type = V_STORAGE;
    sv.root = sv.storage = -1;
    sv.dtype = storages[found].t;
    sv.numel = (size_t)numel;
    sv.s = p->v[t->items[2]].s; /* the key string */
    sv.len = p->v[t->items[2]].len;
    int view = t->n >= 6 && p->v[t->items[5]].type == V_TUPLE ? t->items[5] : -1;
    struct val vv = sv;
    if (view >= 0) { /* legacy view (key2, offset, size) of this root storage */
        const struct val *vm = &p->v[view];
        if (vm->n != 3 || p->v[vm->items[0]].type != V_STR || p->v[vm->items[1]].type != V_INT ||
            p->v[vm->items[2]].type != V_INT)
            return perr(p, "has bad storage view metadata");
        int64_t vo = p->v[vm->items[1]].i, vn = p->v[vm->items[2]].i;
        if (vo < 0 || vn < 0 || vo > numel || vn > numel - vo)
            return perr(p, "has a storage view outside its storage");
        vv.view_off = (size_t)vo;
        vv.numel = (size_t)vn;
        vv.s = p->v[vm->items[0]].s;
        vv.len = p->v[vm->items[0]].len;
    }
    int s = newv(p, V_STORAGE);
    if (s < 0) return -1;
    p->v[s] = sv;
    if (view >= 0) {
        int w = newv(p, V_STORAGE);
        if (w < 0) return -1;
        vv.root = s;
        p->v[w] = vv;
        s = w;
    }
    return push(p, s);
}

static int int_arg(const struct pk *p, int v, int64_t *out) {
    if (v < 0 || p->v[v].type != V_INT) return -1;
    *out = p->v[v].i;
    return 0;
}

/* torch._utils._rebuild_tensor(_v2)(storage, offset, size, stride, …) */
static int rebuild_tensor(struct pk *p, int args) {
    const struct val *a = &p->v[args];
    if (a->type != V_TUPLE || a->n < 4 || p->v[a->items[0]].type != V_STORAGE ||
        p->v[a->items[2]].type != V_TUPLE || p->v[a->items[3]].type != V_TUPLE)
        return perr(p, "rebuilds a tensor from unexpected arguments");
    int storage = a->items[0], offset = a->items[1], sizes = a->items[2], strides = a->items[3];
    if (p->v[sizes].n != p->v[strides].n || p->v[sizes].n > MAX_DIMS)
        return perr(p, "rebuilds a tensor of bad rank");
    struct val x;
    memset(&x, 0, sizeof x);
    x.type = V_TENSOR;
    x.root = -1;
    x.storage = storage;
    x.ndim = p->v[sizes].n;
    if (int_arg(p, offset, &x.off) || x.off < 0)
        return perr(p, "rebuilds a tensor at a bad offset");
    for (int d = 0; d < x.ndim; d++)
        if (int_arg(p, p->v[sizes].items[d], &x.size[d]) ||
            int_arg(p, p->v[strides].items[d], &x.stride[d]) || x.size[d] < 0 ||
            x.stride[d] < 0 || x.size[d] > ((int64_t)1 << 40) || x.stride[d] > ((int64_t)1 << 40))
            return perr(p, "rebuilds a tensor with a bad size or stride");
    int t = newv(p, V_TENSOR); /* may move p->v: nothing above points into it any more */
    if (t < 0) return -1;
    p->v[t] = x;
    return push(p, t);
}

static int reduce(struct pk *p) {
    int args = pop(p), fn = pop(p);
    if (args < 0 || fn < 0) return -1;
    if (p->v[fn].type != V_GLOBAL) {
        int o = newv(p, V_OBJECT);
        return push(p, o);
    }
    const char *g = sval(p, fn);
    if (!strcmp(g, "torch._utils._rebuild_tensor_v2") || !strcmp(g, "torch._utils._rebuild_tensor"))
        return rebuild_tensor(p, args);
    if (!strcmp(g, "torch._utils._rebuild_parameter") ||
        !strcmp(g, "torch._utils._rebuild_parameter_with_state")) {
        const struct val *a = &p->v[args];
        if (a->type != V_TUPLE || a->n < 1) return perr(p, "rebuilds a parameter without data");
        return push(p, a->items[0]);
    }
    if (!strcmp(g, "collections.OrderedDict")) return push(p, newv(p, V_DICT));
    return push(p, newv(p, V_OBJECT)); /* anything else: an opaque object */
}

static int setitems(struct pk *p, int d, int from) {
    if ((p->sp - from) % 2) return perr(p, "has an odd number of dict items");
    if (p->v[d].type == V_DICT)
        for (int k = from; k < p->sp; k++)
            if (add_item(p, d, p->stack[k])) return -1;
    p->sp = from; /* items set on an opaque object are dropped */
    return 0;
}

static int run(struct pk *p, int *result) {
    for (;;) {
        if (need(p, 1)) return -1;
        uint8_t op = p->b[p->i++];
        const char *s;
        size_t len;
        int a, b, v;
        switch (op) {
        case 0x80: /* PROTO */
            if (need(p, 1)) return -1;
            if (p->b[p->i++] > 5) return perr(p, "protocol is newer than 5");
            break;
        case 0x95: /* FRAME */
            if (need(p, 8)) return -1;
            p->i += 8;
            break;
        case '.': /* STOP */
            if ((v = pop(p)) < 0) return -1;
            *result = v;
            return 0;
        case 'N': if (push(p, newv(p, V_NONE))) return -1; break;
        case 0x88:
        case 0x89:
            if ((v = newv(p, V_BOOL)) < 0) return -1;
            p->v[v].i = op == 0x88;
            if (push(p, v)) return -1;
            break;
        case 'J': case 'K': case 'M': {
            int k = op == 'J' ? 4 : op == 'K' ? 1 : 2;
            if (need(p, (size_t)k) || (v = newv(p, V_INT)) < 0) return -1;
            uint64_t x = le(p->b + p->i, k);
            p->v[v].i = k == 4 ? (int64_t)(int32_t)x : (int64_t)x;
            p->i += (size_t)k;
            if (push(p, v)) return -1;
            break;
        }
        case 0x8a: case 0x8b: { /* LONG1, LONG4: little-endian two's complement */
            int lk = op == 0x8a ? 1 : 4;
            if (need(p, (size_t)lk)) return -1;
            uint64_t n = le(p->b + p->i, lk);
            p->i += (size_t)lk;
            if (need(p, (size_t)n) || (v = newv(p, V_INT)) < 0) return -1;
            int64_t x = 0;
            if (n > 8) { /* wider than int64: only the legacy magic number; keep its low bits */
                x = (int64_t)le(p->b + p->i, 8);
                p->v[v].f = INFINITY;
            } else if (n > 0) {
                uint64_t u = le(p->b + p->i, (int)n);
                if (n < 8 && (p->b[p->i + n - 1] & 0x80)) u |= ~(uint64_t)0 << (8 * n);
                x = (int64_t)u;
            }
            p->i += (size_t)n;
            p->v[v].i = x;
            if (push(p, v)) return -1;
            break;
        }
        case 'I': case 'L': { /* INT / LONG as text */
            if (line(p, &s, &len) || (v = newv(p, V_INT)) < 0) return -1;
            char buf[32];
            if (len >= sizeof buf) return perr(p, "has a text integer too long");
            memcpy(buf, s, len);
            buf[len] = 0;
            if (op == 'I' && (!strcmp(buf, "01") || !strcmp(buf, "00"))) {
                p->v[v].type = V_BOOL;
                p->v[v].i = buf[1] == '1';
            } else {
                p->v[v].i = strtoll(buf, NULL, 10);
            }
            if (push(p, v)) return -1;
            break;
        }
        case 'G': {
            if (need(p, 8) || (v = newv(p, V_FLOAT)) < 0) return -1;
            uint64_t x = 0;
            for (int k = 0; k < 8; k++) x = x << 8 | p->b[p->i + k]; /* big-endian */
            memcpy(&p->v[v].f, &x, 8);
            p->i += 8;
            if (push(p, v)) return -1;
            break;
        }
        case 'F': {
            if (line(p, &s, &len) || (v = newv(p, V_FLOAT)) < 0) return -1;
            char buf[64];
            if (len >= sizeof buf) return perr(p, "has a text float too long");
            memcpy(buf, s, len);
            buf[len] = 0;
            p->v[v].f = strtod(buf, NULL);
            if (push(p, v)) return -1;
            break;
        }
        case 'X': case 0x8c: case 0x8d: case 'T': case 'U': case 'B': case 'C': case 0x8e:
        case 0x96: {
            int lk = (op == 0x8c || op == 'U' || op == 'C') ? 1 : (op == 0x8d || op == 0x8e || op == 0x96) ? 8 : 4;
            if (need(p, (size_t)lk)) return -1;
            uint64_t n = le(p->b + p->i, lk);
            p->i += (size_t)lk;
            if (need(p, (size_t)n)) return -1;
            if (push(p, str_val(p, V_STR, (const char *)p->b + p->i, (size_t)n))) return -1;
            p->i += (size_t)n;
            break;
        }
        case 'V': case 'S': { /* text strings: the raw line, quotes stripped */
            if (line(p, &s, &len)) return -1;
            if (op == 'S' && len >= 2 && (s[0] == '\'' || s[0] == '"')) {
                s++;
                len -= 2;
            }
            if (push(p, str_val(p, V_STR, s, len))) return -1;
            break;
        }
        case '}': if (push(p, newv(p, V_DICT))) return -1; break;
        case ']': if (push(p, newv(p, V_LIST))) return -1; break;
        case ')': if (push(p, newv(p, V_TUPLE))) return -1; break;
        case 0x8f: if (push(p, newv(p, V_LIST))) return -1; break; /* EMPTY_SET */
        case '(':
            if (p->nm == p->capm) {
                int nc = p->capm ? 2 * p->capm : 64;
                if (nc > MAX_STACK) return perr(p, "has too many marks");
                int *nm = realloc(p->marks, (size_t)nc * sizeof *nm);
                if (!nm) return perr(p, "out of memory");
                p->marks = nm;
                p->capm = nc;
            }
            p->marks[p->nm++] = p->sp;
            break;
        case 't': if (pop_mark_into(p, V_TUPLE)) return -1; break;
        case 'l': if (pop_mark_into(p, V_LIST)) return -1; break;
        case 0x91: if (pop_mark_into(p, V_LIST)) return -1; break; /* FROZENSET */
        case 'd': { /* DICT from marked key/value pairs */
            if (pop_mark_into(p, V_DICT)) return -1;
            if (p->v[p->stack[p->sp - 1]].n % 2) return perr(p, "has an odd number of dict items");
            break;
        }
        case 0x85: case 0x86: case 0x87: {
            int k = op - 0x84;
            if ((v = newv(p, V_TUPLE)) < 0) return -1;
            if (p->sp - floor_sp(p) < k) return perr(p, "stack underflow");
            for (int q = p->sp - k; q < p->sp; q++)
                if (add_item(p, v, p->stack[q])) return -1;
            p->sp -= k;
            if (push(p, v)) return -1;
            break;
        }
        case 'a':
            if ((b = pop(p)) < 0 || (a = top(p)) < 0) return -1;
            if (p->v[a].type == V_LIST && add_item(p, a, b)) return -1;
            break;
        case 'e': case 0x90: { /* APPENDS, ADDITEMS */
            if (!p->nm) return perr(p, "has no mark");
            int m = p->marks[--p->nm];
            if (m < 1 || m > p->sp) return perr(p, "stack underflow");
            int l = p->stack[m - 1];
            if (p->v[l].type == V_LIST)
                for (int q = m; q < p->sp; q++)
                    if (add_item(p, l, p->stack[q])) return -1;
            p->sp = m;
            break;
        }
        case 's':
            if ((b = pop(p)) < 0 || (a = pop(p)) < 0 || (v = top(p)) < 0) return -1;
            if (p->v[v].type == V_DICT && (add_item(p, v, a) || add_item(p, v, b))) return -1;
            break;
        case 'u': {
            if (!p->nm) return perr(p, "has no mark");
            int m = p->marks[--p->nm];
            if (m < 1 || m > p->sp) return perr(p, "stack underflow");
            if (setitems(p, p->stack[m - 1], m)) return -1;
            break;
        }
        case 'p': {
            if (line(p, &s, &len)) return -1;
            char buf[24];
            if (len >= sizeof buf) return perr(p, "has a bad memo index");
            memcpy(buf, s, len);
            buf[len] = 0;
            if (memo_put(p, strtoull(buf, NULL, 10))) return -1;
            break;
        }
        case 'q':
            if (need(p, 1) || memo_put(p, p->b[p->i++])) return -1;
            break;
        case 'r':
            if (need(p, 4)) return -1;
            p->i += 4;
            if (memo_put(p, le(p->b + p->i - 4, 4))) return -1;
            break;
        case 0x94: if (memo_put(p, p->memo_len)) return -1; break;
        case 'g': {
            if (line(p, &s, &len)) return -1;
            char buf[24];
            if (len >= sizeof buf) return perr(p, "has a bad memo index");
            memcpy(buf, s, len);
            buf[len] = 0;
            if (memo_get(p, strtoull(buf, NULL, 10))) return -1;
            break;
        }
        case 'h':
            if (need(p, 1) || memo_get(p, p->b[p->i++])) return -1;
            break;
        case 'j':
            if (need(p, 4)) return -1;
            p->i += 4;
            if (memo_get(p, le(p->b + p->i - 4, 4))) return -1;
            break;
        case '0': if (pop(p) < 0) return -1; break;
        case '1':
            if (!p->nm) return perr(p, "has no mark");
            p->sp = p->marks[--p->nm];
            break;
        case '2':
            if ((v = top(p)) < 0 || push(p, v)) return -1;
            break;
        case 'c': { /* GLOBAL "module\nname\n" → "module.name" */
            const char *m, *nme;
            size_t ml, nl;
            if (line(p, &m, &ml) || line(p, &nme, &nl)) return -1;
            char buf[256];
            if (ml + nl + 2 > sizeof buf) return perr(p, "has a global name too long");
            memcpy(buf, m, ml);
            buf[ml] = '.';
            memcpy(buf + ml + 1, nme, nl);
            if (push(p, str_val(p, V_GLOBAL, buf, ml + nl + 1))) return -1;
            break;
        }
        case 0x93: { /* STACK_GLOBAL */
            if ((b = pop(p)) < 0 || (a = pop(p)) < 0) return -1;
            if (p->v[a].type != V_STR || p->v[b].type != V_STR)
                return perr(p, "has a STACK_GLOBAL without names");
            char buf[256];
            if (p->v[a].len + p->v[b].len + 2 > sizeof buf) return perr(p, "has a global name too long");
            int l = snprintf(buf, sizeof buf, "%s.%s", sval(p, a), sval(p, b));
            if (push(p, str_val(p, V_GLOBAL, buf, (size_t)l))) return -1;
            break;
        }
        case 'R': if (reduce(p)) return -1; break;
        case 0x81: /* NEWOBJ cls args */
            if (pop(p) < 0 || pop(p) < 0) return -1;
            if (push(p, newv(p, V_OBJECT))) return -1;
            break;
        case 0x92: /* NEWOBJ_EX cls args kwargs */
            if (pop(p) < 0 || pop(p) < 0 || pop(p) < 0) return -1;
            if (push(p, newv(p, V_OBJECT))) return -1;
            break;
        case 'b': { /* BUILD: state applied to the object; a dict state updates a dict */
            if ((b = pop(p)) < 0 || (a = top(p)) < 0) return -1;
            if (a != b && p->v[a].type == V_DICT && p->v[b].type == V_DICT)
                for (int k = 0; k < p->v[b].n; k++)
                    if (add_item(p, a, p->v[b].items[k])) return -1;
            break;
        }
        case 'o': { /* OBJ: mark, class, args… */
            if (!p->nm) return perr(p, "has no mark");
            p->sp = p->marks[--p->nm];
            if (push(p, newv(p, V_OBJECT))) return -1;
            break;
        }
        case 'i': { /* INST module\nname\n with marked args */
            const char *m;
            size_t ml;
            if (line(p, &m, &ml) || line(p, &m, &ml)) return -1;
            if (!p->nm) return perr(p, "has no mark");
            p->sp = p->marks[--p->nm];
            if (push(p, newv(p, V_OBJECT))) return -1;
            break;
        }
        case 'Q':
            if ((v = pop(p)) < 0 || persistent(p, v)) return -1;
            break;
        case 'P':
            return perr(p, "uses a text persistent id (not a torch.save file)");
        default: {
            char what[64];
            snprintf(what, sizeof what, "has unsupported opcode 0x%02x", op);
            p->i--;
            return perr(p, what);
        }
        }
    }
}

static void pk_free(struct pk *p) {
    for (int k = 0; k < p->nv; k++) free(p->v[k].items);
    free(p->v);
    free(p->stack);
    free(p->marks);
    free(p->memo);
    free(p->str);
}

/* Run one pickle starting at byte `at`; *end receives the byte after its STOP. */
static int unpickle(struct pk *p, const char *name, const uint8_t *b, size_t n, size_t at,
                    int *result, size_t *end) {
    p->name = name;
    p->b = b;
    p->n = n;
    p->i = at;
    p->sp = p->nm = 0;
    for (size_t k = 0; k < p->nmemo; k++) p->memo[k] = -1;
    p->memo_len = 0;
    if (run(p, result)) return -1;
    if (end) *end = p->i;
    return 0;
}

/* ---- from values to tensors ------------------------------------------------------------------ */

static int is_str(const struct pk *p, int v, const char *s) {
    return v >= 0 && p->v[v].type == V_STR && !strcmp(sval(p, v), s);
}

static int dict_get(const struct pk *p, int d, const char *key) {
    const struct val *x = &p->v[d];
    for (int k = 0; k + 1 < x->n; k += 2)
        if (is_str(p, x->items[k], key)) return x->items[k + 1];
    return -1;
}

/* Copy tensor t's elements (strided over its storage) into a new contiguous buffer. */
static int materialize(struct pk *p, int t, void **out) {
    const struct val *x = &p->v[t];
    const struct val *st = &p->v[x->storage];
    size_t es = nn_dtype_size(st->dtype), numel = 1, last = (size_t)x->off;
    for (int d = 0; d < x->ndim; d++) {
        numel *= (size_t)x->size[d];
        if (x->size[d] > 0) last += (size_t)(x->size[d] - 1) * (size_t)x->stride[d];
    }
    if (numel && (!st->data || last >= st->numel))
        return nn_err("%s: a tensor reaches element %zu of a storage of %zu", p->name, last,
                      st->numel);
    uint8_t *buf = malloc(numel * es + 1);
    if (!buf) return nn_err("%s: out of memory", p->name);
    int64_t idx[MAX_DIMS] = {0};
    for (size_t e = 0; e < numel; e++) {
        size_t src = (size_t)x->off;
        for (int d = 0; d < x->ndim; d++) src += (size_t)idx[d] * (size_t)x->stride[d];
        memcpy(buf + e * es, st->data + src * es, es);
        for (int d = x->ndim - 1; d >= 0; d--) {
            if (++idx[d] < x->size[d]) break;
            idx[d] = 0;
        }
    }
    *out = buf;
    return 0;
}

static int collect(struct pk *p, int root, struct data_pth *out) {
    int d = root;
    if (p->v[d].type == V_DICT) {
        int sd = dict_get(p, d, "state_dict");
        if (sd < 0) sd = dict_get(p, d, "model");
        if (sd >= 0 && p->v[sd].type == V_DICT) d = sd;
    }
    if (p->v[d].type != V_DICT) return nn_err("%s: the checkpoint holds no state dict", p->name);
    const struct val *x = &p->v[d];
    out->t = calloc((size_t)x->n / 2 + 1, sizeof *out->t);
    if (!out->t) return nn_err("%s: out of memory", p->name);
    for (int k = 0; k + 1 < x->n; k += 2) {
        int key = x->items[k], val = x->items[k + 1];
        if (p->v[key].type != V_STR || p->v[val].type != V_TENSOR) continue;
        const char *name = sval(p, key);
        if (!strncmp(name, "module.", 7)) name += 7;
        struct nn_tensor_view *tv = &out->t[out->n];
        const struct val *tt = &p->v[val];
        void *data = NULL;
        if (materialize(p, val, &data)) return -1;
        tv->name = strdup(name);
        tv->data = data;
        tv->dtype = p->v[tt->storage].dtype;
        tv->ndim = tt->ndim;
        for (int q = 0; q < tt->ndim; q++) tv->shape[q] = tt->size[q];
        out->n++;
        if (!tv->name) return nn_err("%s: out of memory", p->name);
    }
    return 0;
}

void data_pth_free(struct data_pth *pth) {
    for (int i = 0; i < pth->n; i++) {
        free((void *)pth->t[i].name);
        free((void *)pth->t[i].data);
    }
    free(pth->t);
    memset(pth, 0, sizeof *pth);
}

/* ---- the two container formats ------------------------------------------------------------- */

static int read_zip(const char *name, const uint8_t *buf, size_t n, struct data_pth *out) {
    struct data_zip z;
    if (data_zip_open_mem(&z, buf, n)) return nn_err_ctx("%s: ", name);
    const struct data_zip_entry *pkl = NULL;
    for (size_t k = 0; k < z.count; k++) {
        size_t l = strlen(z.entries[k].name);
        if (l >= 8 && !strcmp(z.entries[k].name + l - 8, "data.pkl")) {
            pkl = &z.entries[k];
            break;
        }
    }
    struct pk p = {0};
    uint8_t *owned = NULL;
    const uint8_t *pb;
    int rc = -1, root;
    if (!pkl) {
        nn_err("%s: a zip archive without data.pkl (not a torch.save file)", name);
        goto out;
    }
    size_t plen = strlen(pkl->name) - 8; /* "<prefix>/" */
    if (data_zip_read(&z, pkl, (size_t)1 << 32, &pb, &owned)) {
        nn_err_ctx("%s: ", name);
        goto out;
    }
    if (unpickle(&p, name, pb, (size_t)pkl->size, 0, &root, NULL)) goto out;
    /* resolve every storage to its archive entry <prefix>data/<key> */
    for (int v = 0; v < p.nv; v++) {
        struct val *s = &p.v[v];
        if (s->type != V_STORAGE) continue;
        char ename[512];
        if (plen + 5 + s->len + 1 > sizeof ename) {
            nn_err("%s: storage key too long", name);
            goto out;
        }
        snprintf(ename, sizeof ename, "%.*sdata/%s", (int)plen, pkl->name, p.str + s->s);
        const struct data_zip_entry *e = data_zip_find(&z, ename);
        if (!e) {
            nn_err("%s: storage %s is missing from the archive", name, ename);
            goto out;
        }
        size_t bytes = s->numel * nn_dtype_size(s->dtype);
        if (e->method != 0 || e->size < bytes) {
            nn_err("%s: storage %s has %llu bytes, %zu expected (or is compressed)", name, ename,
                   (unsigned long long)e->size, bytes);
            goto out;
        }
        const uint8_t *d;
        uint8_t *own = NULL; /* stays NULL: the entry is STORED */
        if (data_zip_read(&z, e, (size_t)e->size, &d, &own)) {
            nn_err_ctx("%s: ", name);
            goto out;
        }
        s->data = d; /* points into buf, which outlives collect() below */
    }
    rc = collect(&p, root, out);
    out->zip = 1;
out:
    free(owned);
    pk_free(&p);
    data_zip_close(&z);
    return rc;
}

static int read_legacy(const char *name, const uint8_t *buf, size_t n, struct data_pth *out) {
    struct pk p = {0};
    int rc = -1, magic, proto, info, root, keys;
    size_t at = 0;
    if (unpickle(&p, name, buf, n, at, &magic, &at)) goto out;
    /* the magic number 0x1950a86a20f9469cfc6c, of which LONG1 keeps the low 64 bits */
    if (p.v[magic].type != V_INT || (uint64_t)p.v[magic].i != 0xa86a20f9469cfc6cULL) {
        nn_err("%s: not a PyTorch checkpoint (no torch.save magic number)", name);
        goto out;
    }
    if (unpickle(&p, name, buf, n, at, &proto, &at)) goto out;
    if (p.v[proto].type != V_INT || p.v[proto].i != 1001) {
        nn_err("%s: legacy protocol %lld is not 1001", name, (long long)p.v[proto].i);
        goto out;
    }
    if (unpickle(&p, name, buf, n, at, &info, &at)) goto out;
    if (p.v[info].type == V_DICT) {
        int le_ = dict_get(&p, info, "little_endian");
        if (le_ >= 0 && p.v[le_].type == V_BOOL && !p.v[le_].i) {
            nn_err("%s: a big-endian checkpoint", name);
            goto out;
        }
    }
    if (unpickle(&p, name, buf, n, at, &root, &at)) goto out;
    if (unpickle(&p, name, buf, n, at, &keys, &at)) goto out;
    if (p.v[keys].type != V_LIST) {
        nn_err("%s: the storage key list is missing", name);
        goto out;
    }
    /* storages follow in key-list order: int64 element count, then the bytes */
    const struct val *kl = &p.v[keys];
    for (int k = 0; k < kl->n; k++) {
        int key = kl->items[k];
        if (p.v[key].type != V_STR) {
            nn_err("%s: a storage key is not a string", name);
            goto out;
        }
        if (n - at < 8) {
            nn_err("%s: truncated at storage %s", name, sval(&p, key));
            goto out;
        }
        uint64_t count = le(buf + at, 8);
        at += 8;
        int root_s = -1;
        for (int v = 0; v < p.nv && root_s < 0; v++)
            if (p.v[v].type == V_STORAGE && p.v[v].root < 0 && !strcmp(p.str + p.v[v].s, sval(&p, key)))
                root_s = v;
        size_t es = root_s >= 0 ? nn_dtype_size(p.v[root_s].dtype) : 1;
        if (count > (n - at) / es) {
            nn_err("%s: storage %s of %llu elements runs past the end", name, sval(&p, key),
                   (unsigned long long)count);
            goto out;
        }
        for (int v = 0; v < p.nv; v++) {
            struct val *s = &p.v[v];
            if (s->type != V_STORAGE || s->root >= 0 || strcmp(p.str + s->s, sval(&p, key)))
                continue;
            if (count < s->numel) {
                nn_err("%s: storage %s holds %llu elements, %zu expected", name, sval(&p, key),
                       (unsigned long long)count, s->numel);
                goto out;
            }
            s->data = buf + at;
        }
        at += (size_t)count * es;
    }
    for (int v = 0; v < p.nv; v++) { /* views of root storages */
        struct val *s = &p.v[v];
        if (s->type == V_STORAGE && s->root >= 0 && p.v[s->root].data)
            s->data = p.v[s->root].data + s->view_off * nn_dtype_size(s->dtype);
    }
    rc = collect(&p, root, out);
out:
    pk_free(&p);
    return rc;
}

int data_pth_read_mem(const char *name, const uint8_t *buf, size_t n, struct data_pth *out) {
    memset(out, 0, sizeof *out);
    int rc;
    if (n >= 4 && buf[0] == 'P' && buf[1] == 'K' && buf[2] == 3 && buf[3] == 4)
        rc = read_zip(name, buf, n, out);
    else if (n >= 2 && buf[0] == 0x80)
        rc = read_legacy(name, buf, n, out);
    else
        rc = nn_err("%s: neither a zip archive nor a pickle stream (not a torch.save file)", name);
    if (rc) data_pth_free(out);
    return rc;
}

int data_pth_read(const char *path, struct data_pth *out) {
    uint8_t *buf;
    size_t n;
    memset(out, 0, sizeof *out);
    if (data_read_file(path, &buf, &n)) return -1;
    int rc = data_pth_read_mem(path, buf, n, out);
    free(buf);
    return rc;
}
