/*
 * nfq_accept: accept every packet of one or more NFQUEUE queues, through
 * colo-proxy/nfq.c configured as the proxy uses it (GSO flag, large
 * receive buffer, recvmmsg, one batch of verdicts per receive burst).  It
 * is the floor of the datapath benchmark: what the queue alone costs.
 *
 *   nfq_accept [-v] [-1] [-G] [-b BATCH] [-r RCVBUF] [-m MAXLEN] QUEUE...
 *
 *   -v  counters (ours and the kernel's) on stderr at exit
 *   -1  one verdict message per packet (flush after each), for comparison
 *   -G  without NFQA_CFG_F_GSO (the lab measured 2 % of TCP without it)
 *
 * Runs until SIGINT or SIGTERM.  Without arguments it says what it is and
 * exits 0, so that `make bench`, which runs every bench binary bare, skips
 * it.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/netfilter.h>

#include "colo-proxy/nfq.h"

#define MAXQ 16

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

struct opts {
	bool verbose, single, nogso;
	unsigned batch;
	uint32_t rcvbuf, maxlen;
	int nq;
	uint16_t qnum[MAXQ];
};

static void usage(void)
{
	fprintf(stderr, "usage: nfq_accept [-v] [-1] [-G] [-b BATCH] "
		"[-r RCVBUF] [-m MAXLEN] QUEUE...\n");
	exit(2);
}

static unsigned long num(const char *s, unsigned long max)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || *s == '\0' || *end != '\0' || v > max) {
		fprintf(stderr, "nfq_accept: bad number '%s'\n", s);
		exit(2);
	}
	return v;
}

static void parse_args(int argc, char **argv, struct opts *o)
{
	int c;

	while ((c = getopt(argc, argv, "v1Gb:r:m:")) != -1) {
		switch (c) {
		case 'v': o->verbose = true; break;
		case '1': o->single = true; break;
		case 'G': o->nogso = true; break;
		case 'b': o->batch = (unsigned)num(optarg, 256); break;
		case 'r': o->rcvbuf = (uint32_t)num(optarg, 1U << 30); break;
		case 'm': o->maxlen = (uint32_t)num(optarg, 1U << 24); break;
		default: usage();
		}
	}
	for (; optind < argc; optind++) {
		if (o->nq == MAXQ)
			usage();
		o->qnum[o->nq++] = (uint16_t)num(argv[optind], 65535);
	}
	if (o->nq == 0)
		usage();
}

struct ctx {
	bool single;
	uint64_t verdict_errors;
};

static void accept_cb(struct nfq *q, const struct nfq_packet *p, void *arg)
{
	struct ctx *c = arg;

	if (nfq_verdict(q, p->id, NF_ACCEPT) < 0)
		c->verdict_errors++;
	if (c->single && nfq_flush(q) < 0)
		c->verdict_errors++;
}

static void print_stats(struct nfq *q, uint16_t num_)
{
	const struct nfq_stats *s = nfq_get_stats(q);
	struct nfq_kstats k;

	fprintf(stderr, "queue %u: packets %llu bytes %llu recv_calls %llu "
		"recv_msgs %llu enobufs %llu id_gaps %llu gso %llu "
		"csum_partial %llu truncated %llu malformed %llu\n", num_,
		(unsigned long long)s->packets, (unsigned long long)s->bytes,
		(unsigned long long)s->recv_calls,
		(unsigned long long)s->recv_msgs,
		(unsigned long long)s->enobufs, (unsigned long long)s->id_gaps,
		(unsigned long long)s->gso, (unsigned long long)s->csum_partial,
		(unsigned long long)s->truncated,
		(unsigned long long)s->malformed);
	fprintf(stderr, "queue %u: accepted %llu batch_verdicts %llu "
		"single_verdicts %llu sendmsg_calls %llu send_errors %llu "
		"outstanding_max %llu\n", num_,
		(unsigned long long)s->accepted,
		(unsigned long long)s->batch_verdicts,
		(unsigned long long)s->single_verdicts,
		(unsigned long long)s->sendmsg_calls,
		(unsigned long long)s->send_errors,
		(unsigned long long)s->outstanding_max);
	if (nfq_read_kstats(q, &k) == 0)
		fprintf(stderr, "queue %u: kernel queue_total %u queue_dropped "
			"%llu user_dropped %llu id_sequence %u\n", num_,
			k.queue_total, (unsigned long long)k.queue_dropped,
			(unsigned long long)k.user_dropped, k.id_sequence);
}

/* Serve the queues until a signal; 0 or 1 on a socket error. */
static int serve(struct nfq **qs, int nq, struct ctx *c)
{
	struct pollfd pfd[MAXQ];
	int i;

	for (i = 0; i < nq; i++)
		pfd[i] = (struct pollfd){ .fd = nfq_fd(qs[i]), .events = POLLIN };
	while (!stop) {
		if (poll(pfd, (nfds_t)nq, -1) < 0) {
			if (errno == EINTR)
				continue;
			perror("nfq_accept: poll");
			return 1;
		}
		for (i = 0; i < nq; i++) {
			int n;

			if (!(pfd[i].revents & POLLIN))
				continue;
			/* a burst, then its verdicts */
			n = nfq_receive(qs[i], accept_cb, c);
			if (n < 0) {
				fprintf(stderr, "nfq_accept: receive: %s\n",
					strerror(-n));
				return 1;
			}
			if (nfq_flush(qs[i]) < 0)
				c->verdict_errors++;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o = { .batch = 0 };
	struct nfq *qs[MAXQ] = { NULL };
	struct ctx c = { 0 };
	struct sigaction sa;
	char err[256];
	int i, ret = 1;

	if (argc < 2) {
		printf("nfq_accept: helper program for bench/datapath, "
		       "not a benchmark\n");
		return 0;
	}
	parse_args(argc, argv, &o);
	c.single = o.single;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;	/* no SA_RESTART: poll() returns */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	for (i = 0; i < o.nq; i++) {
		struct nfq_config cfg;
		int r;

		nfq_config_defaults(&cfg, o.qnum[i]);
		if (o.batch)
			cfg.batch = o.batch;
		if (o.rcvbuf)
			cfg.rcvbuf = o.rcvbuf;
		if (o.maxlen)
			cfg.queue_maxlen = o.maxlen;
		cfg.gso = !o.nogso;
		r = nfq_open(&qs[i], &cfg, err, sizeof(err));
		if (r < 0) {
			fprintf(stderr, "nfq_accept: %s\n", err);
			goto out;
		}
	}
	ret = serve(qs, o.nq, &c);
out:
	for (i = 0; i < o.nq; i++) {
		if (!qs[i])
			continue;
		if (o.verbose)
			print_stats(qs[i], o.qnum[i]);
		nfq_close(qs[i]);
	}
	if (o.verbose && c.verdict_errors)
		fprintf(stderr, "nfq_accept: %llu verdict errors\n",
			(unsigned long long)c.verdict_errors);
	return ret;
}
