/*
 * proto: the wire format between two colo-relays.  Pure: no syscalls, no
 * clock, no logging; encoders write into caller buffers, decoders read
 * caller bytes.
 *
 * One TCP connection per relayed COLO channel.  The relay that QEMU's
 * primary migrates to (role primary) connects to the peer relay (role
 * secondary) and speaks first; the secondary relay answers once it has
 * reached the secondary QEMU's -incoming address, or refuses:
 *
 *   primary relay                                secondary relay
 *     HELLO(role 1, session, pair, status 0) --->
 *                                                connects to the SVM's QEMU
 *                                       <---     HELLO(role 2, same session,
 *                                                      status 0 or a refusal)
 *     frames: DATA, PING, END        <=======>   frames: DATA, PING, END
 *
 * HELLO, RLY_HELLO_LEN (32) bytes, multi-byte fields big-endian:
 *
 *    0        4     5      6      7        8            16        20         28       32
 *   +--------+-----+------+------+--------+------------+---------+----------+--------+
 *   | "CRLY" | ver | role |flags | status | session id | pair id | reserved | crc32c |
 *   +--------+-----+------+------+--------+------------+---------+----------+--------+
 *
 *   magic, version  at these offsets in every version, so that a relay of
 *                   another version is told apart from garbage and named:
 *                   a HELLO of another version is RLY_E_VERSION whatever
 *                   follows (its crc and fields are not looked at).
 *   role            1 primary (the connecting side), 2 secondary.
 *   flags           RLY_HF_ZSTD: the sender's DATA payloads are zstd.
 *   status          0 ready; else why the secondary relay refuses
 *                   (enum rly_status), then it closes.
 *   session id      random, non-zero, chosen by the primary relay per
 *                   relayed connection and echoed by the secondary: names
 *                   the connection in both relays' logs.  Not a secret.
 *   pair id         FNV-1a of the pair's name: relays of two pairs that
 *                   reach each other by mistake refuse.  Not a secret.
 *   crc32c          of bytes 0..27.
 *
 * Frame header, RLY_HDR_LEN (20) bytes, then wire_len payload bytes:
 *
 *    0        2      3       4         8          12         16         20
 *   +--------+------+-------+---------+----------+----------+----------+
 *   | 0xC0DA | type | flags | raw_len | wire_len | data crc | hdr crc  |
 *   +--------+------+-------+---------+----------+----------+----------+
 *
 *   type      RLY_DATA: one read's bytes (compressed or raw, as the
 *             sender's HELLO said); raw_len 1..RLY_RAW_MAX; compressed:
 *             wire_len 1..RLY_WIRE_MAX, raw: wire_len == raw_len.
 *             RLY_PING: keepalive; RLY_END: the sender's QEMU closed the
 *             channel after the bytes before it.  Both: lengths and data
 *             crc zero.
 *   flags     none defined: zero.
 *   data crc  crc32c of the raw_len bytes after decompression: what the
 *             receiving QEMU gets is what the sending QEMU wrote.
 *   hdr crc   crc32c of bytes 0..15: garbage fails at its first header,
 *             before any length is believed.
 */
#ifndef RELAY_PROTO_H
#define RELAY_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RLY_MAGIC	"CRLY"
#define RLY_VERSION	1
#define RLY_HELLO_LEN	32
#define RLY_HDR_MAGIC	0xC0DAu
#define RLY_HDR_LEN	20
/* Largest DATA chunk before and after compression.  zstd's flushed blocks
 * cost at most 3 bytes per 128 KiB block plus an 18-byte frame header
 * over the raw size; the slack is generous. */
#define RLY_RAW_MAX	(1u << 20)
#define RLY_WIRE_MAX	(RLY_RAW_MAX + (RLY_RAW_MAX >> 6))
/* The largest zstd window either side uses or accepts (8 MiB), so that a
 * peer cannot make a decoder allocate more. */
#define RLY_WINDOW_LOG	23

