/*
 * colo-heartbeat - failure detection, tie-breaking and failover for a
 * COLO pair; also the pair's witness.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "common/daemon.h"
#include "common/log.h"
#include "common/loop.h"
#include "heartbeat/hb.h"

#define DEFAULT_CONF "/etc/colo/heartbeat.conf"

static const char usage_text[] =
"usage: colo-heartbeat [-dnv] [-c FILE]\n"
"\n"
"Watches the other host of a COLO pair over two paths (the replication\n"
"link and the LAN) with authenticated, replay-proof heartbeats, and fails\n"
"over when it is gone: on the secondary x-colo-lost-heartbeat, the bridge\n"
"joined to the LAN, colo-proxy to takeover, announce-self; on the primary\n"
"x-colo-lost-heartbeat and colo-proxy to solo. A witness (this program\n"
"with node = witness, on a third machine) or a fence hook decides who may\n"
"serve when the two cannot see each other, so that never both do.\n"
"\n"
"options:\n"
"  -c, --config FILE   configuration file (default " DEFAULT_CONF ")\n"
"  -n, --check         check the configuration and the key, and exit\n"
"  -d, --foreground    stay in the foreground, log to stderr\n"
"  -v, --verbose       more log output (repeat for more)\n"
"  -h, --help          this text\n"
"\n"
"control (root only): coloctl -s SOCKET heartbeat|failover, or the\n"
"  socket's own commands: status [json], counters [json], failover\n"
"signals: SIGTERM/SIGINT stop; SIGHUP is logged and ignored\n"
"See colo-heartbeat(8) and etc/colo-heartbeat.conf.\n";

static void on_hup(struct loop *loop, int signo, void *arg)
{
	(void)loop;
	(void)signo;
	(void)arg;
	log_warnx("SIGHUP: the configuration is not reloaded; restart to "
		  "change it (a restart forgets a fence: see colo-heartbeat(8))");
}

static int check_only(const struct hb_conf *cf, const char *path,
		      const char *warning)
{
	static const char *const nodes[] = { "a", "b", "witness" };

	printf("%s: ok (pair %s, node %s", path, cf->name, nodes[cf->node]);
	if (cf->node != HB_NODE_WITNESS)
		printf(", %s, every %llu ms, timeout %llu ms",
		       cf->role ? "secondary" : "primary",
		       (unsigned long long)cf->interval_ms,
		       (unsigned long long)cf->timeout_ms);
	printf(")\n");
	if (warning[0])
		printf("warning: %s\n", warning);
	if (cf->node != HB_NODE_WITNESS && cf->tiebreak == HB_TB_NONE)
		printf("warning: [tiebreaker] mode = none: if both paths are "
		       "cut while both hosts live, both VMs will serve\n");
	return 0;
}

static int run(const struct hb_conf *cf, const uint8_t key[HB_KEY_LEN])
{
	static struct hb h;
	struct loop *loop;
	char err[512];
	int r;

	if ((r = loop_new(&loop)) < 0)
		fatalx("event loop: %s", strerror(-r));
	daemon_stop_on_signals(loop);
	loop_add_signal(loop, SIGHUP, on_hup, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (hb_start(&h, loop, cf, key, err, sizeof(err)) < 0) {
		log_warnx("%s", err);
		hb_stop(&h);
		loop_free(loop);
		return 1;
	}
	if (cf->node == HB_NODE_WITNESS)
		log_info("pair %s: witness started, control socket %s",
			 cf->name, cf->control);
	else
		log_info("pair %s: node %s started as %s, every %llu ms, "
			 "timeout %llu ms, control socket %s", cf->name,
			 cf->node ? "b" : "a", cf->role ? "secondary" :
			 "primary", (unsigned long long)cf->interval_ms,
			 (unsigned long long)cf->timeout_ms, cf->control);
	r = loop_run(loop);
	hb_stop(&h);
	log_info("stopped");
	loop_free(loop);
	return r < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
	static struct hb_conf cf;
	uint8_t key[HB_KEY_LEN];
	char err[512], warning[512];
	struct daemon_args a = { .config = DEFAULT_CONF };
	const char *path;
	int r = daemon_args_parse(argc, argv, "colo-heartbeat", usage_text, &a);

	if (r >= 0)
		return r;
	path = a.config;
	log_init("colo-heartbeat", a.foreground || a.check, a.verbose);
	if (sodium_init() < 0)
		fatalx("libsodium failed to initialise");
	if (!hb_conf_load(&cf, path, err, sizeof(err))) {
		fprintf(stderr, "colo-heartbeat: %s\n", err);
		return 1;
	}
	snprintf(warning, sizeof(warning), "%s", err);
	err[0] = '\0';
	if (!hb_key_load(cf.key_file, key, err, sizeof(err))) {
		fprintf(stderr, "colo-heartbeat: [heartbeat] key_file: %s\n",
			err);
		return 1;
	}
	if (err[0])
		fprintf(stderr, "colo-heartbeat: warning: %s\n", err);
	if (a.check)
		return check_only(&cf, path, warning);
	if (warning[0])
		log_warnx("%s", warning);
	if (geteuid() != 0) {
		fprintf(stderr, "colo-heartbeat: must run as root (bridges, "
			"QEMU's monitor, the proxy's socket)\n");
		return 1;
	}
	if (!a.foreground && daemon(0, 0) < 0)
		fatal("daemon");
	return run(&cf, key);
}
