/*
 * coloctl - operate a COLO pair: colo-proxy's control socket for the
 * proxy's state, QMP for QEMU's (pair, qemu: see pair.c).
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "coloctl/coloctl.h"

#define TIMEOUT_MS 5000

struct cmd {
	const char *name;
	const char *args;	/* for usage */
	int nargs;		/* -1: the handler parses its own */
	bool json;		/* takes --json */
	const char *help;
	int (*run)(int argc, char **argv, bool json);	/* NULL: proxy */
	bool hb;		/* colo-heartbeat's socket, not the proxy's */
	const char *wire;	/* the socket's command, if not the name */
};

static int cmd_checkpoint_wait(int argc, char **argv, bool json);
static int cmd_reprotect(int argc, char **argv, bool json);

static const struct cmd cmds[] = {
	{ "status", "", 0, true, "role, mode, epoch, channel, held output", NULL, false, NULL },
	{ "counters", "", 0, true, "every counter of the proxy, by module", NULL, false, NULL },
	{ "divergences", "", 0, true, "the last divergences (flow, offset, "
	  "reason, pcapng file)", NULL, false, NULL },
	{ "flows", "", 0, true, "the comparator's flows (primary)", NULL, false, NULL },
	{ "mode", "protected|solo|takeover", 1, false, "switch the proxy's "
	  "mode (solo: primary without secondary, releases all; takeover: "
	  "the secondary serves)", NULL, false, NULL },
	{ "checkpoints", "", 0, true, "the last checkpoints: reason, epoch, "
	  "how long the VM paused, how long the request waited", NULL, false, NULL },
	{ "checkpoint", "[--wait]", -1, false, "ask for a checkpoint now; "
	  "--wait: until one has completed", cmd_checkpoint_wait, false, NULL },
	{ "pair", "[--secondary QMP] [--primary QMP --uri tcp:HOST:PORT | "
	  "--relay SOCKET] [--period MS] [--timeout MS]", -1, true, "start "
	  "COLO: capabilities on both QEMUs, migrate the primary to the "
	  "secondary (started with -incoming), wait for the colo state; on "
	  "two hosts run --secondary on B first, then --primary --uri on A; "
	  "--relay: through the local colo-relay (its control socket), "
	  "migrating to its listen address", cmd_pair, false, NULL },
	{ "qemu", "QMP", -1, true, "QEMU's run state, migration status and "
	  "COLO mode", cmd_qemu, false, NULL },
	{ "heartbeat", "", 0, true, "colo-heartbeat: state, role, term, "
	  "peer, paths, witness, VM, the last failover plan", NULL, true,
	  "status" },
	{ "hb-counters", "", 0, true, "colo-heartbeat's counters (forged, "
	  "replayed, claims, failovers...)", NULL, true, "counters" },
	{ "failover", "", 0, false, "fail over now through colo-heartbeat, "
	  "as on a lost peer (the tie-breaker still decides): the "
	  "secondary takes over, the primary goes on alone", NULL, true,
	  NULL },
	{ "reprotect", "[--no-wait] [--timeout SECONDS]", -1, false,
	  "on the primary serving alone: pair again with the peer's fresh "
	  "secondary (its QEMU -incoming, its proxy and heartbeat as "
	  "secondary): proxy promote, COLO migration; waits until protected "
	  "(default 600 s)", cmd_reprotect, true, NULL },
	{ "promote", "", 0, false, "after a takeover: make this secondary "
	  "proxy the primary of a new pair, keeping its connections' "
	  "translations (colo-heartbeat's reprotect does it)", NULL, false,
	  NULL },
	{ NULL, NULL, 0, false, NULL, NULL, false, NULL },
};

static char sock_path[108] = "/run/colo-proxy/colo.sock";
static char hb_path[108] = "/run/colo-heartbeat/colo.sock";