enum rly_role { RLY_ROLE_PRIMARY = 1, RLY_ROLE_SECONDARY = 2 };

enum { RLY_HF_ZSTD = 1U << 0 };

enum rly_status {
	RLY_ST_READY = 0,
	RLY_ST_TARGET,		/* cannot reach the secondary QEMU */
	RLY_ST_VERSION,		/* does not speak the primary's version */
	RLY_ST_PAIR,		/* belongs to another pair */
	RLY_ST_ROLE,		/* the HELLO's role is not the other one */
	RLY_ST_BUSY,		/* already handshaking another connection */
	RLY_ST_MAX
};

enum rly_type { RLY_DATA = 1, RLY_PING, RLY_END, RLY_TYPE_MAX };

struct rly_hello {
	uint8_t version;	/* decoded: the peer's; encoded: RLY_VERSION */
	uint8_t role;		/* enum rly_role */
	uint8_t flags;		/* RLY_HF_* */
	uint8_t status;		/* enum rly_status */
	uint64_t session;
	uint32_t pair;
};

struct rly_hdr {
	uint8_t type;		/* enum rly_type */
	uint8_t flags;
	uint32_t raw_len, wire_len;
	uint32_t data_crc;
};

/* Protocol errors, checked in this order where several apply. */
enum rly_perr {
	RLY_OK = 0,
	RLY_E_MAGIC,		/* not a relay: HELLO or frame magic */
	RLY_E_VERSION,		/* a relay of another protocol version */
	RLY_E_CRC,		/* a HELLO or frame header's crc */
	RLY_E_FIELD,		/* a HELLO field, frame type, flags, length */
	RLY_E_DATA,		/* a payload that does not decompress to
				   raw_len bytes with the data crc */
	RLY_E_NOMEM,		/* the decoder could not allocate */
	RLY_PERR_MAX
};

const char *rly_perr_name(enum rly_perr e);
const char *rly_status_name(unsigned status);
const char *rly_type_name(unsigned type);

/* CRC32C (Castagnoli, RFC 3720 B.4) of LEN bytes, continuing CRC (0 to
 * start): rly_crc32c(0, "123456789", 9) == 0xe3069283.  SSE4.2 where the
 * CPU has it. */
uint32_t rly_crc32c(uint32_t crc, const void *data, size_t len);

/* FNV-1a (32 bit) of a pair's name, for the HELLO's pair id. */
uint32_t rly_pair_id(const char *name);

/* Write a HELLO (version RLY_VERSION whatever h->version says). */
void rly_put_hello(uint8_t out[RLY_HELLO_LEN], const struct rly_hello *h);

/* Check a HELLO's first LEN bytes (LEN < RLY_HELLO_LEN: a prefix, as it
 * arrives): RLY_E_MAGIC or RLY_E_VERSION as soon as the bytes show it,
 * else RLY_OK (more needed).  On the whole HELLO: also the crc, then role
 * 1 or 2, flags within RLY_HF_ZSTD, status below RLY_ST_MAX, reserved
 * bytes zero, and a non-zero session (RLY_E_FIELD); *H is filled on
 * RLY_OK with LEN == RLY_HELLO_LEN, and its version on RLY_E_VERSION. */
enum rly_perr rly_get_hello(const uint8_t *in, size_t len,
			    struct rly_hello *h);

/* Write a frame header with both crcs' places: DATA_CRC from h. */
void rly_put_hdr(uint8_t out[RLY_HDR_LEN], const struct rly_hdr *h);

/* Check a frame header's first LEN bytes (a prefix, as for HELLO): the
 * magic as its bytes arrive; on the whole header the crc, then the type,
 * flags and lengths for that type (ZSTD: the sender compresses).  *H is
 * filled on RLY_OK with LEN == RLY_HDR_LEN. */
enum rly_perr rly_get_hdr(const uint8_t *in, size_t len, bool zstd,
			  struct rly_hdr *h);

#endif /* RELAY_PROTO_H */
