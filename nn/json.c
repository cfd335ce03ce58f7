#include "json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

#define MAX_DEPTH 64
#define MAX_VALUES (1 << 22)

struct parser {
    const char *s;
    size_t n, i;
    struct nn_json *j;
};

static int perr(struct parser *p, const char *what) {
    return nn_err("JSON: %s at byte %zu", what, p->i);
}

static void skip_ws(struct parser *p) {
    while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' ||
                           p->s[p->i] == '\r'))
        p->i++;
}

static int new_val(struct parser *p, enum nn_json_type t) {
    struct nn_json *j = p->j;
    if (j->n == j->cap) {
        if (j->cap >= MAX_VALUES) return perr(p, "too many values");
        int nc = j->cap ? 2 * j->cap : 64;
        struct nn_json_val *v = realloc(j->v, (size_t)nc * sizeof *v);
        if (!v) return perr(p, "out of memory");
        j->v = v;
        j->cap = nc;
    }
    struct nn_json_val *v = &j->v[j->n];
    memset(v, 0, sizeof *v);
    v->type = t;
    v->first = v->next = v->key = -1;
    return j->n++;
}

static int put_bytes(struct parser *p, const char *b, size_t len) {
    struct nn_json *j = p->j;
    if (j->slen + len + 1 > j->scap) {
        size_t nc = j->scap ? j->scap : 256;
        while (nc < j->slen + len + 1) nc *= 2;
        char *s = realloc(j->strings, nc);
        if (!s) return perr(p, "out of memory");
        j->strings = s;
        j->scap = nc;
    }
    memcpy(j->strings + j->slen, b, len);
    j->slen += len;
    return 0;
}

static int hex4(struct parser *p, unsigned *out) {
    if (p->n - p->i < 4) return perr(p, "truncated \\u escape");
    unsigned v = 0;
    for (int k = 0; k < 4; k++) {
        char c = p->s[p->i++];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else return perr(p, "bad hex digit in \\u escape");
    }
    *out = v;
    return 0;
}

static int parse_string(struct parser *p, int *out) {
    int v = new_val(p, NN_JSON_STRING);
    if (v < 0) return -1;
    p->i++; /* opening quote */
    size_t start = p->j->slen;
    for (;;) {
        if (p->i >= p->n) return perr(p, "unterminated string");
        unsigned char c = (unsigned char)p->s[p->i];
        if (c == '"') {
            p->i++;
            break;
        }
        if (c < 0x20) return perr(p, "control character in string");
        if (c != '\\') {
            size_t run = p->i;
            while (run < p->n && p->s[run] != '"' && p->s[run] != '\\' &&
                   (unsigned char)p->s[run] >= 0x20)
                run++;
            if (put_bytes(p, p->s + p->i, run - p->i)) return -1;
            p->i = run;
            continue;
        }
        if (++p->i >= p->n) return perr(p, "unterminated escape");
        char e = p->s[p->i++], ch;
        switch (e) {
        case '"': ch = '"'; break;
        case '\\': ch = '\\'; break;
        case '/': ch = '/'; break;
        case 'b': ch = '\b'; break;
        case 'f': ch = '\f'; break;
        case 'n': ch = '\n'; break;
        case 'r': ch = '\r'; break;
        case 't': ch = '\t'; break;
        case 'u': {
            unsigned cp;
            if (hex4(p, &cp)) return -1;
            if (cp >= 0xd800 && cp < 0xdc00) {
                unsigned lo;
                if (p->n - p->i < 2 || p->s[p->i] != '\\' || p->s[p->i + 1] != 'u')
                    return perr(p, "unpaired surrogate");
                p->i += 2;
                if (hex4(p, &lo)) return -1;
                if (lo < 0xdc00 || lo > 0xdfff) return perr(p, "bad low surrogate");
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            } else if (cp >= 0xdc00 && cp < 0xe000) {
                return perr(p, "unpaired surrogate");
            }
            char u[4];
            size_t ul;
            if (cp < 0x80) {
                u[0] = (char)cp;
                ul = 1;
            } else if (cp < 0x800) {
                u[0] = (char)(0xc0 | (cp >> 6));
                u[1] = (char)(0x80 | (cp & 0x3f));
                ul = 2;
            } else if (cp < 0x10000) {
                u[0] = (char)(0xe0 | (cp >> 12));
                u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
                u[2] = (char)(0x80 | (cp & 0x3f));
                ul = 3;
            } else {
                u[0] = (char)(0xf0 | (cp >> 18));
                u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
                u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
                u[3] = (char)(0x80 | (cp & 0x3f));
                ul = 4;
            }
            if (put_bytes(p, u, ul)) return -1;
            continue;
        }
        default:
            return perr(p, "bad escape");
        }
        if (put_bytes(p, &ch, 1)) return -1;
    }
    if (put_bytes(p, "", 1)) return -1; /* NUL terminator */
    p->j->v[v].str = start;
    p->j->v[v].len = p->j->slen - start - 1;
    *out = v;
    return 0;
}

