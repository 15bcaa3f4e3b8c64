/*
 * frame.h - QEMU's net socket framing, as spoken on the chardevs of QEMU's
 * colo-compare (primary_in, secondary_in, outdev, notify_dev).
 *
 *   +-----------+-------------------+-------------------------------------+
 *   | len BE32  | vnet_len BE32     | len bytes: the virtio-net header    |
 *   |           | (only when        | (vnet_len bytes), then the Ethernet |
 *   |           |  vnet_hdr_support)| frame                               |
 *   +-----------+-------------------+-------------------------------------+
 *
 * Facts from QEMU 7.2: net/net.c net_fill_rstate() reads it into a buffer
 * of NET_BUFSIZE (4096 + 65536) bytes and gives up on the whole stream on
 * a longer frame; net/colo.c parse_packet_early() counts vnet_len inside
 * len; net/colo-compare.c compare_chr_send() writes the same framing on
 * outdev, and notify_dev messages ("DO_CHECKPOINT") without the vnet_len
 * field even when vnet_hdr_support is on, while it reads notify_dev with
 * that field.
 *
 * A push parser with no I/O: qf_feed() takes whatever read() returned and
 * calls back once per complete frame, pointing into the caller's bytes when
 * the frame is whole in them (no copy) and into its own buffer otherwise.
 * Malformed framing is counted and skipped, never fatal: a frame longer
 * than the limit or with vnet_len > len is skipped by its length, an empty
 * one ignored.
 */
#ifndef BENCH_QCMP_FRAME_H
#define BENCH_QCMP_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define QF_MAX_LEN (4096u + 65536u)	/* QEMU's NET_BUFSIZE */
#define QF_HDR_MAX 8

/* One frame: PKT points at the vnet header (VLEN bytes), then the frame;
 * LEN counts both. */
typedef void qf_frame_cb(void *arg, const uint8_t *pkt, uint32_t len,
			 uint32_t vlen);

struct qf_stats {
	uint64_t frames;	/* delivered */
	uint64_t bytes;		/* their len, summed */
	uint64_t oversized;	/* len > max: skipped */
	uint64_t empty;		/* len == 0: ignored */
	uint64_t bad_vnet;	/* vnet_len > len: skipped */
	uint64_t truncated;	/* a stream ended inside a frame */
};

struct qf_reader {
	bool vnet;		/* expect the vnet_len field */
	uint32_t max;		/* longest len accepted */
	uint8_t state;		/* enum in frame.c */
	uint8_t hdr[4];
	uint32_t hlen;		/* bytes of hdr filled */
	uint32_t len, vlen;	/* of the frame being read */
	uint32_t have;		/* its bytes read (or skipped) so far */
	uint8_t *buf;		/* max bytes: frames split across reads */
	struct qf_stats st;
};

/* 0 or -ENOMEM; MAX 0 means QF_MAX_LEN. */
int qf_reader_init(struct qf_reader *r, bool vnet, uint32_t max);
void qf_reader_free(struct qf_reader *r);

/* Feed N bytes of the stream; CB is called for each complete frame. */
void qf_feed(struct qf_reader *r, const uint8_t *d, size_t n,
	     qf_frame_cb *cb, void *arg);

/* The stream ended (or was reconnected): a partial frame is counted as
 * truncated and the parser starts over. */
void qf_reset(struct qf_reader *r);

/* Write the length fields of a LEN-byte frame into OUT (QF_HDR_MAX bytes);
 * returns how many bytes (4, or 8 with VNET). */
size_t qf_put_header(uint8_t *out, uint32_t len, bool vnet, uint32_t vlen);

#endif
