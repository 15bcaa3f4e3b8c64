/*
 * colo-pcapcmp - compare a primary and a secondary capture with the COLO
 * comparator and report where the outputs diverge.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compare/tool/feed.h"

#define EXIT_SAME 0
#define EXIT_DIVERGED 1
#define EXIT_ERROR 2
#define EXIT_SKIPPED 3

static const char usage_text[] =
"usage: colo-pcapcmp [options] PRIMARY.pcap SECONDARY.pcap\n"
"\n"
"Feed the frames of two captures (pcap or pcapng; Ethernet, raw IP, Linux\n"
"cooked or BSD loopback) to the COLO comparator, PRIMARY as the primary\n"
"VM's output and SECONDARY as the secondary's, in timestamp order, and\n"
"report every divergence with its connection, direction, byte offset and\n"
"reason.  A checkpoint request is answered by committing the epoch, as the\n"
"proxy would after a checkpoint, and comparison goes on.\n"
"\n"
"options:\n"
"  -l, --learn-offset      learn each TCP stream's sequence offset from the\n"
"                          two handshakes, as the rewriter would\n"
"  -D, --dump FILE         write the frames around each divergence to FILE\n"
"                          (pcapng: interface 0 primary, 1 secondary, each\n"
"                          frame commented with the divergence)\n"
"  -C, --context N         frames per side kept for --dump (default 32)\n"
"  -t, --hold-timeout MS   how long primary output waits, ms (default 200)\n"
"      --secondary-timeout MS  how long secondary output waits (default 2000)\n"
"      --max-flows N       flow limit (default 65536)\n"
"      --max-held-bytes N  held bytes limit (default 67108864)\n"
"      --no-ack-guard      do not hold primary ACKs for the secondary's\n"
"      --no-window-rule    do not clamp the primary's window\n"
"  -j, --json              print the report as one JSON object\n"
"  -q, --quiet             print only the summary\n"
"  -h, --help              this text\n"
"\n"
"exit status: 0 no divergence, 1 divergences found, 2 error,\n"
"3 skipped (a link type that is not supported)\n";

enum { OPT_MAX_FLOWS = 256, OPT_MAX_HELD, OPT_NO_ACK, OPT_NO_WIN, OPT_STMO };

struct cli {
	struct pf_opts o;
	bool json, quiet;
};

static bool parse_u64(const char *opt, const char *s, uint64_t min,
		      uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v < min || v > max) {
		fprintf(stderr,
			"colo-pcapcmp: %s: \"%s\" is not a number in %" PRIu64
			"..%" PRIu64 "\n", opt, s, min, max);
		return false;
	}
	*out = v;
	return true;
}

static int parse_args(int argc, char **argv, struct cli *cl)
{
	static const struct option longopts[] = {
		{ "learn-offset", no_argument, NULL, 'l' },
		{ "dump", required_argument, NULL, 'D' },
		{ "context", required_argument, NULL, 'C' },
		{ "hold-timeout", required_argument, NULL, 't' },
		{ "secondary-timeout", required_argument, NULL, OPT_STMO },
		{ "max-flows", required_argument, NULL, OPT_MAX_FLOWS },
		{ "max-held-bytes", required_argument, NULL, OPT_MAX_HELD },
		{ "no-ack-guard", no_argument, NULL, OPT_NO_ACK },
		{ "no-window-rule", no_argument, NULL, OPT_NO_WIN },
		{ "json", no_argument, NULL, 'j' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	uint64_t v;
	int ch;

	cmp_config_defaults(&cl->o.cfg);
	cl->o.context = 32;
	while ((ch = getopt_long(argc, argv, "lD:C:t:jqh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'l':
			cl->o.cfg.flags |= CMP_F_LEARN_ISN;
			break;
		case 'D':
			cl->o.dump = optarg;
			break;
		case 'C':
			if (!parse_u64("--context", optarg, 1, 100000, &v))
				return EXIT_ERROR;
			cl->o.context = (unsigned)v;
			break;
		case 't':
			if (!parse_u64("--hold-timeout", optarg, 1, 3600000, &v))
				return EXIT_ERROR;
			cl->o.cfg.hold_timeout_ns = v * 1000000ull;
			break;
		case OPT_STMO:
			if (!parse_u64("--secondary-timeout", optarg, 1,
				       3600000, &v))
				return EXIT_ERROR;
			cl->o.cfg.secondary_timeout_ns = v * 1000000ull;
			break;
		case OPT_MAX_FLOWS:
			if (!parse_u64("--max-flows", optarg, 1, 1u << 24, &v))
				return EXIT_ERROR;
			cl->o.cfg.max_flows = (uint32_t)v;
			break;
		case OPT_MAX_HELD:
			if (!parse_u64("--max-held-bytes", optarg, 1,
				       UINT64_MAX / 2, &v))
				return EXIT_ERROR;
			cl->o.cfg.max_held_bytes = v;
			break;
		case OPT_NO_ACK:
			cl->o.cfg.flags |= CMP_F_NO_ACK_GUARD;
			break;
		case OPT_NO_WIN:
			cl->o.cfg.flags |= CMP_F_NO_WINDOW_RULE;
			break;
		case 'j':
			cl->json = true;
			break;
		case 'q':
			cl->quiet = true;
			break;
		case 'h':
			fputs(usage_text, stdout);
			exit(EXIT_SAME);
		default:
			fputs(usage_text, stderr);
			return EXIT_ERROR;
		}
	}
	if (argc - optind != 2) {
		fprintf(stderr, "colo-pcapcmp: need two captures, got %d\n%s",
			argc - optind, usage_text);
		return EXIT_ERROR;
	}
	return -1;
}

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", *s);
		else
			putchar(*s);
	}
	putchar('"');
}

static void print_json(struct pf_result *r)
{
	char key[160];
	size_t i;

	printf("{\"frames\":[%" PRIu64 ",%" PRIu64 "],\"released\":%" PRIu64
	       ",\"matched_bytes\":%" PRIu64 ",\"divergences\":%zu,"
	       "\"checkpoint_requests\":%zu,\"held_at_end\":%" PRIu64
	       ",\"hold_ns\":{\"p50\":%" PRIu64 ",\"p99\":%" PRIu64
	       ",\"max\":%" PRIu64 "},\"note\":",
	       r->frames[0], r->frames[1], r->st.released,
	       r->st.matched_bytes, r->ndiv, r->nev, r->held_end,
	       pf_hold_quantile(r, 0.5), pf_hold_quantile(r, 0.99),
	       pf_hold_quantile(r, 1.0));
	json_str(r->note);
	printf(",\"events\":[");
	for (i = 0; i < r->nev; i++) {
		const struct pf_event *e = &r->ev[i];

		printf("%s{\"reason\":", i ? "," : "");
		json_str(cmp_reason_name(e->reason));
		printf(",\"flow\":");
		json_str(cmp_key_format(&e->key, key, sizeof(key)));
		printf(",\"offset\":%" PRIu64 ",\"seq\":%u,\"primary_frame\":%"
		       PRIu64 ",\"secondary_frame\":%" PRIu64 "}", e->offset,
		       e->seq, e->frame[0], e->frame[1]);
	}
	printf("]}\n");
}

static void print_event(size_t no, const struct pf_event *e)
{
	char key[160];

	cmp_key_format(&e->key, key, sizeof(key));
	if (pf_is_divergence(e->reason))
		printf("divergence %zu: %s: %s differs at byte %" PRIu64
		       " (seq %u); primary frame %" PRIu64
		       ", secondary frame %" PRIu64 "\n", no, key,
		       cmp_reason_name(e->reason), e->offset, e->seq,
		       e->frame[0], e->frame[1]);
	else
		printf("checkpoint %zu: %s: %s (%s side waiting); primary "
		       "frame %" PRIu64 ", secondary frame %" PRIu64 "\n", no,
		       cmp_reason_name(e->reason), key,
		       e->side ? "secondary" : "primary", e->frame[0],
		       e->frame[1]);
}

static void print_text(struct pf_result *r, bool quiet)
{
	size_t i;

	for (i = 0; !quiet && i < r->nev; i++)
		print_event(i + 1, &r->ev[i]);
	printf("primary %" PRIu64 " frames, secondary %" PRIu64 " frames; "
	       "released %" PRIu64 ", matched %" PRIu64 " bytes; "
	       "%zu divergences, %zu other checkpoint requests; "
	       "%" PRIu64 " primary frames held at end\n",
	       r->frames[0], r->frames[1], r->st.released,
	       r->st.matched_bytes, r->ndiv, r->nev - r->ndiv, r->held_end);
	if (r->nhold)
		printf("hold time: p50 %.1f us, p99 %.1f us, max %.1f us "
		       "over %zu released frames\n",
		       pf_hold_quantile(r, 0.5) / 1e3,
		       pf_hold_quantile(r, 0.99) / 1e3,
		       pf_hold_quantile(r, 1.0) / 1e3, r->nhold);
}

int main(int argc, char **argv)
{
	struct cli cl;
	struct pf_result r;
	char err[512] = "";
	int rc;

	memset(&cl, 0, sizeof(cl));
	rc = parse_args(argc, argv, &cl);
	if (rc >= 0)
		return rc;
	if (pf_run(argv[optind], argv[optind + 1], &cl.o, &r, err,
		   sizeof(err))) {
		fprintf(stderr, "colo-pcapcmp: %s\n", err);
		pf_result_free(&r);
		return EXIT_ERROR;
	}
	if (r.skipped) {
		fprintf(stderr, "colo-pcapcmp: %s\n", r.note);
		pf_result_free(&r);
		return EXIT_SKIPPED;
	}
	if (r.note[0])
		fprintf(stderr, "colo-pcapcmp: warning: %s\n", r.note);
	if (cl.json)
		print_json(&r);
	else
		print_text(&r, cl.quiet);
	rc = r.ndiv ? EXIT_DIVERGED : EXIT_SAME;
	pf_result_free(&r);
	return rc;
}
