/*
 * rules_nft: the nft backend.
 *
 * One table per instance, "bridge colo_<name>", whose forward chain
 * queues the IP frames of each port (the bridge family sees the port as
 * iifname / oifname, and ARP is not matched, so it passes):
 *
 *   table bridge colo_<name>            (created, then deleted: no error
 *   delete table bridge colo_<name>      if it did not exist)
 *   table bridge colo_<name> {
 *     chain forward {
 *       type filter hook forward priority 0; policy accept;
 *       [pass_nd] iifname "PORT" meta protocol ip6 icmpv6 type { nd-... } accept
 *       iifname "PORT" meta protocol { ip, ip6 } queue num N
 *     }
 *   }
 *
 * The whole script is one nft transaction: stale rules of the name go
 * and the new ones come in atomically.  IPv6 is always queued here (the
 * table covers both families, whatever spec->ipv6 says).
 */
#include <errno.h>
#include <string.h>

#include "colo-proxy/rules_int.h"

/* A dry run (-c) of this says whether the kernel can queue from the
 * bridge family (CONFIG_NFT_QUEUE, nft_chain_bridge). */
static const char probe_script[] =
	"table bridge colo_probe {\n"
	"\tchain forward {\n"
	"\t\ttype filter hook forward priority 0; policy accept;\n"
	"\t\tmeta protocol { ip, ip6 } queue num 0\n"
	"\t}\n"
	"}\n";

/* ND (133-137) and MLD (130-132, 143): see rules_ipt.c */
static const char nd_types[] = "{ 130, 131, 132, 133, 134, 135, 136, 137, 143 }";

int rules_nft_probe(char *err, size_t errlen)
{
	static const char *const argv[] = { "nft", "-c", "-f", "-", NULL };
	char path[4096], why[600];
	int ret;

	if (rules_find_cmd("nft", path, sizeof(path)) < 0) {
		rules_err(err, errlen, "nft not found in $PATH, /usr/sbin, /sbin");
		return -ENOENT;
	}
	ret = rules_run(argv, probe_script, NULL, NULL, why, sizeof(why));
	if (ret < 0) {
		rules_err(err, errlen, "a dry run of a bridge queue rule failed "
			  "(no nftables queue support?): %s", why);
		return -ENOENT;
	}
	return 0;
}

static void table_header(struct rules_text *t, const char *name)
{
	rules_text_add(t, "table bridge colo_%s\n"
		       "delete table bridge colo_%s\n", name, name);
}

int rules_nft_render(const struct rules_spec *spec, char *buf, size_t len)
{
	struct rules_text t;
	unsigned i;

	rules_text_init(&t, buf, len);
	table_header(&t, spec->name);
	rules_text_add(&t, "table bridge colo_%s {\n\tchain forward {\n"
		       "\t\ttype filter hook forward priority 0; policy accept;\n",
		       spec->name);
	for (i = 0; i < spec->nq; i++) {
		const struct rules_queue *q = &spec->q[i];
		const char *dev = q->dir == RULES_PHYSDEV_IN ? "iifname"
							     : "oifname";

		if (q->pass_nd)
			rules_text_add(&t, "\t\t%s \"%s\" meta protocol ip6 "
				       "icmpv6 type %s accept\n", dev, q->port,
				       nd_types);
		if (q->skip_from[0] && q->dir == RULES_PHYSDEV_OUT)
			rules_text_add(&t, "\t\tiifname \"%s\" oifname \"%s\" "
				       "accept\n", q->skip_from, q->port);
		rules_text_add(&t, "\t\t%s \"%s\" meta protocol { ip, ip6 } "
			       "queue num %u\n", dev, q->port,
			       (unsigned)q->queue_num);
	}
	rules_text_add(&t, "\t}\n}\n");
	return rules_text_end(&t);
}

/* Run `nft -f -` on SCRIPT; WHAT for ERR. */
static int nft_script(const char *script, const char *what, char *err,
		      size_t errlen)
{
	static const char *const argv[] = { "nft", "-f", "-", NULL };
	char why[700];
	int ret = rules_run(argv, script, NULL, NULL, why, sizeof(why));

	if (ret < 0)
		rules_err(err, errlen, "%s nft table: %s", what, why);
	return ret;
}

int rules_nft_apply(const struct rules_spec *spec, char *err, size_t errlen)
{
	char text[RULES_TEXT_MAX];

	if (rules_nft_render(spec, text, sizeof(text)) < 0) {
		rules_err(err, errlen, "rule text longer than %d bytes",
			  RULES_TEXT_MAX);
		return -ENOSPC;
	}
	return nft_script(text, "installing", err, errlen);
}

int rules_nft_remove(const struct rules_spec *spec, char *err, size_t errlen)
{
	char text[128];
	struct rules_text t;

	rules_text_init(&t, text, sizeof(text));
	table_header(&t, spec->name);
	if (rules_text_end(&t) < 0)
		return -ENOSPC;
	return nft_script(text, "removing", err, errlen);
}

bool rules_nft_present(const struct rules_spec *spec)
{
	char table[RULES_NAME_MAX + 8], path[4096];
	const char *argv[] = { "nft", "list", "table", "bridge", table, NULL };

	if (rules_find_cmd("nft", path, sizeof(path)) < 0)
		return false;
	strcpy(table, "colo_");
	strcat(table, spec->name);
	return rules_run(argv, NULL, NULL, NULL, NULL, 0) == 0;
}
