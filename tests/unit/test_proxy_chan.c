/*
 * test_proxy_chan: the proxy channel over a real loopback TCP connection,
 * both ends in one event loop.
 *
 *   - messages of every size, small ones batched and large ones written
 *     straight from the sender's memory (tx_direct), arrive whole, in
 *     order, without gaps; the receiver may change a payload in place
 *     (the secondary injects mirrored frames where they lie), which the
 *     sanitizer build checks stays inside the message;
 *   - [channel] congestion: the connection uses the configured algorithm
 *     (the status line says which), an unknown one is refused at start
 *     with its name quoted, the config check refuses a bad name.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "colo-proxy/chan.h"
#include "colo-proxy/conf.h"
#include "common/loop.h"

struct rx {
	uint32_t n;			/* messages received */
	uint32_t bad;			/* wrong size or content */
	uint32_t missed;		/* gaps reported */
	bool up;
};

/* Message I: size and content derived from I (a mix of batched and
 * direct sizes, some around the direct threshold and the 64 KiB limit). */
static size_t msg_len(uint32_t i)
{
	static const size_t sizes[] = { 64, 65000, 100, 4095, 4096, 1448,
					60000, 9000, 1, 65535 };

	return sizes[i % (sizeof(sizes) / sizeof(sizes[0]))];
}

static uint8_t msg_byte(uint32_t i, size_t k)
{
	return (uint8_t)(i * 31 + k * 7 + (k >> 8));
}

static void on_msg(void *arg, const struct wire_hdr *h, uint8_t *payload,
		   uint32_t missed)
{
	struct rx *r = arg;
	uint32_t i = h->aux | (uint32_t)h->flags << 16;
	size_t k;

	r->missed += missed;
	if (i != r->n || h->len != msg_len(i))
		r->bad++;
	for (k = 0; k < h->len; k++)
		if (payload[k] != msg_byte(i, k)) {
			r->bad++;
			break;
		}
	/* in place, to its last byte */
	if (h->len) {
		payload[0] ^= 0xff;
		payload[h->len - 1] ^= 0xff;
	}
	r->n++;
}

static void on_up(void *arg, const struct chan_up_info *info)
{
	(void)info;
	((struct rx *)arg)->up = true;
}

static void on_down(void *arg, const char *why)
{
	(void)arg;
	(void)why;
}

struct pair {
	struct loop *loop;
	struct chan *pri, *sec;
	struct rx rx_pri, rx_sec;
};

static void flush_both(struct loop *loop, void *arg)
{
	struct pair *p = arg;

	(void)loop;
	chan_flush(p->pri);
	chan_flush(p->sec);
}

static void stop(struct loop *loop, uint64_t id, void *arg)
{
	(void)id;
	(void)arg;
	loop_stop(loop);
}

/* Run the loop for MS milliseconds. */
static void spin(struct pair *p, uint64_t ms)
{
	uint64_t id;

	cr_assert_eq(loop_add_timer(p->loop, ms, 0, stop, NULL, &id), 0);
	loop_run(p->loop);
}

