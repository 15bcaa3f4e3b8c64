/*
 * nfq: an NFQUEUE client on a raw netlink socket (no libnetfilter_queue),
 * configured the way the lab measured it must be (LAB.md, "NFQUEUE"):
 *
 *   - NFQA_CFG_F_GSO: packets arrive whole, up to 64 KiB, with partial
 *     checksums (NFQA_SKB_CSUMNOTREADY) -- without it TCP runs at 2 %;
 *   - never NFQA_CFG_F_FAIL_OPEN: a full queue or a failed delivery drops
 *     the packet (the kernel counts it), it never lets it through;
 *   - a large receive buffer (SO_RCVBUFFORCE), several messages per
 *     recvmmsg(), and verdicts batched: nfq_verdict() only records a
 *     decision, nfq_flush() (called from the loop's before-sleep hook)
 *     sends them all in one sendmsg();
 *   - losses counted, not hidden (no NETLINK_NO_ENOBUFS): ENOBUFS from
 *     recv, gaps in packet ids, and the kernel's own counters from
 *     /proc/net/netfilter/nfnetlink_queue.
 *
 * Batching.  NFQNL_MSG_VERDICT_BATCH applies one verdict to every queued
 * packet with an id up to the one given, so it is used only for a run of
 * oldest packets that all got the same plain verdict; other decisions go
 * as single NFQNL_MSG_VERDICT messages (with the new payload when a packet
 * was changed), packed into the same sendmsg():
 *
 *    outstanding (arrival order):  id 7   8   9   10  11  12
 *    decided:                      ACC ACC ACC  -  DROP ACC*
 *    flush:   VERDICT_BATCH(9, ACCEPT), VERDICT(11, DROP),
 *             VERDICT(12, ACCEPT, payload)   ... 10 stays queued
 *
 * A packet's payload pointer is valid only during the callback (copy
 * what must outlive it).  The parsing of kernel messages lives in
 * nfq_parse() and nfq_parse_kstats() (nfq_parse.c, pure) so that it can be
 * tested and fuzzed without a socket.
 *
 * Changing a packet (nfq_verdict_mangle()) makes it CHECKSUM_NONE to the
 * kernel: whatever came with NFQA_SKB_CSUMNOTREADY, the new payload must
 * carry the complete L4 checksum (csum_l4_fill()); a pseudo-header sum is
 * sent as it is and the receiver drops the packet (tests/unit/
 * test_proxy_nfq.c, suite nfq_tcp).  Never change a truncated packet: the
 * kernel would cut the packet to the new payload.
 */
#ifndef COLO_PROXY_NFQ_H
#define COLO_PROXY_NFQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct nfq_config {
	uint16_t queue_num;
	uint32_t queue_maxlen;		/* kernel queue length (packets) */
	uint32_t rcvbuf;		/* bytes, set with SO_RCVBUFFORCE */
	uint32_t copy_range;		/* bytes of each packet copied (<= 65535;
					 * the kernel caps it at 65531) */
	bool gso;			/* NFQA_CFG_F_GSO (always on in the proxy) */
	unsigned batch;			/* messages per recvmmsg(), 1..256 */
};

/* One queued packet, as the kernel described it. */
struct nfq_packet {
	uint32_t id;
	uint16_t hw_protocol;		/* ethertype (host order) */
	uint8_t hook;			/* NF_INET_* (NF_BR_* for bridge family) */
	uint8_t family;			/* nfgenmsg's nfgen_family */
	const uint8_t *payload;		/* the network-layer packet */
	uint32_t len;			/* bytes at payload */
	uint32_t orig_len;		/* NFQA_CAP_LEN, or len when whole */
	bool truncated;			/* orig_len > len */
	bool csum_partial;		/* NFQA_SKB_CSUMNOTREADY */
	bool gso;			/* NFQA_SKB_GSO */
	uint32_t indev, outdev;		/* ifindex, 0 when absent */
	uint32_t physindev, physoutdev;	/* bridge ports, 0 when absent */
	uint32_t mark;
	const uint8_t *l2hdr;		/* NFQA_L2HDR (bridge family), or NULL */
	uint16_t l2len;
	uint8_t hwsrc[8];		/* NFQA_HWADDR */
	uint8_t hwsrc_len;		/* 0 when absent */
	bool has_vlan;			/* NFQA_VLAN */
	uint16_t vlan_tci, vlan_proto;
	uint32_t lost_before;		/* ids missing just before this one:
					 * deliveries that failed (a packet
					 * refused by a full queue takes no id) */
};

