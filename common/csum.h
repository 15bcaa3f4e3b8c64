/*
 * csum: the Internet checksum (RFC 1071), incremental updates (RFC 1624)
 * and full TCP/UDP checksums over IPv4 and IPv6 packets.  Pure: no I/O.
 *
 * A packet that netfilter hands over with NFQA_SKB_CSUMNOTREADY carries
 * only the pseudo-header sum in its L4 checksum field (CHECKSUM_PARTIAL);
 * once the proxy changes a queued packet the kernel treats it as
 * CHECKSUM_NONE, so the field must then hold the complete checksum:
 * csum_l4_fill() computes it from scratch, whatever the field held.
 */
#ifndef COMMON_CSUM_H
#define COMMON_CSUM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One's-complement sum of LEN bytes (big-endian 16-bit words, a final odd
 * byte padded with zero) added to SUM; not folded. */
uint32_t csum_add(uint32_t sum, const uint8_t *data, size_t len);

/* Fold a 32-bit sum to 16 bits and complement it. */
uint16_t csum_fold(uint32_t sum);

/* RFC 1624 eqn. 3: the checksum CK after a 16-bit field went OLD -> NEW. */
uint16_t csum_replace16(uint16_t ck, uint16_t old, uint16_t new_);

/* The same for a 32-bit field (two 16-bit halves). */
uint16_t csum_replace32(uint16_t ck, uint32_t old, uint32_t new_);

/*
 * Compute and store the complete TCP, UDP or ICMPv6 checksum of the IP
 * packet PKT (LEN bytes, starting at the IPv4 or IPv6 header), and the
 * IPv4 header checksum.  L4 is the offset of the upper-layer header and
 * PROTO its protocol (as found by the caller's parser, after any IPv6
 * extension headers).  The L4 length is taken from the IP header, so a
 * GSO super-packet (up to 64 KiB) is covered whole.  Returns false (and
 * changes nothing) if the lengths do not fit or PROTO is not TCP, UDP or
 * ICMPv6.  A UDP checksum that comes out 0 is stored as 0xffff.
 */
bool csum_l4_fill(uint8_t *pkt, size_t len, size_t l4, uint8_t proto);

/* true if the TCP/UDP/ICMPv6 checksum of PKT is correct (for tests and
 * for frames that did not come with CSUMNOTREADY). */
bool csum_l4_ok(const uint8_t *pkt, size_t len, size_t l4, uint8_t proto);

#endif /* COMMON_CSUM_H */
