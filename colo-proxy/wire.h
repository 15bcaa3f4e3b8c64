/*
 * wire: the proxy channel's framing, between the primary's and the
 * secondary's colo-proxy over one TCP connection.  Pure: encoders write
 * into caller buffers, the decoder is fed bytes and hands out messages.
 *
 * Every message is a 24-byte header, all fields big-endian, then LEN bytes:
 *
 *    0      2   3   4      6      8             12            16      20      24
 *   +------+---+---+------+------+-------------+-------------+-------+-------+
 *   |magic |ver|typ|flags | aux  |    len      |    seq      | epoch | crc32c|
 *   |0xC01E| 1 |   |      |      | (payload)   |             |       | (hdr) |
 *   +------+---+---+------+------+-------------+-------------+-------+-------+
 *
 *   seq     counts every message but HELLO, per direction, from the value
 *           the sender announced in its HELLO; a receiver that sees seq
 *           jump (a message lost while the connection broke, or dropped
 *           by a sender that could not queue it) or go back knows that the
 *           secondary may have missed input: the proxy asks for a checkpoint.
 *   epoch   the sender's epoch when the frame was read (FRAME), or the
 *           epoch a message is about.
 *   crc32c  of the first 20 header bytes: a peer speaking garbage is
 *           detected at its first header, not after a bogus length.
 *
 * A header with a bad magic, version, type, crc, or a length beyond
 * WIRE_MAX_PAYLOAD (or not what the type requires) is a protocol error:
 * the connection is closed and the error counted; nothing of it is used.
 */
#ifndef COLO_PROXY_WIRE_H
#define COLO_PROXY_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WIRE_MAGIC	0xC01Eu
#define WIRE_VERSION	1
#define WIRE_HDR_LEN	24
#define WIRE_MAX_PAYLOAD (65535u + 64u)	/* a 64 KiB packet and an L2 header */

enum wire_type {
	WIRE_HELLO = 1,		/* both ways, first message: struct wire_hello */
	WIRE_FRAME,		/* a frame: A->B mirrored input, B->A SVM output */
	WIRE_ISN,		/* A->B: the PVM's ISN of a connection */
	WIRE_CKPT_REQ,		/* B->A: please checkpoint (aux: reason) */
	WIRE_EPOCH,		/* A->B: checkpoint EPOCH completed (aux: 0) */
	WIRE_KEEPALIVE,		/* both ways, no payload */
	WIRE_LEGACY,		/* A->B: a connection's translation to the
				   peer's numbers (struct wire_isn: isn =
				   sequence offset, tsval = timestamp
				   offset), after a re-protection */
	WIRE_TYPE_MAX
};

/* FRAME flags */
enum {
	WIRE_F_LINK_ETH = 1U << 0,	/* payload starts with an Ethernet header
					 * (else with the IP header) */
	WIRE_F_CSUM_PARTIAL = 1U << 1,	/* the L4 checksum is not complete */
	WIRE_F_TRUNCATED = 1U << 2,	/* the sender got only part of it */
	WIRE_F_UNREWRITTEN = 1U << 3,	/* B could not translate it (no offset) */
};

enum wire_role { WIRE_ROLE_PRIMARY = 1, WIRE_ROLE_SECONDARY = 2 };

struct wire_hdr {
	uint8_t version;
	uint8_t type;		/* enum wire_type */
	uint16_t flags;
	uint16_t aux;
	uint32_t len;
	uint32_t seq;
	uint32_t epoch;
};

#define WIRE_NAME_MAX 32
#define WIRE_HELLO_LEN 56

/*
 * HELLO payload (WIRE_HELLO_LEN bytes on the wire):
 *
 *    0    1      4          8          12         16         24         56
 *   +----+------+----------+----------+----------+----------+----------+
 *   |role| 0 0 0| next_seq |  rx_seq  |  epoch   | instance |   name   |
 *   +----+------+----------+----------+----------+----------+----------+
 *
 * The decoder is strict, so that a decoded payload re-encodes to the same
 * bytes: role 1 or 2, reserved bytes zero, name NUL-terminated within its
 * 32 bytes (at most 31 characters) and NUL-padded after it.
 */
struct wire_hello {
	uint8_t role;		/* enum wire_role */
	uint32_t next_seq;	/* seq of the sender's next message */
	uint32_t rx_seq;	/* seq the sender expects next from us */
	uint32_t epoch;		/* the sender's current epoch */
	uint64_t instance;	/* random per process start: a restart shows */
	char name[WIRE_NAME_MAX];	/* the pair's name, NUL-padded */
};

#define WIRE_ISN_LEN 48

/*
 * ISN payload (WIRE_ISN_LEN bytes): a connection as seen from the VM.
 *
 *    0      1     2    4       6         8     12           28          44    48
 *   +------+-----+----+-------+---------+-----+------------+-----------+-----+
 *   |family|flags| 0 0|vm_port|peer_port| isn |  vm_addr   | peer_addr |tsval|
 *   +------+-----+----+-------+---------+-----+------------+-----------+-----+
 *
 * flags: WIRE_ISN_F_TS when tsval holds the TCP timestamp (RFC 7323) of
 * the PVM's SYN or SYN-ACK (else tsval is zero).
 * An IPv4 address fills the first 4 bytes of its field, the other 12 are
 * zero (the encoder writes zeros whatever the struct holds; the decoder
 * rejects anything else, as it rejects a family other than 4 or 6 and
 * non-zero reserved bytes).
 */
