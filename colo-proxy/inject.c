/*
 * inject: the secondary's tap port on its bridge.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <linux/virtio_net.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "colo-proxy/inject.h"
#include "common/csum.h"
#include "compare/parse.h"

static int ifreq_ioctl(unsigned long req, struct ifreq *ifr)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), r = 0;

	if (s < 0)
		return -errno;
	if (ioctl(s, req, ifr) < 0)
		r = -errno;
	close(s);
	return r;
}

static int set_up(const char *port, int mtu)
{
	struct ifreq ifr;
	int r;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", port);
	ifr.ifr_mtu = mtu;
	r = ifreq_ioctl(SIOCSIFMTU, &ifr);
	if (r < 0)
		return r;
	r = ifreq_ioctl(SIOCGIFFLAGS, &ifr);
	if (r < 0)
		return r;
	ifr.ifr_flags |= IFF_UP;
	return ifreq_ioctl(SIOCSIFFLAGS, &ifr);
}

static int attach(const char *port, const char *bridge)
{
	struct ifreq ifr;
	int r;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", port);
	r = ifreq_ioctl(SIOCGIFINDEX, &ifr);
	if (r < 0)
		return r;
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", bridge);
	return ifreq_ioctl(SIOCBRADDIF, &ifr);
}

/*
 * No MAC learning on the port. The mirrored frames written to it carry the
 * clients' source MACs; learnt, they would make the bridge send the SVM's
 * frames for those clients back into this port. While protected that is
 * moot (the SVM's output is dropped in FORWARD), but after a takeover the
 * SVM's answers -- and its retransmissions -- would vanish here until each
 * client happened to send a frame that the LAN port learnt again: a
 * client waiting for an answer sends none. Unknown, they are flooded,
 * which includes the LAN port once it joins.
 */
static int no_learning(const char *port)
{
	char path[96];
	int fd, r = 0;

	snprintf(path, sizeof(path), "/sys/class/net/%s/brport/learning", port);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, "0", 1) != 1)
		r = -errno;
	if (fd >= 0)
		close(fd);
	return r;
}

int inject_open(struct inject *in, const char *port, const char *bridge,
		int mtu, char *err, size_t errlen)
{
	struct ifreq ifr;
	const char *what = "open /dev/net/tun";
	int r;

	memset(in, 0, sizeof(*in));
	in->mtu = mtu;
	snprintf(in->port, sizeof(in->port), "%s", port);
	snprintf(in->bridge, sizeof(in->bridge), "%s", bridge);
	in->fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (in->fd < 0) {
		r = -errno;
		goto fail;
	}
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", port);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	what = "create the tap";
	if (ioctl(in->fd, TUNSETIFF, &ifr) < 0) {
		r = -errno;
		goto fail;
	}
	what = "bring the tap up";
	r = set_up(port, mtu);
	if (r < 0)
		goto fail;
	what = "attach the tap to the bridge";
	r = attach(port, bridge);
	if (r < 0)
		goto fail;
	what = "turn off MAC learning on the port (sysfs brport/learning)";
	r = no_learning(port);
	if (r < 0)
		goto fail;
	return 0;
fail:
	snprintf(err, errlen, "inject: cannot %s (port \"%s\", bridge \"%s\"):"
		 " %s", what, port, bridge, strerror(-r));
	inject_close(in);
	return r;
}

void inject_close(struct inject *in)
{
	if (in->fd > 0)
		close(in->fd);
	in->fd = -1;
}

/* The pseudo-header sum (folded, not complemented) that a CHECKSUM_PARTIAL
 * packet carries in its L4 checksum field. */
