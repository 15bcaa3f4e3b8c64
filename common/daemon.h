/*
 * daemon: the command line every colokit daemon shares:
 *   -c FILE (config), -n (check and exit), -d (foreground), -v (more),
 *   -h (usage on stdout)
 */
#ifndef COMMON_DAEMON_H
#define COMMON_DAEMON_H

#include <stdbool.h>

struct daemon_args {
	const char *config;	/* the default until -c */
	bool check, foreground;
	int verbose;
};

/*
 * Parse ARGV into A (preset A->config to the default). -1: go on; else
 * the exit status (0 after -h, 2 on a usage error, with USAGE printed),
 * for main() to return.
 */
int daemon_args_parse(int argc, char **argv, const char *prog,
		      const char *usage, struct daemon_args *a);

struct loop;

/* SIGTERM and SIGINT: stop the loop (the daemon then tears down). */
void daemon_stop_on_signals(struct loop *loop);

#endif /* COMMON_DAEMON_H */
