/*
 * front.c - cmp_front: our comparator (compare/) behind the sockets of
 * QEMU's colo-compare, so that a QEMU COLO setup can use it in its place.
 *
 *   cmp_front -p DEV -s DEV -o DEV [-N DEV] [--vnet-hdr] [-t MS] [-v]
 *   DEV: unix:PATH or tcp:HOST:PORT, connected to; ",server" listens
 *
 *   primary_in ---> qf_reader --copy--> held_tab --cmp_input(P)--+
 *   secondary_in -> qf_reader ---------(in place)--cmp_input(S)--+-> cmp
 *                                                                 |
 *   outdev <------ obuf <--- RELEASE id <--- cmp_next_action() <--+
 *   notify_dev <-- "DO_CHECKPOINT" for each CHECKPOINT action
 *              --> "COLO_CHECKPOINT": the epoch is committed (cmp_commit)
 *
 * The framing is QEMU's (frame.h); a primary frame goes to outdev exactly
 * when the comparator releases it, in the order of the RELEASE actions.
 * notify_dev speaks colo-compare's Xen protocol (net/colo-compare.c:
 * compare_notify_rs_finalize(), notify_remote_frame()). Without it a
 * checkpoint request is only counted: output that diverged stays held, as
 * in QEMU's colo-compare with no COLO running.
 *
 * SIGTERM or SIGINT: print the counters as one JSON object on stdout and
 * exit 0. SIGUSR1: print them and go on.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/qcmp/frame.h"
#include "bench/qcmp/sock.h"
#include "bench/qcmp/store.h"
#include "common/log.h"
#include "common/loop.h"
#include "compare/cmp.h"

#define RBUF_SIZE (256u << 10)
#define OUT_HIGH (8u << 20)	/* stop reading inputs above this */
#define RETRY_MS 1000
#define SEC_ID (1ull << 63)

enum { P_PRI = 0, P_SEC, P_OUT, P_NTF, P_MAX };

static const char *const port_names[P_MAX] = {
	"primary_in", "secondary_in", "outdev", "notify_dev"
};

struct front;

struct port {
	int idx;			/* P_* */
	struct front *fe;
	struct ep ep;
	bool used;
	int lfd, fd;			/* listening (server), connected */
	uint64_t retry;			/* reconnect timer */
	struct qf_reader rd;		/* inputs and notify_dev */
	struct obuf ob;			/* outdev and notify_dev */
	uint64_t connects, write_errors;
};

struct front {
	struct loop *loop;
	struct cmp *cmp;
	struct cmp_config cfg;
	struct port port[P_MAX];
	struct held_tab held;
	bool vnet;
	bool paused;			/* inputs off: outdev backlog */
	uint32_t epoch;
	uint64_t now;			/* ns, per read */
	uint64_t sec_ids;
	uint64_t timer, timer_at;	/* cmp_tick() timer and its deadline */
	uint8_t *rbuf;
	struct {
		uint64_t out_frames, out_bytes;
		uint64_t nomem, bad_ids, primary_dropped;
		uint64_t out_lost;	/* bytes pending when outdev left */
		uint64_t notify_sent, notify_commits, notify_init,
			notify_unknown;
	} n;
};

static void port_open(struct front *fe, struct port *p);

/* ---- output ------------------------------------------------------------- */

/* Queue one framed message on P (outdev or notify_dev). */
static void port_send(struct port *p, const uint8_t *d, uint32_t len,
		      bool vnet, uint32_t vlen)
{
	uint8_t h[QF_HDR_MAX];
	size_t hl = qf_put_header(h, len, vnet, vlen);

	if (obuf_add(&p->ob, h, hl) || obuf_add(&p->ob, d, len))
		p->fe->n.nomem++;
}

static void release(struct front *fe, const struct cmp_action *a)
{
	struct held *h = held_get(&fe->held, a->id);

	if (!h) {
		fe->n.bad_ids++;
		return;
	}
	if (a->patch_window)
		cmp_patch_window(h->data + h->vlen, h->len - h->vlen,
				 CMP_LINK_ETH, a->window, false);
	port_send(&fe->port[P_OUT], h->data, h->len, fe->vnet, h->vlen);
	fe->n.out_frames++;
	fe->n.out_bytes += h->len;
	held_free(&fe->held, a->id);
}