static void usage(FILE *f)
{
	fprintf(f, "usage: coloctl [-s SOCKET | -n NAME] COMMAND [ARGS] "
		"[--json]\n\ncommands:\n");
	for (const struct cmd *c = cmds; c->name; c++)
		fprintf(f, "  %s %s\n      %s\n", c->name, c->args, c->help);
	fprintf(f, "\noptions:\n"
		"  -s, --socket PATH   the control socket (the proxy's, or "
		"colo-heartbeat's\n"
		"                      for heartbeat, hb-counters and "
		"failover)\n"
		"  -n, --name NAME     same as -s /run/colo-proxy/NAME.sock, "
		"or\n"
		"                      /run/colo-heartbeat/NAME.sock (default: "
		"colo)\n"
		"  -j, --json          JSON output (status, counters, "
		"divergences, flows)\n"
		"  -h, --help          this text; COMMAND --help for one "
		"command\n"
		"\nQMP (pair, qemu): QEMU's QMP unix socket, or "
		"libvirt:DOMAIN[@URI] for a\n"
		"domain of libvirt's (URI default: $LIBVIRT_DEFAULT_URI, "
		"else qemu:///system)\n"
		"exit status: 0 ok, 1 the proxy answered with an error, 2 "
		"usage or connection error\n");
}

/* Read the whole answer (the proxy closes after it); NULL on timeout. */
static char *read_all(int fd, size_t *len)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	size_t have = 0, cap = 0;
	char *buf = NULL, *t;
	ssize_t n;

	for (;;) {
		if (have + 4096 > cap) {
			t = realloc(buf, cap = cap ? cap * 2 : 65536);
			if (!t)
				break;
			buf = t;
		}
		if (poll(&pfd, 1, TIMEOUT_MS) <= 0) {
			free(buf);
			return NULL;
		}
		n = read(fd, buf + have, cap - have);
		if (n <= 0)
			break;
		have += (size_t)n;
	}
	*len = have;
	return buf;
}

/* Send LINE; the answer (without "ok\n") into *OUT if OUT, else to stdout. */
int talk_to(const char *path, const char *line, char **out)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	size_t len = 0;
	char *ans;
	int fd, r;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "coloctl: socket path too long: \"%s\"\n", path);
		return 2;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    write(fd, line, strlen(line)) < 0) {
		fprintf(stderr, "coloctl: cannot reach \"%s\": %s\n", path,
			strerror(errno));
		if (fd >= 0)
			close(fd);
		return 2;
	}
	ans = read_all(fd, &len);
	close(fd);
	if (!ans) {
		fprintf(stderr, "coloctl: no answer from %s\n", path);
		return 2;
	}
	if (len >= 3 && !memcmp(ans, "ok\n", 3)) {
		if (out) {
			memmove(ans, ans + 3, len - 3);
			ans[len - 3] = '\0';
			*out = ans;
			return 0;
		}
		fwrite(ans + 3, 1, len - 3, stdout);
		r = 0;
	} else {
		fprintf(stderr, "coloctl: %.*s", (int)len, ans);
		r = 1;
	}
	free(ans);
	return r;
}

static int talk(const char *path, const char *line)
{
	return talk_to(path, line, NULL);
}

/* "checkpoints N" from the proxy's status text; -1 if unreadable. */
static long long completed_checkpoints(void)
{
	char *ans = NULL, *at;
	long long n = -1;

	if (talk_to(sock_path, "status\n", &ans) != 0)
		return -1;
	at = strstr(ans, "\ncheckpoints ");
	if (at)
		n = strtoll(at + 13, NULL, 10);
	free(ans);
	return n;
}

/* coloctl checkpoint [--wait [SECONDS]] */
static int cmd_checkpoint_wait(int argc, char **argv, bool json)
{
	long long before, now;
	int limit = 30;

	(void)json;
	if (argc > 3 || (argc >= 2 && strcmp(argv[1], "--wait") != 0) ||
	    (argc == 3 && (limit = atoi(argv[2])) <= 0)) {
		fprintf(stderr, "coloctl checkpoint: usage: checkpoint "
			"[--wait [SECONDS]]\n");
		return 2;
	}
	before = argc >= 2 ? completed_checkpoints() : 0;
	if (before < 0)
		return 2;
	if (argc < 2)
		return talk(sock_path, "checkpoint\n");
	if (talk_to(sock_path, "checkpoint\n", NULL) != 0)
		return 1;
	for (int i = 0; i < limit * 10; i++) {
		now = completed_checkpoints();
		if (now < 0)
			return 2;
		if (now > before) {
			printf("checkpoint completed (%lld so far)\n", now);
			return 0;
		}
		usleep(100 * 1000);
	}
	fprintf(stderr, "coloctl checkpoint: none completed within %d s "
		"(see coloctl status: checkpoint_backend)\n", limit);
	return 1;
}

