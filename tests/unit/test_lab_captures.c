/*
 * test_lab_captures.c - the comparator on real traffic.
 *
 * tests/lab/record-pair.sh records, in network namespaces, what two real
 * TCP/IP stacks (a "primary" and a "secondary" fed the same client frames)
 * send, one capture per side, and writes NAME.info with what to expect.
 * This suite runs the comparator over every pair (COLO_CAPTURES names the
 * directory), then checks the sequence-offset learning and the pcapng
 * divergence dump on them.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compare/parse.h"
#include "compare/tool/feed.h"

struct info {
	char name[128];
	char expect[16];
	int port;
	long offset;
};

static const char *capdir(void)
{
	const char *d = getenv("COLO_CAPTURES");

	cr_assert(d && *d, "COLO_CAPTURES is not set: run `make lab`");
	return d;
}

static void read_info(const char *path, struct info *in)
{
	char line[256];
	FILE *fp = fopen(path, "r");

	cr_assert(fp, "cannot open %s", path);
	in->port = -1;
	in->offset = -1;
	in->expect[0] = 0;
	while (fgets(line, sizeof(line), fp)) {
		line[strcspn(line, "\r\n")] = 0;
		if (!strncmp(line, "expect=", 7))
			snprintf(in->expect, sizeof(in->expect), "%.15s", line + 7);
		else if (!strncmp(line, "diverge_port=", 13))
			in->port = atoi(line + 13);
		else if (!strncmp(line, "diverge_offset=", 15))
			in->offset = atol(line + 15);
	}
	fclose(fp);
}

static void pair_paths(const char *name, char *p, char *s, size_t n)
{
	snprintf(p, n, "%s/%s.pvm.pcap", capdir(), name);
	snprintf(s, n, "%s/%s.svm.pcap", capdir(), name);
}

static void run(const char *pp, const char *sp, uint32_t flags,
		const char *dump, struct pf_result *r)
{
	struct pf_opts o = { .context = 64, .dump = dump };
	char err[512];

	cmp_config_defaults(&o.cfg);
	o.cfg.flags = flags;
	cr_assert_eq(pf_run(pp, sp, &o, r, err, sizeof(err)), 0, "%s", err);
	cr_assert_not(r->skipped, "%s", r->note);
}

static void check_scenario(const struct info *in)
{
	char pp[512], sp[512];
	struct pf_result r;

	pair_paths(in->name, pp, sp, sizeof(pp));
	run(pp, sp, 0, NULL, &r);
	cr_log_info("%s: %llu/%llu frames, %zu requests, %zu divergences, "
		    "hold p50 %llu ns p99 %llu ns max %llu ns", in->name,
		    (unsigned long long)r.frames[0],
		    (unsigned long long)r.frames[1], r.nev, r.ndiv,
		    (unsigned long long)pf_hold_quantile(&r, 0.5),
		    (unsigned long long)pf_hold_quantile(&r, 0.99),
		    (unsigned long long)pf_hold_quantile(&r, 1.0));
	cr_expect_gt(r.frames[0], 0, "%s: empty primary capture", in->name);
	if (!strcmp(in->expect, "match")) {
		cr_expect_eq(r.nev, 0, "%s: %zu checkpoint requests, first %s",
			     in->name, r.nev,
			     r.nev ? cmp_reason_name(r.ev[0].reason) : "-");
		cr_expect_eq(r.held_end, 0, "%s: %llu frames never released",
			     in->name, (unsigned long long)r.held_end);
		cr_expect_eq(r.st.released, r.frames[0], "%s", in->name);
	} else {
		cr_assert_str_eq(in->expect, "diverge", "%s: bad info",
				 in->name);
		cr_assert_geq(r.ndiv, 1, "%s: no divergence found", in->name);
		cr_expect_eq(r.ev[0].reason, CMP_R_PAYLOAD, "%s", in->name);
		cr_expect_eq(r.ev[0].key.sport, in->port, "%s", in->name);
		cr_expect_eq((long)r.ev[0].offset, in->offset,
			     "%s: divergence at %llu, expected %ld", in->name,
			     (unsigned long long)r.ev[0].offset, in->offset);
		/* frames after the divergence may stay held: the secondary
		 * of a capture cannot be rolled back and replay its output */
	}
	pf_result_free(&r);
}