static void checkpoint(struct front *fe, const struct cmp_action *a)
{
	static const char msg[] = "DO_CHECKPOINT";
	struct port *ntf = &fe->port[P_NTF];
	char key[128];

	log_debug("checkpoint request (%s): %s, offset %llu",
		  cmp_reason_name(a->reason),
		  cmp_key_format(&a->key, key, sizeof(key)),
		  (unsigned long long)a->offset);
	if (!ntf->used)
		return;
	/* colo-compare sends it without the vnet_len field */
	port_send(ntf, (const uint8_t *)msg, sizeof(msg) - 1, false, 0);
	fe->n.notify_sent++;
}

static void drain_actions(struct front *fe)
{
	struct cmp_action a;

	while (cmp_next_action(fe->cmp, &a)) {
		switch (a.type) {
		case CMP_ACT_RELEASE:
			release(fe, &a);
			break;
		case CMP_ACT_DROP:
			if (!(a.id & SEC_ID)) {	/* never expected */
				fe->n.primary_dropped++;
				held_free(&fe->held, a.id);
			}
			break;
		case CMP_ACT_CHECKPOINT:
			checkpoint(fe, &a);
			break;
		case CMP_ACT_FLOW_END:
			break;
		}
	}
}

/* ---- input -------------------------------------------------------------- */

static void on_primary(void *arg, const uint8_t *pkt, uint32_t len,
		       uint32_t vlen)
{
	struct front *fe = arg;
	uint64_t id;

	if (held_put(&fe->held, pkt, len, vlen, &id)) {
		fe->n.nomem++;	/* never released: the driver sees it */
		return;
	}
	cmp_input(fe->cmp, CMP_PRIMARY, id, fe->epoch, CMP_LINK_ETH,
		  pkt + vlen, len - vlen, 0, fe->now);
}

static void on_secondary(void *arg, const uint8_t *pkt, uint32_t len,
			 uint32_t vlen)
{
	struct front *fe = arg;

	cmp_input(fe->cmp, CMP_SECONDARY, SEC_ID | ++fe->sec_ids, fe->epoch,
		  CMP_LINK_ETH, pkt + vlen, len - vlen, 0, fe->now);
}

static bool is_msg(const uint8_t *d, uint32_t len, const char *s)
{
	return len == strlen(s) && !memcmp(d, s, len);
}

/* colo-compare's notify_dev protocol (the Xen COLO frame's side). */
static void on_notify(void *arg, const uint8_t *pkt, uint32_t len,
		      uint32_t vlen)
{
	static const char init[] = "COLO_COMPARE_GET_XEN_INIT";
	struct front *fe = arg;

	(void)vlen;
	if (is_msg(pkt, len, "COLO_USERSPACE_PROXY_INIT")) {
		port_send(&fe->port[P_NTF], (const uint8_t *)init,
			  sizeof(init) - 1, false, 0);
		fe->n.notify_init++;
	} else if (is_msg(pkt, len, "COLO_CHECKPOINT")) {
		/* the secondary now holds the primary's state */
		cmp_commit(fe->cmp, fe->epoch, loop_now_ns());
		fe->epoch++;
		fe->n.notify_commits++;
	} else {
		fe->n.notify_unknown++;
	}
}

static qf_frame_cb *const frame_cbs[P_MAX] = {
	on_primary, on_secondary, NULL, on_notify
};

static void port_close(struct front *fe, struct port *p)
{
	if (p->fd < 0)
		return;
	loop_del_fd(fe->loop, p->fd);
	close(p->fd);
	p->fd = -1;
	qf_reset(&p->rd);
	if (p->idx == P_OUT)
		fe->n.out_lost += obuf_pending(&p->ob);
	obuf_clear(&p->ob);
	log_warnx("%s: peer gone", port_names[p->idx]);
	if (!p->ep.server)
		port_open(fe, p);
}

