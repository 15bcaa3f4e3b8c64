/*
 * daemon: the daemons' shared command line (see daemon.h).
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>

#include "common/daemon.h"
#include "common/log.h"
#include "common/loop.h"

static void on_stop(struct loop *loop, int signo, void *arg)
{
	(void)arg;
	log_info("signal %d: stopping", signo);
	loop_stop(loop);
}

void daemon_stop_on_signals(struct loop *loop)
{
	loop_add_signal(loop, SIGTERM, on_stop, NULL);
	loop_add_signal(loop, SIGINT, on_stop, NULL);
}

int daemon_args_parse(int argc, char **argv, const char *prog,
		      const char *usage, struct daemon_args *a)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check", no_argument, NULL, 'n' },
		{ "foreground", no_argument, NULL, 'd' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "c:ndvh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': a->config = optarg; break;
		case 'n': a->check = true; break;
		case 'd': a->foreground = true; break;
		case 'v': a->verbose++; break;
		case 'h': fputs(usage, stdout); return 0;
		default: fputs(usage, stderr); return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "%s: unexpected argument \"%s\"\n%s", prog,
			argv[optind], usage);
		return 2;
	}
	return -1;
}
