/*
 * gen.h - paired frames for the comparator benchmark, generated in memory
 * before anything is timed, already framed for QEMU's sockets (frame.h).
 *
 * What a VM sends, as colo-compare sees it on primary_in and secondary_in:
 * Ethernet + IPv4 from the VM (10.77.0.2) to C clients (10.77.0.1, ports
 * 20000 + c), with proper checksums.
 *
 *   TCP, per connection: the VM's SYN-ACK (MSS option), its data segments
 *   (ACK|PSH), its FIN-ACK. Sequence numbers start at a per-connection ISN
 *   (some wrap past 2^32 within the run). "same": the secondary's frames
 *   are the primary's. "diff": the secondary carries the same byte stream
 *   cut at other places (boundaries shifted by half a payload: P/2, P, ...,
 *   P, P - P/2), so every primary segment spans two secondary ones; the
 *   secondary's segments that cover a primary frame go with it (the
 *   secondary leads by half a segment).
 *   UDP, per flow: datagrams of P bytes whose first 4 bytes hold the
 *   frame's index (so that each can be told apart when it comes out).
 *
 * Connections take turns (round robin). Three phases, by primary frame
 * index: [0, warm) handshakes (TCP) or each flow's first datagram (UDP),
 * untimed; [warm, data) the timed data frames; [data, n) the FINs (TCP).
 * sec_upto[k] is how many secondary frames go with the first k primary
 * frames: the secondary is fed up to there once they are.
 */
#ifndef BENCH_QCMP_GEN_H
#define BENCH_QCMP_GEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum gen_proto { GEN_TCP = 0, GEN_UDP = 1 };

struct gen_point {
	enum gen_proto proto;
	uint32_t payload;	/* bytes per primary data frame, >= 8 */
	uint32_t conns;		/* connections or flows, 1 to 60000 */
	bool diff;		/* TCP: different segmentation */
	uint32_t frames;	/* timed primary data frames, >= conns */
	bool vnet;		/* a 12-byte vnet header before each frame */
};

struct gen_side {
	uint8_t *wire;		/* every frame with its length field(s) */
	size_t *off;		/* frame i is wire[off[i], off[i + 1]) */
	uint32_t n;
	uint64_t bytes;		/* L4 payload bytes, all frames */
};

struct gen {
	struct gen_point pt;
	struct gen_side side[2];
	uint32_t warm, data;	/* phase boundaries (primary indexes) */
	uint32_t *sec_upto;	/* n + 1 entries */
	uint64_t timed_payload;	/* payload bytes of [warm, data) */
	uint32_t hdr;		/* framing bytes before each frame */
	uint32_t vlen;		/* vnet header bytes inside each frame */
};

/* Build every frame of PT: 0, -EINVAL (bad point) or -ENOMEM. */
int gen_build(const struct gen_point *pt, struct gen *g);
void gen_free(struct gen *g);

/* Primary frame I: the Ethernet frame, without framing or vnet header. */
static inline const uint8_t *gen_frame(const struct gen *g, int side,
				       uint32_t i, uint32_t *len)
{
	const struct gen_side *s = &g->side[side];
	size_t skip = g->hdr + g->vlen;

	*len = (uint32_t)(s->off[i + 1] - s->off[i] - skip);
	return s->wire + s->off[i] + skip;
}

/* Which primary frame FRAME (as in gen_frame()) is: its index, with its
 * connection in *CONN, or -1 when it is none of ours. */
long gen_identify(const struct gen *g, const uint8_t *frame, uint32_t len,
		  uint32_t *conn);

/* "tcp 1448 B, 16 conns, same segmentation" into BUF. */
const char *gen_point_name(const struct gen_point *pt, char *buf, size_t len);

#endif