Test(lab, every_recorded_scenario_meets_its_expectation)
{
	DIR *d = opendir(capdir());
	struct dirent *e;
	int n = 0, diverging = 0;

	cr_assert(d, "no directory %s", capdir());
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);
		struct info in;
		char path[600];

		if (l < 6 || strcmp(e->d_name + l - 5, ".info"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", capdir(), e->d_name);
		read_info(path, &in);
		snprintf(in.name, sizeof(in.name), "%.*s", (int)(l - 5),
			 e->d_name);
		check_scenario(&in);
		diverging += !strcmp(in.expect, "diverge");
		n++;
	}
	closedir(d);
	cr_expect_geq(n, 8, "only %d scenarios recorded", n);
	cr_expect_geq(diverging, 1);
}

/*
 * Shift the secondary's TCP sequence numbers by DELTA for frames from
 * port 80 (the server's stream), as a second TCP stack with its own ISN
 * would send them, and write the result to OUT.
 */
static void shift_sequences(const char *in, const char *out, uint32_t delta)
{
	char ebuf[PCAP_ERRBUF_SIZE];
	pcap_t *p = pcap_open_offline(in, ebuf);
	pcap_dumper_t *w;
	struct pcap_pkthdr *h;
	const u_char *d;
	static u_char buf[70000];
	int shifted = 0;

	cr_assert(p, "%s", ebuf);
	w = pcap_dump_open(p, out);
	cr_assert(w, "%s", pcap_geterr(p));
	while (pcap_next_ex(p, &h, &d) == 1) {
		struct pkt k;

		memcpy(buf, d, h->caplen);
		pkt_parse(buf, h->caplen, CMP_LINK_ETH, &k);
		if (k.l3 == PKT_IP && k.proto == 6 && !k.frag &&
		    k.sport == 80 && k.win_at) {
			u_char *seq = buf + k.win_at - 10;
			uint32_t v = get32(seq) + delta;

			seq[0] = (u_char)(v >> 24);
			seq[1] = (u_char)(v >> 16);
			seq[2] = (u_char)(v >> 8);
			seq[3] = (u_char)v;
			shifted++;
		}
		pcap_dump((u_char *)w, h, buf);
	}
	pcap_dump_close(w);
	pcap_close(p);
	cr_assert_gt(shifted, 10);
}

Test(lab, learn_offset_maps_a_secondary_with_its_own_isns)
{
	char pp[512], sp[512], shifted[600];
	struct pf_result r;

	pair_paths("tcp4-same", pp, sp, sizeof(pp));
	snprintf(shifted, sizeof(shifted), "%s/tcp4-same.svm-shifted.pcap",
		 capdir());
	shift_sequences(sp, shifted, 0x12345678u);

	run(pp, shifted, 0, NULL, &r);
	cr_expect_gt(r.ndiv, 0, "without learning, the ISNs differ");
	cr_expect_eq(r.ev[0].reason, CMP_R_SYN);
	pf_result_free(&r);

	run(pp, shifted, CMP_F_LEARN_ISN, NULL, &r);
	cr_expect_eq(r.nev, 0, "learnt: %zu requests", r.nev);
	cr_expect_eq(r.held_end, 0);
	cr_expect_gt(r.st.matched_bytes, 1000000);
	pf_result_free(&r);
	remove(shifted);
}

Test(lab, divergence_dump_is_a_pcapng_with_both_sides)
{
	char pp[512], sp[512], out[600], ebuf[PCAP_ERRBUF_SIZE];
	struct pf_result r;
	struct pcap_pkthdr *h;
	const u_char *d;
	pcap_t *p;
	int n = 0;

	pair_paths("tcp4-differ", pp, sp, sizeof(pp));
	snprintf(out, sizeof(out), "%s/tcp4-differ.dump.pcapng", capdir());
	run(pp, sp, 0, out, &r);
	cr_assert_geq(r.ndiv, 1);
	pf_result_free(&r);
	p = pcap_open_offline(out, ebuf);
	cr_assert(p, "libpcap cannot read the dump: %s", ebuf);
	cr_expect_eq(pcap_datalink(p), DLT_EN10MB);
	while (pcap_next_ex(p, &h, &d) == 1)
		n++;
	pcap_close(p);
	cr_expect_geq(n, 2, "frames of both sides around the divergence");
}
