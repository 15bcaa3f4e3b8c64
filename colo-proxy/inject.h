/*
 * inject: the secondary's way into its bridge.  A tap device (IFF_TAP,
 * IFF_VNET_HDR) that the proxy creates and attaches to the bridge as a
 * port of its own: a frame written to it enters the bridge as if it came
 * from the LAN, and the SVM receives it; frames the bridge floods to the
 * port (the SVM's ARP requests) can be read back.
 *
 * Frames with a partial checksum (NFQA_SKB_CSUMNOTREADY on the primary)
 * or longer than the MTU (GSO) are written with a virtio-net header that
 * asks the kernel to finish the checksum and to segment them, so that a
 * 64 KiB TCP super-packet from the primary reaches the SVM as MTU-sized
 * segments with correct checksums.
 */
#ifndef COLO_PROXY_INJECT_H
#define COLO_PROXY_INJECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct inject_stats {
	uint64_t frames, bytes, gso, csum_offload;
	uint64_t errors, too_big, read_frames;
};

#define INJECT_MAX_FRAME (65535 + 64)

struct inject {
	int fd;
	int mtu;
	char port[16], bridge[16];
	struct inject_stats st;
};

/* Create tap PORT, set its MTU, bring it up and attach it to BRIDGE.
 * 0 or -errno with ERR. */
int inject_open(struct inject *in, const char *port, const char *bridge,
		int mtu, char *err, size_t errlen);

/* Detach and delete the tap (closing a non-persistent tap deletes it). */
void inject_close(struct inject *in);

/* Write one Ethernet frame (VLAN tags allowed); CSUM_PARTIAL: its L4
 * checksum field holds only the pseudo-header sum.  FRAME is not copied:
 * when the kernel is asked to finish the checksum, its checksum field is
 * set to the pseudo-header sum in place.  0 or -errno. */
int inject_frame(struct inject *in, uint8_t *frame, size_t len,
		 bool csum_partial);

/* Read one frame the bridge sent to the port into BUF (vnet header
 * stripped; LEN should hold INJECT_MAX_FRAME): its length, 0 if none, or
 * -errno. */
ssize_t inject_read(struct inject *in, uint8_t *buf, size_t len);

#endif /* COLO_PROXY_INJECT_H */
