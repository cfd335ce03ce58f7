/* TensorBoard event files: scalars of a search (reward, top-1, cost per episode) that
 * TensorBoard, tensorboardX readers and tf.data's TFRecordDataset read without this engine.
 *
 * File DIR/events.out.tfevents.<unix seconds>.<host> (host: the hostname with characters
 * other than [A-Za-z0-9._-] dropped, "haq" when there is none; ".1", ".2" … appended when the
 * name is taken). A TFRecord stream; each record is
 *     uint64 length (LE) | uint32 masked CRC32C of those 8 bytes | data | uint32 masked CRC32C
 *     of the data
 * with mask(c) = ((c >> 15) | (c << 17)) + 0xa282ead8 (mod 2^32). The data is a
 * tensorflow.Event protobuf (tensorflow/core/util/event.proto, summary.proto), encoded here:
 *     Event   { double wall_time = 1; int64 step = 2; string file_version = 3;
 *               Summary summary = 5; }
 *     Summary { repeated Value value = 1; }
 *     Value   { string tag = 1; float simple_value = 2; }
 * The first record is Event{wall_time, file_version: "brain.Event:2"}; each scalar is
 * Event{wall_time, step, summary{value{tag, simple_value}}}.
 *
 * Unlike the engine's other files, an event file is appended to in place: it is a log that
 * TensorBoard reads while it grows, and each record carries its own length and CRCs, so a
 * record cut short by an interrupted run is detected and skipped by readers. Records are
 * buffered; rl_tfevents_flush makes the ones written so far visible. */
#ifndef HAQ_RL_TFEVENTS_H
#define HAQ_RL_TFEVENTS_H

#include <stddef.h>
#include <stdint.h>

struct rl_tfevents;

/* Create dir if missing (and its parents) and a new event file in it, with its file_version
 * record written. Returns NULL on failure (nn_err names the path). */
struct rl_tfevents *rl_tfevents_open(const char *dir);

/* The path of the event file (owned by w). */
const char *rl_tfevents_path(const struct rl_tfevents *w);

/* Append one scalar: tag (non-empty, at most 4096 bytes), step, value (stored as a float, as
 * TensorBoard's simple_value is). Returns 0 or −1 (nn_err). */
int rl_tfevents_scalar(struct rl_tfevents *w, const char *tag, int64_t step, double value);

/* Write the buffered records to the file. Returns 0 or −1 (nn_err). */
int rl_tfevents_flush(struct rl_tfevents *w);

/* Flush and close; NULL is allowed. A failure here is lost: call rl_tfevents_flush first
 * where it matters. */
void rl_tfevents_close(struct rl_tfevents *w);

/* CRC-32C (Castagnoli, reflected polynomial 0x82f63b78) of n bytes; "123456789" → 0xe3069283.
 * rl_crc32c_mask: the TFRecord masking above. */
uint32_t rl_crc32c(const void *data, size_t n);
uint32_t rl_crc32c_mask(uint32_t crc);

#endif
