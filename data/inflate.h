/* DEFLATE (RFC 1951), zlib (RFC 1950) and gzip (RFC 1952) decoding, and CRC-32.
 *
 * Every decoder checks each code, length and distance against the bytes it was given: a
 * truncated or hostile stream yields −1 with an nn_err message that names the byte offset
 * of the fault, never a read outside `in` or a write outside the output. Output is bounded
 * by `max_out` bytes, so a small bomb cannot exhaust memory. */
#ifndef HAQ_DATA_INFLATE_H
#define HAQ_DATA_INFLATE_H

#include <stddef.h>
#include <stdint.h>

/* CRC-32 of ISO 3309 / ITU-T V.42 (the gzip and zip checksum), slice-by-8. Start with
 * crc = 0 and feed the running value back for the next piece:
 *   data_crc32(data_crc32(0, a, na), b, nb) == data_crc32(0, ab, na + nb). */
uint32_t data_crc32(uint32_t crc, const void *buf, size_t n);

/* Adler-32 of RFC 1950, same chaining convention but starting from 1. */
uint32_t data_adler32(uint32_t adler, const void *buf, size_t n);

/* Decode one raw DEFLATE stream from in[0, n) into a fresh malloc'ed buffer: *out (caller
 * frees; never NULL on success, even for empty output) holds *out_n bytes. Fails when the
 * output would exceed max_out bytes. *in_used (may be NULL) receives the number of input bytes
 * the stream occupied (up to the byte holding its last bit); bytes after it are ignored. */
int data_inflate(const uint8_t *in, size_t n, uint8_t **out, size_t *out_n, size_t max_out,
                 size_t *in_used);

/* Decode one raw DEFLATE stream into the caller's buffer out[0, cap): for containers that
 * record the decoded size (zip). Fails when the stream decodes to more than cap bytes;
 * *out_n receives the decoded size. *in_used as for data_inflate. */
int data_inflate_into(const uint8_t *in, size_t n, uint8_t *out, size_t cap, size_t *out_n,
                      size_t *in_used);

/* A zlib stream (2-byte header, DEFLATE, Adler-32 trailer checked). Preset dictionaries
 * are refused. Output as for data_inflate. */
int data_zlib_decompress(const uint8_t *in, size_t n, uint8_t **out, size_t *out_n, size_t max_out);

/* A gzip file in memory: one or more members (concatenated, as `cat a.gz b.gz` makes), each
 * with its header flags (FEXTRA, FNAME, FCOMMENT, FHCRC) parsed and its CRC-32 and ISIZE
 * checked; the members' outputs are concatenated. Trailing zero bytes (tape padding) are
 * accepted, any other trailing bytes are an error. Output as for data_inflate. */
int data_gunzip(const uint8_t *in, size_t n, uint8_t **out, size_t *out_n, size_t max_out);

/* Read a whole file and data_gunzip it, output capped at UINT32_MAX bytes (the range of a
 * member's ISIZE). Errors carry the path. */
int data_gunzip_file(const char *path, uint8_t **out, size_t *n);

/* Read a whole file into a malloc'ed buffer (caller frees; *n bytes, plus one zero byte past
 * the end that is not counted). Errors carry the path. */
int data_read_file(const char *path, uint8_t **buf, size_t *n);

#endif