static void on_port_io(struct loop *loop, int fd, unsigned ev, void *arg)
{
	struct port *p = arg;
	struct front *fe = p->fe;
	ssize_t n;

	(void)loop;
	(void)fd;
	if (!(ev & (LOOP_READ | LOOP_ERROR)))
		return;
	n = read(p->fd, fe->rbuf, RBUF_SIZE);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		port_close(fe, p);
		return;
	}
	if (!frame_cbs[p->idx])		/* outdev: nothing to read */
		return;
	fe->now = loop_now_ns();
	qf_feed(&p->rd, fe->rbuf, (size_t)n, frame_cbs[p->idx], fe);
	drain_actions(fe);
}

/* ---- connections -------------------------------------------------------- */

static unsigned port_events(const struct front *fe, const struct port *p)
{
	if (p->idx == P_PRI || p->idx == P_SEC)
		return fe->paused ? 0 : LOOP_READ;
	return LOOP_READ;	/* outdev: to notice the peer leave */
}

static void attach(struct front *fe, struct port *p, int fd)
{
	p->fd = fd;
	p->connects++;
	loop_add_fd(fe->loop, fd, port_events(fe, p), on_port_io, NULL, p);
	log_debug("%s: connected (%s)", port_names[p->idx], p->ep.spec);
}

static void on_accept(struct loop *loop, int lfd, unsigned ev, void *arg)
{
	struct port *p = arg;
	int fd = ep_accept(lfd);

	(void)loop;
	(void)ev;
	if (fd < 0)
		return;
	if (p->fd >= 0) {		/* one peer at a time, as QEMU */
		close(fd);
		return;
	}
	attach(p->fe, p, fd);
}

static void on_retry(struct loop *loop, uint64_t id, void *arg)
{
	struct port *p = arg;

	(void)loop;
	(void)id;
	p->retry = 0;
	port_open(p->fe, p);
}

/* Connect (client) or start listening (server) on P. */
static void port_open(struct front *fe, struct port *p)
{
	int fd;

	if (p->ep.server) {
		if (p->lfd >= 0)
			return;
		fd = ep_listen(&p->ep);
		if (fd < 0)
			fatalx("%s: cannot listen on %s: %s",
			       port_names[p->idx], p->ep.spec, strerror(-fd));
		p->lfd = fd;
		loop_add_fd(fe->loop, fd, LOOP_READ, on_accept, NULL, p);
		return;
	}
	fd = ep_connect(&p->ep);
	if (fd >= 0) {
		attach(fe, p, fd);
		return;
	}
	log_debug("%s: %s: %s; retrying", port_names[p->idx], p->ep.spec,
		  strerror(-fd));
	loop_add_timer(fe->loop, RETRY_MS, 0, on_retry, p, &p->retry);
}

/* ---- loop hooks --------------------------------------------------------- */

static void set_paused(struct front *fe, bool paused)
{
	if (fe->paused == paused)
		return;
	fe->paused = paused;
	for (int i = P_PRI; i <= P_SEC; i++)
		if (fe->port[i].fd >= 0)
			loop_mod_fd(fe->loop, fe->port[i].fd,
				    port_events(fe, &fe->port[i]));
}

static void flush_port(struct front *fe, struct port *p)
{
	long r;

	if (!p->used || !obuf_pending(&p->ob) || p->fd < 0)
		return;			/* without a peer: kept for the next */
	r = obuf_flush(&p->ob, p->fd);
	if (r < 0) {
		p->write_errors++;
		port_close(fe, p);
	}
}

static void on_tick(struct loop *loop, uint64_t id, void *arg)
{
	struct front *fe = arg;

	(void)loop;
	(void)id;
	fe->timer = 0;
	cmp_tick(fe->cmp, loop_now_ns());
	drain_actions(fe);
}