static uint16_t free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	cr_assert_geq(fd, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

static void base_config(struct chan_config *c, bool primary, uint16_t port,
			const char *cc)
{
	struct sockaddr_in *sin;

	memset(c, 0, sizeof(*c));
	c->listen = primary;
	c->role = primary ? WIRE_ROLE_PRIMARY : WIRE_ROLE_SECONDARY;
	snprintf(c->name, sizeof(c->name), "test");
	c->buffer = 16 << 20;
	c->keepalive_ms = 200;
	c->timeout_ms = 5000;
	c->reconnect_ms = 20;
	snprintf(c->congestion, sizeof(c->congestion), "%s", cc);
	sin = &c->peer.u.sin;
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin->sin_port = htons(port);
	c->peer.len = sizeof(*sin);
	c->peer.has_port = true;
	c->listen_addr = c->peer;
}

static void pair_open(struct pair *p, const char *cc)
{
	struct chan_config c;
	struct chan_events ev = { .on_up = on_up, .on_down = on_down,
				  .on_msg = on_msg };
	uint16_t port = free_port();
	char err[256] = "";

	memset(p, 0, sizeof(*p));
	cr_assert_eq(loop_new(&p->loop), 0);
	loop_set_before_sleep(p->loop, flush_both, p);
	base_config(&c, true, port, cc);
	/* the primary accepts only the configured peer: loopback */
	ev.arg = &p->rx_pri;
	cr_assert_eq(chan_new(p->loop, &c, &ev, &p->pri, err, sizeof(err)), 0,
		     "%s", err);
	base_config(&c, false, port, cc);
	ev.arg = &p->rx_sec;
	cr_assert_eq(chan_new(p->loop, &c, &ev, &p->sec, err, sizeof(err)), 0,
		     "%s", err);
	for (int i = 0; i < 100 && !(p->rx_pri.up && p->rx_sec.up); i++)
		spin(p, 10);
	cr_assert(p->rx_pri.up && p->rx_sec.up, "the channel did not come up");
}

static void pair_close(struct pair *p)
{
	chan_free(p->sec);
	chan_free(p->pri);
	loop_free(p->loop);
}

Test(proxy_chan, every_size_arrives_whole_in_order_and_in_place)
{
	static uint8_t m[65535];
	const uint32_t total = 2000;
	struct pair p;
	uint32_t i, sent = 0;

	pair_open(&p, "");
	while (sent < total) {
		/* a burst, then let the loop move it */
		for (i = 0; i < 50 && sent < total; i++, sent++) {
			size_t len = msg_len(sent), k;
			int r;

			for (k = 0; k < len; k++)
				m[k] = msg_byte(sent, k);
			r = chan_send(p.pri, WIRE_FRAME, (uint16_t)(sent >> 16),
				      (uint16_t)sent, 0, m, len / 3, m + len / 3,
				      len - len / 3);
			cr_assert_eq(r, 0, "message %u: %d", sent, r);
		}
		spin(&p, 5);
	}
	for (i = 0; i < 200 && p.rx_sec.n < total; i++)
		spin(&p, 10);
	cr_expect_eq(p.rx_sec.n, total);
	cr_expect_eq(p.rx_sec.bad, 0);
	cr_expect_eq(p.rx_sec.missed, 0);
	cr_expect_eq(chan_get_stats(p.sec)->rx_gaps, 0);
	/* the large ones went without a copy, most of them at least */
	cr_expect_gt(chan_get_stats(p.pri)->tx_direct, 0);
	cr_expect_eq(chan_get_stats(p.pri)->tx_dropped_full, 0);
	pair_close(&p);
}

Test(proxy_chan, uses_the_configured_congestion_control)
{
	struct pair p;
	char d[128];

	/* reno is built into every Linux kernel */
	pair_open(&p, "reno");
	chan_describe(p.pri, d, sizeof(d));
	cr_expect(strstr(d, "(congestion reno)") != NULL, "%s", d);
	chan_describe(p.sec, d, sizeof(d));
	cr_expect(strstr(d, "(congestion reno)") != NULL, "%s", d);
	pair_close(&p);
}

Test(proxy_chan, unknown_congestion_control_is_refused_quoted)
{
	struct chan_config c;
	struct chan_events ev = { .on_msg = on_msg };
	struct loop *loop;
	struct chan *ch = NULL;
	char err[256] = "";

	cr_assert_eq(loop_new(&loop), 0);
	base_config(&c, true, free_port(), "nosuchcc");
	cr_expect_lt(chan_new(loop, &c, &ev, &ch, err, sizeof(err)), 0);
	cr_expect(strstr(err, "[channel] congestion: \"nosuchcc\"") != NULL,
		  "%s", err);
	cr_expect(strstr(err, "reno") != NULL, "lists what the kernel has: %s",
		  err);
	loop_free(loop);
}

static bool parse(const char *extra, char *err, size_t errlen,
		  struct proxy_conf *c)
{
	char text[1024];

	snprintf(text, sizeof(text),
		 "[proxy]\nrole = secondary\nvm_port = tapB\n"
		 "[channel]\npeer = 10.99.0.1:7701\n%s", extra);
	memset(c, 0, sizeof(*c));
	return proxy_conf_parse(c, text, strlen(text), err, errlen);
}

Test(proxy_chan, congestion_option_in_the_config)
{
	struct proxy_conf c;
	char err[256] = "";

	cr_assert(parse("", err, sizeof(err), &c), "%s", err);
	cr_expect_str_eq(c.chan_cc, "cubic");
	cr_assert(parse("congestion = system\n", err, sizeof(err), &c), "%s",
		  err);
	cr_expect_str_eq(c.chan_cc, "system");
	cr_expect_not(parse("congestion = Bad Name\n", err, sizeof(err), &c));
	cr_expect(strstr(err, "[channel] congestion: \"Bad Name\"") != NULL,
		  "%s", err);
}
