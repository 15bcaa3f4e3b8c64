/*
 * colo-proxy - the COLO netfilter datapath daemon (primary or secondary).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "colo-proxy/proxy.h"
#include "common/daemon.h"
#include "common/log.h"
#include "common/loop.h"

#define DEFAULT_CONF "/etc/colo/proxy.conf"

static const char usage_text[] =
"usage: colo-proxy [-dnv] [-c FILE]\n"
"\n"
"The COLO datapath between two hosts.  As the primary it mirrors the\n"
"frames bound for the primary VM to the secondary, holds the primary VM's\n"
"output in a netfilter queue and releases it only when the secondary VM\n"
"produced the same bytes (or a checkpoint covered it).  As the secondary\n"
"it injects the mirrored frames toward the secondary VM, translates TCP\n"
"sequence numbers, and sends the secondary VM's output to the primary\n"
"instead of the LAN.  Netfilter rules are installed in chains of its own\n"
"and removed on exit.\n"
"\n"
"options:\n"
"  -c, --config FILE   configuration file (default " DEFAULT_CONF ")\n"
"  -n, --check         check the configuration, print the netfilter rules\n"
"                      it would install, and exit\n"
"  -d, --foreground    stay in the foreground, log to stderr\n"
"  -v, --verbose       more log output (repeat for more)\n"
"  -h, --help          this text\n"
"\n"
"control (root only): coloctl -s SOCKET status|counters|divergences|flows|\n"
"  mode protected|solo|takeover|checkpoint\n"
"signals: SIGTERM/SIGINT stop (rules removed), SIGHUP reloads the\n"
"  reloadable options (dump_dir, dump_max)\n"
"See colo-proxy(8) and etc/colo-proxy.conf.\n";

struct daemon_ctx {
	struct proxy *p;
	const char *path;
};

static void on_hup(struct loop *loop, int signo, void *arg)
{
	struct daemon_ctx *dc = arg;
	struct proxy_conf next;
	char err[512];

	(void)loop;
	(void)signo;
	if (!proxy_conf_load(&next, dc->path, err, sizeof(err))) {
		log_warnx("reload refused: %s", err);
		return;
	}
	if (cfg_diff_nonreloadable(proxy_conf_table, &dc->p->cf, &next, err,
				   sizeof(err))) {
		log_warnx("reload refused: %s", err);
		return;
	}
	dc->p->cf = next;
	log_info("configuration reloaded from %s", dc->path);
}

static int check_only(const struct proxy_conf *cf, const char *path)
{
	struct rules_spec s;
	char text[4096];

	printf("%s: ok (%s, vm port %s, queues %d/%d)\n", path,
	       proxy_role_name(cf->role), cf->vm_port, cf->queue_in,
	       cf->queue_out);
	proxy_rules_spec(cf, &s);
	if (rules_render(&s, cf->firewall == FW_NFT ? RULES_NFT :
			 RULES_IPTABLES_LEGACY, AF_INET, text, sizeof(text)) >= 0)
		printf("\nrules (IPv4):\n%s", text);
	return 0;
}

static int run(const struct proxy_conf *cf, const char *path)
{
	static struct proxy p;	/* large (a frame buffer): not on the stack */
	struct daemon_ctx dc = { &p, path };
	struct loop *loop;
	char err[512];
	int r;

	if ((r = loop_new(&loop)) < 0)
		fatalx("event loop: %s", strerror(-r));
	daemon_stop_on_signals(loop);
	loop_add_signal(loop, SIGHUP, on_hup, &dc);
	signal(SIGPIPE, SIG_IGN);
	if (proxy_start(&p, loop, cf, err, sizeof(err)) < 0) {
		log_warnx("%s", err);
		loop_free(loop);
		return 1;
	}
	log_info("%s %s started in %s mode, control socket %s", cf->name,
		 proxy_role_name(cf->role), proxy_mode_name(cf->mode),
		 cf->control);
	r = loop_run(loop);
	proxy_stop(&p);
	log_info("stopped; netfilter rules removed");
	loop_free(loop);
	return r < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
	static struct proxy_conf cf;
	char err[512];
	struct daemon_args a = { .config = DEFAULT_CONF };
	const char *path;
	int r = daemon_args_parse(argc, argv, "colo-proxy", usage_text, &a);

	if (r >= 0)
		return r;
	path = a.config;
	log_init("colo-proxy", a.foreground || a.check, a.verbose);
	if (!proxy_conf_load(&cf, path, err, sizeof(err))) {
		fprintf(stderr, "colo-proxy: %s\n", err);
		return 1;
	}
	if (a.check)
		return check_only(&cf, path);
	if (geteuid() != 0) {
		fprintf(stderr, "colo-proxy: must run as root (netfilter "
			"queues and rules)\n");
		return 1;
	}
	if (!a.foreground && daemon(0, 0) < 0)
		fatal("daemon");
	return run(&cf, path);
}