static uint16_t pseudo_sum(const struct pkt *p, size_t l4len)
{
	uint8_t tail[8] = { 0 };
	uint32_t sum;
	size_t alen = p->family == 4 ? 4 : 16;

	sum = csum_add(0, p->saddr, alen);
	sum = csum_add(sum, p->daddr, alen);
	tail[0] = (uint8_t)(l4len >> 24);
	tail[1] = (uint8_t)(l4len >> 16);
	tail[2] = (uint8_t)(l4len >> 8);
	tail[3] = (uint8_t)l4len;
	tail[7] = p->proto;
	sum = csum_add(sum, tail, sizeof(tail));
	return (uint16_t)~csum_fold(sum);
}

/*
 * Fill H for FRAME: partial checksum and/or GSO.  false if the frame
 * cannot be offloaded (too big and not TCP).  FRAME's checksum field is
 * rewritten to the pseudo-header sum when offloading.
 */
static bool offload(struct inject *in, uint8_t *frame, size_t len,
		    bool csum_partial, struct virtio_net_hdr *h)
{
	struct pkt p;
	size_t l4off, l4len, ckoff, thl = 0, l3hl;
	uint16_t ps;

	memset(h, 0, sizeof(*h));
	pkt_parse(frame, len, CMP_LINK_ETH, &p);
	if (p.l3 != PKT_IP || p.frag || (p.proto != 6 && p.proto != 17))
		return len <= (size_t)in->mtu + 22;
	l4off = (size_t)(p.l4 - frame);
	l4len = p.l4len;
	if (p.proto == 6) {
		if (l4len < 20)
			return false;
		thl = (size_t)(p.l4[12] >> 4) * 4;
		ckoff = 16;
	} else {
		ckoff = 6;
	}
	l3hl = l4off - (size_t)(p.net - frame);
	if (p.l4len + l3hl > (size_t)in->mtu) {
		if (p.proto != 6 || thl < 20 || l3hl + thl >= (size_t)in->mtu)
			return false;
		h->gso_type = p.family == 4 ? VIRTIO_NET_HDR_GSO_TCPV4 :
					      VIRTIO_NET_HDR_GSO_TCPV6;
		h->hdr_len = (uint16_t)(l4off + thl);
		h->gso_size = (uint16_t)(in->mtu - l3hl - thl);
		in->st.gso++;
	} else if (!csum_partial) {
		return true;		/* complete checksum, normal size */
	}
	ps = pseudo_sum(&p, l4len);
	frame[l4off + ckoff] = (uint8_t)(ps >> 8);
	frame[l4off + ckoff + 1] = (uint8_t)ps;
	h->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	h->csum_start = (uint16_t)l4off;
	h->csum_offset = (uint16_t)ckoff;
	in->st.csum_offload++;
	return true;
}

int inject_frame(struct inject *in, uint8_t *frame, size_t len,
		 bool csum_partial)
{
	struct virtio_net_hdr h;
	struct iovec iov[2];
	ssize_t n;

	if (len > INJECT_MAX_FRAME || len < 14) {
		in->st.too_big++;
		return -EMSGSIZE;
	}
	if (!offload(in, frame, len, csum_partial, &h)) {
		in->st.too_big++;
		return -EMSGSIZE;
	}
	iov[0].iov_base = &h;
	iov[0].iov_len = sizeof(h);
	iov[1].iov_base = frame;
	iov[1].iov_len = len;
	n = writev(in->fd, iov, 2);
	if (n < 0) {
		in->st.errors++;
		return -errno;
	}
	in->st.frames++;
	in->st.bytes += len;
	return 0;
}

ssize_t inject_read(struct inject *in, uint8_t *buf, size_t len)
{
	struct virtio_net_hdr h;
	struct iovec iov[2] = {
		{ .iov_base = &h, .iov_len = sizeof(h) },
		{ .iov_base = buf, .iov_len = len },
	};
	ssize_t n = readv(in->fd, iov, 2);

	if (n < 0)
		return errno == EAGAIN ? 0 : -errno;
	if ((size_t)n < sizeof(h))
		return 0;
	in->st.read_frames++;
	return n - (ssize_t)sizeof(h);
}
