/*
 * colo-relay - carries QEMU's COLO migration channel between two hosts,
 * zstd-compressed both ways.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/daemon.h"
#include "common/log.h"
#include "common/loop.h"
#include "relay/relay.h"

#define DEFAULT_CONF "/etc/colo/relay.conf"

static const char usage_text[] =
"usage: colo-relay [-dnv] [-c FILE]\n"
"\n"
"Carries QEMU's COLO migration channel (one TCP connection, both ways)\n"
"between two hosts, compressed with zstd and flushed after every read.\n"
"On host A (role = primary) QEMU migrates to this relay's listen address\n"
"(migrate tcp:LISTEN) and the relay connects to the peer relay; on host\n"
"B (role = secondary) the relay accepts the peer and connects to the\n"
"secondary QEMU's -incoming address.  Garbage, a wrong version, a\n"
"truncated stream or a silent peer close both sides of the channel.\n"
"\n"
"options:\n"
"  -c, --config FILE   configuration file (default " DEFAULT_CONF ")\n"
"  -n, --check         check the configuration, print what it would do,\n"
"                      and exit\n"
"  -d, --foreground    stay in the foreground, log to stderr\n"
"  -v, --verbose       more log output (repeat for more)\n"
"  -h, --help          this text\n"
"\n"
"control (root only): coloctl -s SOCKET status|counters|checkpoints\n"
"  [--json]\n"
"signals: SIGTERM/SIGINT stop (a relayed channel is closed); SIGHUP is\n"
"  logged and ignored\n"
"See colo-relay(8) and etc/colo-relay.conf.\n";

static void on_hup(struct loop *loop, int signo, void *arg)
{
	(void)loop;
	(void)signo;
	(void)arg;
	log_warnx("SIGHUP: the configuration is not reloaded; restart to "
		  "change it (between two COLO pairings)");
}

static void addr(const struct cfg_addr *a, char *buf, size_t len)
{
	cfg_sockaddr_text(&a->u.sa, buf, len);
}

static int check_only(const struct relay_conf *cf, const char *path)
{
	char l[64], c[64];

	addr(&cf->listen, l, sizeof(l));
	addr(&cf->connect, c, sizeof(c));
	printf("%s: ok (pair %s, %s)\n", path, cf->name,
	       relay_role_name(cf->role));
	if (cf->role == RELAY_PRIMARY)
		printf("would listen on %s for the primary QEMU (migrate "
		       "-d tcp:%s)\nand relay it to the peer relay at %s\n",
		       l, l, c);
	else
		printf("would listen on %s for the primary's relay\nand "
		       "relay each connection to the secondary QEMU at %s "
		       "(-incoming tcp:%s)\n", l, c, c);
	if (cf->compress)
		printf("sending zstd level %d, chunks of up to %llu bytes, "
		       "flushed after every read\n", cf->level,
		       (unsigned long long)cf->chunk);
	else
		printf("sending uncompressed, chunks of up to %llu bytes\n",
		       (unsigned long long)cf->chunk);
	printf("buffer %llu bytes per socket; connect timeout %llu ms, "
	       "keepalive %llu ms, timeout %llu ms\ncontrol socket %s\n",
	       (unsigned long long)cf->buffer,
	       (unsigned long long)cf->connect_ms,
	       (unsigned long long)cf->keepalive_ms,
	       (unsigned long long)cf->timeout_ms, cf->control);
	return 0;
}

static int run(const struct relay_conf *cf)
{
	static struct relay r;	/* large (latency rings): not on the stack */
	struct loop *loop;
	char err[512], l[64], c[64];
	int ret;

	if ((ret = loop_new(&loop)) < 0)
		fatalx("event loop: %s", strerror(-ret));
	daemon_stop_on_signals(loop);
	loop_add_signal(loop, SIGHUP, on_hup, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (relay_start(&r, loop, cf, true, err, sizeof(err)) < 0) {
		log_warnx("%s", err);
		loop_free(loop);
		return 1;
	}
	addr(&cf->listen, l, sizeof(l));
	addr(&cf->connect, c, sizeof(c));
	log_info("pair %s: %s relay listening on %s (port %u), connecting "
		 "to %s, %s, control socket %s", cf->name,
		 relay_role_name(cf->role), l, r.port, c, cf->compress ?
		 "zstd" : "uncompressed", cf->control);
	ret = loop_run(loop);
	relay_stop(&r);
	log_info("stopped");
	loop_free(loop);
	return ret < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
	static struct relay_conf cf;
	char err[512];
	struct daemon_args a = { .config = DEFAULT_CONF };
	int r = daemon_args_parse(argc, argv, "colo-relay", usage_text, &a);

	if (r >= 0)
		return r;
	log_init("colo-relay", a.foreground || a.check, a.verbose);
	if (!relay_conf_load(&cf, a.config, err, sizeof(err))) {
		fprintf(stderr, "colo-relay: %s\n", err);
		return 1;
	}
	if (a.check)
		return check_only(&cf, a.config);
	if (!a.foreground && daemon(0, 0) < 0)
		fatal("daemon");
	return run(&cf);
}