/* Our own counters. */
struct nfq_stats {
	uint64_t packets, bytes;
	uint64_t recv_calls, recv_msgs;
	uint64_t enobufs;		/* recv() reported ENOBUFS */
	uint64_t id_gaps;		/* packet ids never delivered to us */
	uint64_t truncated, gso, csum_partial;
	uint64_t malformed;		/* kernel messages we could not parse */
	uint64_t accepted, dropped, mangled;
	uint64_t batch_verdicts, single_verdicts, sendmsg_calls;
	uint64_t send_errors;		/* sendmsg() failures, and netlink
					 * errors the kernel sent for verdicts */
	uint64_t outstanding_max;
};

/* The kernel's counters for our queue (/proc/net/netfilter/nfnetlink_queue:
 * queue_num peer_portid queue_total copy_mode copy_range queue_dropped
 * user_dropped id_sequence 1). */
struct nfq_kstats {
	uint32_t queue_total;		/* packets queued now */
	uint64_t queue_dropped;		/* queue full */
	uint64_t user_dropped;		/* netlink delivery failed */
	uint32_t id_sequence;		/* last id handed out */
};

struct nfq;

typedef void nfq_packet_cb(struct nfq *q, const struct nfq_packet *p,
			   void *arg);

/* Defaults: maxlen 4096, rcvbuf 8 MiB, copy_range 65535, gso, batch 64. */
void nfq_config_defaults(struct nfq_config *cfg, uint16_t queue_num);

/*
 * Open a netlink socket, bind queue CFG->queue_num (for AF_INET, AF_INET6
 * and AF_BRIDGE), set copy mode, maxlen and flags, the receive buffer, and
 * make the socket non-blocking.  Each config message is acknowledged; the
 * bind, copy mode, maxlen and flags go in one message, which the kernel
 * applies together.  A packet that arrives before that is done is dropped
 * (counted).  On failure ERR explains (e.g. "queue 5 is bound by another
 * program", then -EBUSY; the kernel says EPERM).  0 or -errno.
 */
int nfq_open(struct nfq **out, const struct nfq_config *cfg, char *err,
	     size_t errlen);

/* Unbind and close; packets still queued are dropped by the kernel. */
void nfq_close(struct nfq *q);

int nfq_fd(const struct nfq *q);

/*
 * Read every message available now (non-blocking: recvmmsg() of up to
 * CFG->batch messages, repeated while they come full) and call CB for each
 * packet, in id order.  CB may record verdicts and call nfq_flush().
 * Returns the number of packets, or -errno for a socket error other than
 * EAGAIN (ENOBUFS is counted and not an error).  Netlink errors for
 * verdicts arrive here too and are counted in send_errors.
 */
int nfq_receive(struct nfq *q, nfq_packet_cb *cb, void *arg);

/* Record a verdict (NF_ACCEPT or NF_DROP) for packet ID; sent by
 * nfq_flush().  -ENOENT if ID is not outstanding, -EALREADY if decided. */
int nfq_verdict(struct nfq *q, uint32_t id, unsigned verdict);

/* Accept packet ID with a new payload (copied; at most 65531 bytes, else
 * -EMSGSIZE), which must carry complete checksums (see the top). */
int nfq_verdict_mangle(struct nfq *q, uint32_t id, const uint8_t *data,
		       uint32_t len);

/* Send every recorded verdict, in as few sendmsg() calls as possible
 * (payloads by reference).  0 or -errno; verdicts not sent stay recorded
 * and go with the next call. */
int nfq_flush(struct nfq *q);

/* Packets received and not yet flushed with a verdict. */
uint32_t nfq_outstanding(const struct nfq *q);

const struct nfq_stats *nfq_get_stats(const struct nfq *q);

/* Read the kernel's counters for our queue: 0, -ENOENT if not listed. */
int nfq_read_kstats(const struct nfq *q, struct nfq_kstats *out);

/* Parse the /proc file's text for QUEUE_NUM (pure, for tests). */
int nfq_parse_kstats(const char *text, size_t len, uint16_t queue_num,
		     struct nfq_kstats *out);

/*
 * Parse one netlink message (header included) from the kernel into *P.
 * Returns 1 for a packet, 0 for a message that is not a packet (an ack,
 * NLMSG_DONE...), -EINVAL for a malformed one.  Pure, for tests and fuzzing.
 */
int nfq_parse(const uint8_t *msg, size_t len, struct nfq_packet *p);

#endif /* COLO_PROXY_NFQ_H */
