/*
 * rules: the public entry points (see rules.h), the spec checks and the
 * choice of backend.  The backends are rules_ipt.c and rules_nft.c; the
 * commands run through rules_exec.c.
 *
 *   rules_apply(spec)
 *     rules_check ─> rules_detect (AUTO) ─> remove stale rules of the name
 *     (chosen backend; the other one too if it holds any) ─> backend apply
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "colo-proxy/rules_int.h"

const char *rules_backend_name(enum rules_backend b)
{
	switch (b) {
	case RULES_AUTO:
		return "auto";
	case RULES_IPTABLES_LEGACY:
		return "iptables-legacy";
	case RULES_NFT:
		return "nft";
	}
	return "unknown";
}

/* ---- text ------------------------------------------------------------------ */

void rules_text_init(struct rules_text *t, char *buf, size_t len)
{
	t->buf = buf;
	t->len = len;
	t->pos = 0;
	t->overflow = !buf || !len;
	if (!t->overflow)
		buf[0] = '\0';
}

void rules_text_add(struct rules_text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->overflow)
		return;
	va_start(ap, fmt);
	n = vsnprintf(t->buf + t->pos, t->len - t->pos, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= t->len - t->pos) {
		t->overflow = true;
		t->buf[t->pos] = '\0';	/* never a half-written line */
		return;
	}
	t->pos += (size_t)n;
}

int rules_text_end(const struct rules_text *t)
{
	return t->overflow ? -ENOSPC : (int)t->pos;
}

/* ---- checks ---------------------------------------------------------------- */

/* S (at most MAX bytes, maybe unterminated) printable, for messages:
 * bytes outside printable ASCII as \xHH, '"' and '\' escaped. */
static const char *quote(const char *s, size_t max, char *buf, size_t len)
{
	size_t i, o = 0;

	for (i = 0; i < max && s[i] && o + 5 < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c >= 0x7f)
			o += (size_t)snprintf(buf + o, len - o, "\\x%02x", c);
		else if (c == '"' || c == '\\')
			o += (size_t)snprintf(buf + o, len - o, "\\%c", c);
		else
			buf[o++] = (char)c;
	}
	buf[o] = '\0';
	return buf;
}

static bool name_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_' || c == '-';
}

static int check_name(const char *name, char *err, size_t errlen)
{
	size_t n = strnlen(name, RULES_NAME_MAX), i;
	char q[4 * RULES_NAME_MAX + 8];

	quote(name, RULES_NAME_MAX, q, sizeof(q));
	if (n == 0) {
		rules_err(err, errlen, "instance name is empty");
		return -EINVAL;
	}
	if (n >= RULES_NAME_MAX) {
		rules_err(err, errlen, "instance name \"%s\" is too long "
			  "(at most %d characters)", q, RULES_NAME_MAX - 1);
		return -EINVAL;
	}
	for (i = 0; i < n; i++) {
		if (!name_char_ok(name[i])) {
			rules_err(err, errlen, "instance name \"%s\": character "
				  "%zu is not one of A-Z a-z 0-9 _ -", q, i + 1);
			return -EINVAL;
		}
	}
	return 0;
}

/*
 * A bridge port's name as the kernel allows it (dev_valid_name(): not
 * empty, under IFNAMSIZ, not "." or "..", no '/', ':' or blank), and
 * nothing that either backend's syntax would read differently: no quotes,
 * backslash or control bytes, and no '+' or '*' (wildcards in one backend
 * and not the other).
 */
static const char *port_problem(const char *port)
{
	size_t n = strnlen(port, RULES_IFNAME_MAX), i;

	if (n == 0)
		return "is empty";
	if (n >= RULES_IFNAME_MAX)
		return "is too long (at most 15 characters)";
	if (!strcmp(port, ".") || !strcmp(port, ".."))
		return "is not a valid interface name";
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)port[i];

		if (c <= 0x20 || c >= 0x7f)
			return "has a blank, control or non-ASCII character";
		if (strchr("\"'\\`", c))
			return "has a quote or backslash";
		if (strchr("/:", c))
			return "has '/' or ':', which interface names cannot";
		if (strchr("+*", c))
			return "has a wildcard ('+' or '*')";
	}
	return NULL;
}

static int check_queue(const struct rules_spec *spec, unsigned i, char *err,
		       size_t errlen)
{
	const struct rules_queue *q = &spec->q[i];
	char qb[4 * RULES_IFNAME_MAX + 8];
	const char *why = port_problem(q->port);

	if (!why && q->skip_from[0])
		why = port_problem(q->skip_from);
	unsigned j;

	quote(q->port, RULES_IFNAME_MAX, qb, sizeof(qb));
	if (why) {
		rules_err(err, errlen, "queue %u: port \"%s\" %s", i, qb, why);
		return -EINVAL;
	}
	if (q->dir != RULES_PHYSDEV_IN && q->dir != RULES_PHYSDEV_OUT) {
		rules_err(err, errlen, "queue %u: direction %d is neither "
			  "physdev-in nor physdev-out", i, (int)q->dir);
		return -EINVAL;
	}
	for (j = 0; j < i; j++) {
		if (spec->q[j].dir == q->dir && !strcmp(spec->q[j].port, q->port)) {
			rules_err(err, errlen, "queues %u and %u both take "
				  "port \"%s\" %s", j, i, qb,
				  q->dir == RULES_PHYSDEV_IN ? "in" : "out");
			return -EINVAL;
		}
	}
	return 0;
}

