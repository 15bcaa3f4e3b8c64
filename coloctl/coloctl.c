/*
 * coloctl - operate a COLO pair: talks to colo-proxy's control socket.
 * (Pairing and QEMU control arrive with the checkpoint backend.)
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

#define TIMEOUT_MS 5000

struct cmd {
	const char *name;
	const char *args;	/* for usage */
	int nargs;
	bool json;		/* takes --json */
	const char *help;
};

static const struct cmd cmds[] = {
	{ "status", "", 0, true, "role, mode, epoch, channel, held output" },
	{ "counters", "", 0, true, "every counter of the proxy, by module" },
	{ "divergences", "", 0, true, "the last divergences (flow, offset, "
	  "reason, pcapng file)" },
	{ "flows", "", 0, true, "the comparator's flows (primary)" },
	{ "mode", "protected|solo|takeover", 1, false, "switch the proxy's "
	  "mode (solo: primary without secondary, releases all; takeover: "
	  "the secondary serves)" },
	{ "checkpoint", "", 0, false, "ask for a checkpoint now" },
	{ NULL, NULL, 0, false, NULL },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: coloctl [-s SOCKET | -n NAME] COMMAND [ARGS] "
		"[--json]\n\ncommands:\n");
	for (const struct cmd *c = cmds; c->name; c++)
		fprintf(f, "  %-11s %-25s %s\n", c->name, c->args, c->help);
	fprintf(f, "\noptions:\n"
		"  -s, --socket PATH   the proxy's control socket\n"
		"  -n, --name NAME     same as -s /run/colo-proxy/NAME.sock "
		"(default: colo)\n"
		"  -j, --json          JSON output (status, counters, "
		"divergences, flows)\n"
		"  -h, --help          this text; COMMAND --help for one "
		"command\n"
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

static int talk(const char *path, const char *line)
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
		fprintf(stderr, "coloctl: cannot reach the proxy at \"%s\": "
			"%s\n", path, strerror(errno));
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
		fwrite(ans + 3, 1, len - 3, stdout);
		r = 0;
	} else {
		fprintf(stderr, "coloctl: %.*s", (int)len, ans);
		r = 1;
	}
	free(ans);
	return r;
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
	char path[108] = "/run/colo-proxy/colo.sock", line[256];
	const struct cmd *c;
	bool json = false;
	int o;

	while ((o = getopt_long(argc, argv, "+s:n:jh", longopts, NULL)) != -1) {
		switch (o) {
		case 's': snprintf(path, sizeof(path), "%s", optarg); break;
		case 'n':
			snprintf(path, sizeof(path), "/run/colo-proxy/%s.sock",
				 optarg);
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
	if (argc - optind != c->nargs) {
		fprintf(stderr, "coloctl: %s takes %d argument%s: %s\n",
			c->name, c->nargs, c->nargs == 1 ? "" : "s", c->args);
		return 2;
	}
	if (json && !c->json) {
		fprintf(stderr, "coloctl: %s has no --json output\n", c->name);
		return 2;
	}
	snprintf(line, sizeof(line), "%s%s%s%s\n", c->name,
		 c->nargs ? " " : "", c->nargs ? argv[optind] : "",
		 json ? " json" : "");
	return talk(path, line);
}