/* Arm the timer for the comparator's next deadline (hold timeouts). */
static void arm_timer(struct front *fe)
{
	uint64_t d = cmp_next_deadline(fe->cmp), now;

	if (d == UINT64_MAX || (fe->timer && fe->timer_at <= d))
		return;
	if (fe->timer)
		loop_del_timer(fe->loop, fe->timer);
	now = loop_now_ns();
	fe->timer_at = d;
	loop_add_timer(fe->loop, d > now ? (d - now) / 1000000 + 1 : 0, 0,
		       on_tick, fe, &fe->timer);
}

static void before_sleep(struct loop *loop, void *arg)
{
	struct front *fe = arg;

	(void)loop;
	flush_port(fe, &fe->port[P_OUT]);
	flush_port(fe, &fe->port[P_NTF]);
	set_paused(fe, obuf_pending(&fe->port[P_OUT].ob) > OUT_HIGH);
	arm_timer(fe);
}

/* ---- counters ----------------------------------------------------------- */

static void print_counters(const struct front *fe)
{
	const struct cmp_stats *s = cmp_get_stats(fe->cmp);
	unsigned long long sum = 0;

	printf("{\"primary_frames\":%llu,\"secondary_frames\":%llu,"
	       "\"released\":%llu,\"released_committed\":%llu,"
	       "\"out_frames\":%llu,\"out_bytes\":%llu,\"held_frames\":%llu,"
	       "\"held_frames_max\":%llu,\"malformed\":[%llu,%llu],"
	       "\"flows_created\":%llu,\"matched_bytes\":%llu,"
	       "\"checkpoint_requests\":{",
	       (unsigned long long)s->frames_in[0],
	       (unsigned long long)s->frames_in[1],
	       (unsigned long long)s->released,
	       (unsigned long long)s->released_committed,
	       (unsigned long long)fe->n.out_frames,
	       (unsigned long long)fe->n.out_bytes,
	       (unsigned long long)fe->held.inuse,
	       (unsigned long long)s->held_frames_max,
	       (unsigned long long)s->malformed[0],
	       (unsigned long long)s->malformed[1],
	       (unsigned long long)s->flows_created,
	       (unsigned long long)s->matched_bytes);
	for (int r = 1; r < CMP_R_MAX; r++) {
		sum += s->checkpoint_requests[r];
		printf("%s\"%s\":%llu", r > 1 ? "," : "",
		       cmp_reason_name((enum cmp_reason)r),
		       (unsigned long long)s->checkpoint_requests[r]);
	}
	printf("},\"checkpoint_requests_total\":%llu,\"framing_errors\":{", sum);
	for (int i = 0; i < P_MAX; i++) {
		const struct qf_stats *q = &fe->port[i].rd.st;

		printf("%s\"%s\":{\"oversized\":%llu,\"empty\":%llu,"
		       "\"bad_vnet\":%llu,\"truncated\":%llu}", i ? "," : "",
		       port_names[i], (unsigned long long)q->oversized,
		       (unsigned long long)q->empty,
		       (unsigned long long)q->bad_vnet,
		       (unsigned long long)q->truncated);
	}
	printf("},\"nomem\":%llu,\"bad_ids\":%llu,\"primary_dropped\":%llu,"
	       "\"out_lost_bytes\":%llu,\"notify\":{\"sent\":%llu,\"commits\":%llu,\"init\":%llu,"
	       "\"unknown\":%llu}}\n",
	       (unsigned long long)fe->n.nomem,
	       (unsigned long long)fe->n.bad_ids,
	       (unsigned long long)fe->n.primary_dropped,
	       (unsigned long long)fe->n.out_lost,
	       (unsigned long long)fe->n.notify_sent,
	       (unsigned long long)fe->n.notify_commits,
	       (unsigned long long)fe->n.notify_init,
	       (unsigned long long)fe->n.notify_unknown);
	fflush(stdout);
}

static void on_stop(struct loop *loop, int signo, void *arg)
{
	(void)signo;
	(void)arg;
	loop_stop(loop);
}

static void on_usr1(struct loop *loop, int signo, void *arg)
{
	(void)loop;
	(void)signo;
	print_counters(arg);
}

/* ---- setup -------------------------------------------------------------- */