int rules_check(const struct rules_spec *spec, char *err, size_t errlen)
{
	unsigned i;
	int ret;

	ret = check_name(spec->name, err, errlen);
	if (ret < 0)
		return ret;
	if (spec->backend != RULES_AUTO && spec->backend != RULES_NFT &&
	    spec->backend != RULES_IPTABLES_LEGACY) {
		rules_err(err, errlen, "backend %d is unknown", (int)spec->backend);
		return -EINVAL;
	}
	if (spec->nq == 0 || spec->nq > RULES_MAX_QUEUES) {
		rules_err(err, errlen, "%u queues: there must be 1 to %d",
			  spec->nq, RULES_MAX_QUEUES);
		return -EINVAL;
	}
	for (i = 0; i < spec->nq; i++) {
		ret = check_queue(spec, i, err, errlen);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* ---- backends ---------------------------------------------------------------- */

int rules_detect(enum rules_backend *out, char *err, size_t errlen)
{
	char nft_why[600], ipt_why[200];

	if (rules_nft_probe(nft_why, sizeof(nft_why)) == 0) {
		*out = RULES_NFT;
		return 0;
	}
	if (rules_ipt_usable(ipt_why, sizeof(ipt_why)) == 0) {
		*out = RULES_IPTABLES_LEGACY;
		return 0;
	}
	rules_err(err, errlen, "no netfilter backend: nft: %s; iptables-legacy: %s",
		  nft_why, ipt_why);
	return -ENOENT;
}

int rules_render(const struct rules_spec *spec, enum rules_backend b,
		 int family, char *buf, size_t len)
{
	if (rules_check(spec, NULL, 0) < 0)
		return -EINVAL;
	if (b == RULES_NFT)
		return rules_nft_render(spec, buf, len);
	if (b == RULES_IPTABLES_LEGACY &&
	    (family == AF_INET || family == AF_INET6))
		return rules_ipt_render(spec, family, buf, len);
	return -EINVAL;
}

static bool backend_present(const struct rules_spec *spec, enum rules_backend b)
{
	return b == RULES_NFT ? rules_nft_present(spec)
			      : rules_ipt_present(spec);
}

static int backend_remove(const struct rules_spec *spec, enum rules_backend b,
			  char *err, size_t errlen)
{
	return b == RULES_NFT ? rules_nft_remove(spec, err, errlen)
			      : rules_ipt_remove(spec, err, errlen);
}

/*
 * Remove the rules of SPEC->name: from backend ONLY, or, when ONLY is
 * AUTO, from each backend that holds some (a backend whose commands are
 * missing holds none).
 */
static int remove_rules(const struct rules_spec *spec, enum rules_backend only,
			char *err, size_t errlen)
{
	static const enum rules_backend all[] = { RULES_IPTABLES_LEGACY, RULES_NFT };
	unsigned i;
	int ret;

	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		if (only != RULES_AUTO && only != all[i])
			continue;
		if (only == RULES_AUTO && !backend_present(spec, all[i]))
			continue;
		ret = backend_remove(spec, all[i], err, errlen);
		if (ret < 0)
			return ret;
	}
	return 0;
}

int rules_remove(const struct rules_spec *spec, char *err, size_t errlen)
{
	int ret = check_name(spec->name, err, errlen);

	if (ret < 0)
		return ret;
	return remove_rules(spec, spec->backend, err, errlen);
}

bool rules_present(const struct rules_spec *spec)
{
	if (check_name(spec->name, NULL, 0) < 0)
		return false;
	if (spec->backend == RULES_AUTO)
		return rules_ipt_present(spec) || rules_nft_present(spec);
	return backend_present(spec, spec->backend);
}

int rules_apply(struct rules_spec *spec, char *err, size_t errlen)
{
	enum rules_backend b = spec->backend, other;
	char why[700];
	int ret;

	ret = rules_check(spec, err, errlen);
	if (ret < 0)
		return ret;
	if (b == RULES_AUTO) {
		ret = rules_detect(&b, err, errlen);
		if (ret < 0)
			return ret;
		spec->backend = b;
	}
	/* stale rules: a crash of an earlier instance, or one that ran with
	 * the other backend (both would queue every packet, twice) */
	other = b == RULES_NFT ? RULES_IPTABLES_LEGACY : RULES_NFT;
	ret = remove_rules(spec, b, why, sizeof(why));
	if (ret == 0 && backend_present(spec, other))
		ret = remove_rules(spec, other, why, sizeof(why));
	if (ret < 0) {
		rules_err(err, errlen, "removing stale rules of \"%s\": %s",
			  spec->name, why);
		return ret;
	}
	if (b == RULES_NFT)
		return rules_nft_apply(spec, err, errlen);
	return rules_ipt_apply(spec, err, errlen);
}