struct wire_isn {
	uint8_t family;		/* 4 or 6 */
	uint8_t vm_addr[16], peer_addr[16];
	uint16_t vm_port, peer_port;
	uint32_t isn;		/* the PVM's initial sequence number */
	uint8_t flags;		/* WIRE_ISN_F_* */
	uint32_t tsval;		/* the PVM's TSval in that segment */
};

enum { WIRE_ISN_F_TS = 1U << 0 };

enum wire_err {
	WIRE_OK = 0,
	WIRE_E_MAGIC,
	WIRE_E_VERSION,
	WIRE_E_CRC,
	WIRE_E_TYPE,
	WIRE_E_LENGTH,
	WIRE_E_PAYLOAD,		/* a fixed-size payload that does not parse */
};

const char *wire_err_name(enum wire_err e);
const char *wire_type_name(unsigned type);

/* CRC32C (Castagnoli, RFC 3720 B.4) of LEN bytes, continuing CRC (0 to
 * start): wire_crc32c(0, "123456789", 9) == 0xe3069283. */
uint32_t wire_crc32c(uint32_t crc, const void *data, size_t len);

/* Write a header (with its crc) into OUT[WIRE_HDR_LEN].  The version
 * written is always WIRE_VERSION (h->version is not read). */
void wire_put_hdr(uint8_t *out, const struct wire_hdr *h);

/* Read and check a header: WIRE_OK or the first error, checked in the
 * order magic, version, crc, type, length (*H is filled only on WIRE_OK). */
enum wire_err wire_get_hdr(const uint8_t *in, struct wire_hdr *h);

/* Is LEN a valid payload length for TYPE?  (HELLO: WIRE_HELLO_LEN, ISN and
 * LEGACY: WIRE_ISN_LEN, FRAME: 1..WIRE_MAX_PAYLOAD, the others 0.) */
bool wire_len_ok(unsigned type, uint32_t len);

/* Fixed payloads: put writes exactly WIRE_HELLO_LEN / WIRE_ISN_LEN bytes;
 * get returns WIRE_E_LENGTH if LEN is not that, WIRE_E_PAYLOAD if the
 * bytes break the rules above (*M is then unspecified), else WIRE_OK. */
void wire_put_hello(uint8_t *out, const struct wire_hello *m);
enum wire_err wire_get_hello(const uint8_t *in, size_t len,
			     struct wire_hello *m);
void wire_put_isn(uint8_t *out, const struct wire_isn *m);
enum wire_err wire_get_isn(const uint8_t *in, size_t len, struct wire_isn *m);

/*
 * Incremental decoder over a byte stream.  It holds at most one message
 * (WIRE_HDR_LEN + WIRE_MAX_PAYLOAD bytes, allocated by wire_dec_init), so
 * input is taken only up to the end of the message being assembled:
 *
 *   wire_dec_init(&d);
 *   on read of BUF[LEN]:
 *       for (off = 0; off < LEN; ) {
 *           off += wire_dec_feed(&d, BUF + off, LEN - off);
 *           while ((r = wire_dec_next(&d, &hdr, &payload)) == 1)
 *               use hdr and payload[hdr.len];
 *           if (r < 0) -> protocol error, d.err says which: close
 *       }
 *
 * wire_dec_feed() returns the bytes it took: up to the end of one message,
 * none while a complete message waits for wire_dec_next() or after an
 * error.  wire_dec_next() returns 1 (a message, its payload valid until
 * the next call on D), 0 (more bytes needed) or -1 (protocol error; the
 * decoder stays in error).  A header is checked as its bytes arrive: the
 * magic and version byte by byte, the rest at its 24th byte; so garbage
 * fails at its first header, and the payload of a bad header is never
 * waited for.
 *
 * wire_dec_push() does both in one call, and hands a message that arrives
 * whole in one chunk (with nothing buffered) out of DATA without a copy:
 *
 *       while (LEN > 0) {
 *           r = wire_dec_push(&d, BUF, LEN, &used, &hdr, &payload);
 *           BUF += used; LEN -= used;
 *           if (r < 0) -> protocol error (used is 0); close
 *           if (r == 1) -> use hdr and payload[hdr.len], valid until the
 *                          next call on D or until BUF is reused
 *       }
 */
struct wire_dec {
	uint8_t *buf;		/* the message being assembled */
	size_t have;		/* bytes of it in buf */
	struct wire_hdr hdr;	/* valid once hdr_ok */
	bool hdr_ok;		/* the header is in buf and valid */
	bool ready;		/* the message is complete, for _next() */
	enum wire_err err;	/* WIRE_OK until a protocol error */
	uint64_t messages, bytes;	/* messages handed out, bytes taken */
};

int wire_dec_init(struct wire_dec *d);	/* 0 or -ENOMEM */
void wire_dec_free(struct wire_dec *d);
size_t wire_dec_feed(struct wire_dec *d, const uint8_t *data, size_t len);
int wire_dec_next(struct wire_dec *d, struct wire_hdr *h,
		  const uint8_t **payload);
int wire_dec_push(struct wire_dec *d, const uint8_t *data, size_t len,
		  size_t *used, struct wire_hdr *h, const uint8_t **payload);

/* Sequence comparison (wrap-safe): a - b as a signed distance. */
static inline int32_t wire_seq_diff(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b);
}

#endif /* COLO_PROXY_WIRE_H */