static void usage(int status)
{
	fprintf(status ? stderr : stdout,
"usage: cmp_front -p DEV -s DEV -o DEV [-N DEV] [--vnet-hdr] [-t MS] [-v]\n"
"  -p, --primary-in DEV    the primary's output (colo-compare primary_in)\n"
"  -s, --secondary-in DEV  the secondary's output (secondary_in)\n"
"  -o, --outdev DEV        released primary frames (outdev)\n"
"  -N, --notify-dev DEV    checkpoint requests and commits (notify_dev)\n"
"      --vnet-hdr          frames carry a vnet header (vnet_hdr_support)\n"
"  -t, --hold-timeout MS   longest wait of primary output (default 200)\n"
"  -v                      verbose\n"
"DEV is unix:PATH or tcp:HOST:PORT (connected to), or either followed by\n"
",server (listened on). SIGTERM prints the counters as JSON on stdout.\n");
	exit(status);
}

static void set_port(struct front *fe, int idx, const char *spec)
{
	struct port *p = &fe->port[idx];
	char err[256];

	if (ep_parse(spec, &p->ep, err, sizeof(err)))
		fatalx("%s: %s", port_names[idx], err);
	p->used = true;
}

static void parse_args(struct front *fe, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "primary-in", required_argument, NULL, 'p' },
		{ "secondary-in", required_argument, NULL, 's' },
		{ "outdev", required_argument, NULL, 'o' },
		{ "notify-dev", required_argument, NULL, 'N' },
		{ "vnet-hdr", no_argument, NULL, 'H' },
		{ "hold-timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int c, verbose = 0;
	char *end;
	unsigned long ms;

	while ((c = getopt_long(argc, argv, "p:s:o:N:t:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'p': set_port(fe, P_PRI, optarg); break;
		case 's': set_port(fe, P_SEC, optarg); break;
		case 'o': set_port(fe, P_OUT, optarg); break;
		case 'N': set_port(fe, P_NTF, optarg); break;
		case 'H': fe->vnet = true; break;
		case 'v': verbose++; break;
		case 'h': usage(0); break;
		case 't':
			errno = 0;
			ms = strtoul(optarg, &end, 10);
			if (errno || *end || !ms || ms > 3600000)
				fatalx("hold timeout \"%s\": expected 1 to "
				       "3600000 ms", optarg);
			fe->cfg.hold_timeout_ns = ms * 1000000ull;
			break;
		default: usage(2);
		}
	}
	if (optind != argc || !fe->port[P_PRI].used ||
	    !fe->port[P_SEC].used || !fe->port[P_OUT].used)
		usage(2);
	log_setverbose(verbose);
}

static void setup(struct front *fe)
{
	int r;

	for (int i = 0; i < P_MAX; i++) {
		struct port *p = &fe->port[i];

		p->idx = i;
		p->fe = fe;
		p->fd = p->lfd = -1;
		if (qf_reader_init(&p->rd, fe->vnet, 0))
			fatalx("out of memory");
	}
	fe->rbuf = malloc(RBUF_SIZE);
	held_init(&fe->held);
	if (!fe->rbuf || (r = cmp_new(&fe->cfg, &fe->cmp)) < 0)
		fatalx("cannot create the comparator");
	if ((r = loop_new(&fe->loop)) < 0)
		fatalx("loop: %s", strerror(-r));
	loop_add_signal(fe->loop, SIGTERM, on_stop, fe);
	loop_add_signal(fe->loop, SIGINT, on_stop, fe);
	loop_add_signal(fe->loop, SIGUSR1, on_usr1, fe);
	signal(SIGPIPE, SIG_IGN);
	loop_set_before_sleep(fe->loop, before_sleep, fe);
	for (int i = 0; i < P_MAX; i++)
		if (fe->port[i].used)
			port_open(fe, &fe->port[i]);
}

int main(int argc, char **argv)
{
	static struct front fe;

	log_init("cmp_front", 1, 0);
	cmp_config_defaults(&fe.cfg);
	parse_args(&fe, argc, argv);
	setup(&fe);
	if (loop_run(fe.loop) < 0)
		fatal("loop");
	print_counters(&fe);
	return 0;
}