static int parse_number(struct parser *p, int *out) {
    size_t b = p->i;
    if (p->i < p->n && p->s[p->i] == '-') p->i++;
    if (p->i >= p->n) return perr(p, "truncated number");
    if (p->s[p->i] == '0') p->i++;
    else if (p->s[p->i] >= '1' && p->s[p->i] <= '9')
        while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') p->i++;
    else return perr(p, "bad number");
    int integer = 1;
    if (p->i < p->n && p->s[p->i] == '.') {
        integer = 0;
        p->i++;
        size_t d = p->i;
        while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') p->i++;
        if (p->i == d) return perr(p, "bad fraction");
    }
    if (p->i < p->n && (p->s[p->i] == 'e' || p->s[p->i] == 'E')) {
        integer = 0;
        p->i++;
        if (p->i < p->n && (p->s[p->i] == '+' || p->s[p->i] == '-')) p->i++;
        size_t d = p->i;
        while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') p->i++;
        if (p->i == d) return perr(p, "bad exponent");
    }
    char buf[64];
    size_t len = p->i - b;
    if (len >= sizeof buf) return perr(p, "number too long");
    memcpy(buf, p->s + b, len);
    buf[len] = 0;
    int v = new_val(p, NN_JSON_NUMBER);
    if (v < 0) return -1;
    struct nn_json_val *val = &p->j->v[v];
    val->num = strtod(buf, NULL);
    if (integer && len <= 18) {
        val->is_int = 1;
        val->i64 = strtoll(buf, NULL, 10);
    }
    *out = v;
    return 0;
}

static int parse_value(struct parser *p, int depth, int *out);

static int parse_container(struct parser *p, int depth, int obj, int *out) {
    if (depth > MAX_DEPTH) return perr(p, "nesting too deep");
    int v = new_val(p, obj ? NN_JSON_OBJECT : NN_JSON_ARRAY);
    if (v < 0) return -1;
    p->i++;
    int last = -1, count = 0;
    skip_ws(p);
    if (p->i < p->n && p->s[p->i] == (obj ? '}' : ']')) {
        p->i++;
        *out = v;
        return 0;
    }
    for (;;) {
        int key = -1, child;
        skip_ws(p);
        if (obj) {
            if (p->i >= p->n || p->s[p->i] != '"') return perr(p, "expected a member name");
            if (parse_string(p, &key)) return -1;
            skip_ws(p);
            if (p->i >= p->n || p->s[p->i] != ':') return perr(p, "expected ':'");
            p->i++;
        }
        if (parse_value(p, depth + 1, &child)) return -1;
        p->j->v[child].key = key;
        if (last < 0) p->j->v[v].first = child;
        else p->j->v[last].next = child;
        last = child;
        count++;
        skip_ws(p);
        if (p->i >= p->n) return perr(p, obj ? "unterminated object" : "unterminated array");
        if (p->s[p->i] == ',') {
            p->i++;
            continue;
        }
        if (p->s[p->i] == (obj ? '}' : ']')) {
            p->i++;
            break;
        }
        return perr(p, obj ? "expected ',' or '}'" : "expected ',' or ']'");
    }
    p->j->v[v].count = count;
    *out = v;
    return 0;
}

static int literal(struct parser *p, const char *word, enum nn_json_type t, int b, int *out) {
    size_t len = strlen(word);
    if (p->n - p->i < len || memcmp(p->s + p->i, word, len)) return perr(p, "bad literal");
    p->i += len;
    int v = new_val(p, t);
    if (v < 0) return -1;
    p->j->v[v].boolean = b;
    *out = v;
    return 0;
}

static int parse_value(struct parser *p, int depth, int *out) {
    skip_ws(p);
    if (p->i >= p->n) return perr(p, "unexpected end");
    char c = p->s[p->i];
    if (c == '{') return parse_container(p, depth, 1, out);
    if (c == '[') return parse_container(p, depth, 0, out);
    if (c == '"') return parse_string(p, out);
    if (c == 't') return literal(p, "true", NN_JSON_BOOL, 1, out);
    if (c == 'f') return literal(p, "false", NN_JSON_BOOL, 0, out);
    if (c == 'n') return literal(p, "null", NN_JSON_NULL, 0, out);
    if (c == '-' || (c >= '0' && c <= '9')) return parse_number(p, out);
    return perr(p, "unexpected character");
}

int nn_json_parse(struct nn_json *j, const char *text, size_t len) {
    memset(j, 0, sizeof *j);
    struct parser p = {text, len, 0, j};
    int root;
    if (parse_value(&p, 0, &root)) {
        nn_json_free(j);
        return -1;
    }
    skip_ws(&p);
    if (p.i != len) {
        perr(&p, "trailing characters");
        nn_json_free(j);
        return -1;
    }
    return 0;
}

void nn_json_free(struct nn_json *j) {
    free(j->v);
    free(j->strings);
    memset(j, 0, sizeof *j);
}

int nn_json_get(const struct nn_json *j, int obj, const char *key) {
    if (obj < 0 || obj >= j->n || j->v[obj].type != NN_JSON_OBJECT) return -1;
    for (int c = j->v[obj].first; c >= 0; c = j->v[c].next)
        if (!strcmp(j->strings + j->v[j->v[c].key].str, key)) return c;
    return -1;
}

const char *nn_json_str(const struct nn_json *j, int v) {
    if (v < 0 || v >= j->n || j->v[v].type != NN_JSON_STRING) return NULL;
    return j->strings + j->v[v].str;
}

size_t nn_json_quote(char *buf, size_t cap, const char *s) {
    size_t o = 0;
#define PUT(ch)                                                                                  \
    do {                                                                                         \
        if (o + 1 < cap) buf[o] = (ch);                                                          \
        o++;                                                                                     \
    } while (0)
    PUT('"');
    for (const unsigned char *q = (const unsigned char *)s; *q; q++) {
        if (*q == '"' || *q == '\\') {
            PUT('\\');
            PUT((char)*q);
        } else if (*q < 0x20) {
            static const char hx[] = "0123456789abcdef";
            PUT('\\');
            PUT('u');
            PUT('0');
            PUT('0');
            PUT(hx[*q >> 4]);
            PUT(hx[*q & 15]);
        } else {
            PUT((char)*q);
        }
    }
    PUT('"');
#undef PUT
    if (cap) buf[o < cap ? o : cap - 1] = 0;
    return o;
}
