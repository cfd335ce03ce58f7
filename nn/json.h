/* A small strict JSON reader (RFC 8259) for file headers (safetensors) and configs.
 *
 * The document is parsed into a flat array of values; containers refer to their children by
 * index. Strings are decoded (escapes, \u with surrogate pairs → UTF-8) into one owned
 * buffer. Every byte is bounds-checked; nesting depth and sizes are capped, so hostile input
 * yields an error with its byte offset, never a crash. */
#ifndef HAQ_NN_JSON_H
#define HAQ_NN_JSON_H

#include <stddef.h>
#include <stdint.h>

enum nn_json_type { NN_JSON_NULL, NN_JSON_BOOL, NN_JSON_NUMBER, NN_JSON_STRING, NN_JSON_ARRAY,
                    NN_JSON_OBJECT };

struct nn_json_val {
    enum nn_json_type type;
    int first, next; /* first child (arrays, objects); next sibling; −1 = none */
    int key;         /* object members: index of the key string value, else −1 */
    int count;       /* children of a container */
    double num;
    int is_int;      /* the number was written as an integer that fits int64 */
    int64_t i64;
    size_t str, len; /* strings: offset into strings and length in bytes */
    int boolean;
};

struct nn_json {
    struct nn_json_val *v;
    int n, cap;
    char *strings;
    size_t slen, scap;
};

/* Parse len bytes; 0 or −1 (nn_err gives the offset). The root is value 0. */
int nn_json_parse(struct nn_json *j, const char *text, size_t len);
void nn_json_free(struct nn_json *j);

/* Member `key` of object value obj, or −1. */
int nn_json_get(const struct nn_json *j, int obj, const char *key);
/* NUL-terminated string of a string value. */
const char *nn_json_str(const struct nn_json *j, int v);

/* Append s to buf as a JSON string literal (quotes and escapes) — for writers. Returns bytes
 * that the full literal needs (like snprintf). */
size_t nn_json_quote(char *buf, size_t cap, const char *s);

#endif