/* "protected: true" in the heartbeat's status; -1 if unreadable. */
static int hb_protected(char **plan_line)
{
	char *ans = NULL, *at;
	int r;

	if (talk_to(hb_path, "status\n", &ans) != 0)
		return -1;
	r = strstr(ans, "\nprotected: true") != NULL;
	if (plan_line && (at = strstr(ans, "last_error")) != NULL) {
		free(*plan_line);
		*plan_line = strndup(at, strcspn(at, "\n"));
	}
	free(ans);
	return r;
}

/* coloctl reprotect [--no-wait] [--timeout SECONDS] */
static int cmd_reprotect(int argc, char **argv, bool json)
{
	int limit = 600, i, r;
	bool wait = true;
	char *last = NULL;

	(void)json;
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--no-wait")) {
			wait = false;
		} else if (!strcmp(argv[i], "--timeout") && i + 1 < argc &&
			   (limit = atoi(argv[i + 1])) > 0) {
			i++;
		} else {
			fprintf(stderr, "coloctl reprotect: usage: reprotect "
				"[--no-wait] [--timeout SECONDS]\n");
			return 2;
		}
	}
	if (talk(hb_path, "reprotect\n") != 0)
		return 1;
	if (!wait)
		return 0;
	for (i = 0; i < limit * 5; i++) {
		r = hb_protected(&last);
		if (r < 0) {
			free(last);
			return 1;
		}
		if (r == 1) {
			printf("protected again after %.1f s\n", i / 5.0);
			free(last);
			return 0;
		}
		usleep(200 * 1000);
	}
	fprintf(stderr, "coloctl reprotect: not protected within %d s%s%s "
		"(see coloctl heartbeat)\n", limit, last ? "; " : "",
		last ? last : "");
	free(last);
	return 1;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "name", required_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char *path = sock_path, line[256];
	const struct cmd *c;
	bool json = false;
	int o;

	while ((o = getopt_long(argc, argv, "+s:n:jh", longopts, NULL)) != -1) {
		switch (o) {
		case 's': snprintf(sock_path, sizeof(sock_path), "%s", optarg);
			  snprintf(hb_path, sizeof(hb_path), "%s", optarg);
			  break;
		case 'n':
			snprintf(sock_path, sizeof(sock_path),
				 "/run/colo-proxy/%s.sock", optarg);
			snprintf(hb_path, sizeof(hb_path),
				 "/run/colo-heartbeat/%s.sock", optarg);
			break;
		case 'j': json = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	for (c = cmds; c->name && strcmp(c->name, argv[optind]); c++)
		;
	if (!c->name) {
		fprintf(stderr, "coloctl: unknown command \"%s\"\n\n",
			argv[optind]);
		usage(stderr);
		return 2;
	}
	optind++;
	for (int i = optind; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			printf("usage: coloctl %s %s%s\n%s\n", c->name, c->args,
			       c->json ? " [--json]" : "", c->help);
			return 0;
		}
		if (!strcmp(argv[i], "--json") || !strcmp(argv[i], "-j")) {
			json = true;
			memmove(&argv[i], &argv[i + 1],
				(size_t)(argc - i) * sizeof(*argv));
			argc--;
			i--;
		}
	}
	if (json && !c->json) {
		fprintf(stderr, "coloctl: %s has no --json output\n", c->name);
		return 2;
	}
	if (c->run)
		return c->run(argc - optind + 1, argv + optind - 1, json);
	if (argc - optind != c->nargs) {
		fprintf(stderr, "coloctl: %s takes %d argument%s: %s\n",
			c->name, c->nargs, c->nargs == 1 ? "" : "s", c->args);
		return 2;
	}
	snprintf(line, sizeof(line), "%s%s%s%s\n", c->wire ? c->wire : c->name,
		 c->nargs ? " " : "", c->nargs ? argv[optind] : "",
		 json ? " json" : "");
	return talk(c->hb ? hb_path : path, line);
}
