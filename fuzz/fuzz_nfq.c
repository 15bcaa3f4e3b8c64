/*
 * libFuzzer harness for colo-proxy/nfq's pure parsers: nfq_parse() (one
 * netlink message from the kernel) and nfq_parse_kstats() (the text of
 * /proc/net/netfilter/nfnetlink_queue).
 *
 * Input: one mode byte, then the data.
 *   mode & 1: kstats -- the next byte is the queue number, the rest the text;
 *   else      nfq_parse() on the rest, as an exactly-sized heap copy (ASan
 *             sees any read past it); with mode & 2 the copy's nlmsg_len
 *             is set to its length first, so that mutations reach the
 *             attributes instead of failing the length check.
 *
 * Beyond "no crash, no sanitizer report", it checks: the result is 1, 0 or
 * -EINVAL; on 1, every pointer and length lies within the message,
 * orig_len >= len, truncated is exactly orig_len > len, hwsrc_len <= 8; on
 * anything else the packet is left zeroed.  kstats returns 0 or -ENOENT.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "colo-proxy/nfq.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what)
{
	fprintf(stderr, "fuzz_nfq: invariant violated: %s\n", what);
	__builtin_trap();
}

static bool inside(const uint8_t *p, size_t n, const uint8_t *msg,
		   size_t len)
{
	return p >= msg && n <= len && (size_t)(p - msg) <= len - n;
}

static void check_packet(int r, const struct nfq_packet *p,
			 const uint8_t *msg, size_t len)
{
	static const struct nfq_packet zero;

	if (r != 1 && r != 0 && r != -EINVAL)
		fail("nfq_parse result");
	if (r != 1) {
		if (memcmp(p, &zero, sizeof(zero)))
			fail("packet not zeroed on a non-packet");
		return;
	}
	if (p->payload ? !inside(p->payload, p->len, msg, len) : p->len != 0)
		fail("payload outside the message");
	if (p->l2hdr ? !inside(p->l2hdr, p->l2len, msg, len) : p->l2len != 0)
		fail("l2hdr outside the message");
	if (p->orig_len < p->len)
		fail("orig_len < len");
	if (p->truncated != (p->orig_len > p->len))
		fail("truncated flag");
	if (p->hwsrc_len > sizeof(p->hwsrc))
		fail("hwsrc_len");
	if (p->lost_before != 0)
		fail("lost_before set by the parser");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nfq_packet p;
	struct nfq_kstats k;
	uint8_t *msg;
	size_t len;
	int r;

	if (size < 1)
		return 0;
	if (data[0] & 1) {
		if (size < 2)
			return 0;
		r = nfq_parse_kstats((const char *)data + 2, size - 2, data[1],
				     &k);
		if (r != 0 && r != -ENOENT)
			fail("nfq_parse_kstats result");
		return 0;
	}
	len = size - 1;
	msg = malloc(len ? len : 1);
	if (!msg)
		return 0;
	memcpy(msg, data + 1, len);
	if ((data[0] & 2) && len >= 4) {
		uint32_t l = (uint32_t)len;

		memcpy(msg, &l, 4);
	}
	memset(&p, 0xa5, sizeof(p));	/* the parser must set every field */
	r = nfq_parse(msg, len, &p);
	check_packet(r, &p, msg, len);
	free(msg);
	return 0;
}
