/*
 * conf: colo-relay's option table and cross-option checks (conf.h).
 */
#include <stdio.h>
#include <string.h>

#include "common/cfgfile.h"
#include "relay/conf.h"
#include "relay/proto.h"

static const char *const roles[] = { "primary", "secondary", NULL };

#define C struct relay_conf
const struct cfg_option relay_conf_table[] = {
	CFG_OPT_STRING("relay", "name", C, name, "colo", 0),
	CFG_OPT_ENUM("relay", "role", C, role, NULL, roles, CFG_REQUIRED),
	CFG_OPT_ADDR("relay", "listen", C, listen, NULL, CFG_REQUIRED),
	CFG_OPT_ADDR("relay", "connect", C, connect, NULL, CFG_REQUIRED),
	CFG_OPT_STRING("relay", "control", C, control, "", 0),
	CFG_OPT_SIZE("relay", "chunk", C, chunk, "256k", 4096, RLY_RAW_MAX,
		     0),
	CFG_OPT_SIZE("relay", "buffer", C, buffer, "4M", 64 << 10, 1 << 30,
		     0),

	CFG_OPT_BOOL("compression", "enabled", C, compress, "yes", 0),
	CFG_OPT_INT("compression", "level", C, level, "1", -100, 22, 0),

	CFG_OPT_DURATION("timeouts", "connect", C, connect_ms, "3s", 10,
			 600000, 0),
	CFG_OPT_DURATION("timeouts", "keepalive", C, keepalive_ms, "1s", 10,
			 60000, 0),
	CFG_OPT_DURATION("timeouts", "timeout", C, timeout_ms, "5s", 20,
			 600000, 0),

	CFG_OPT_INT("stats", "history", C, history, "64", 1, 100000, 0),
	CFG_OPT_SIZE("stats", "checkpoint_min", C, checkpoint_min, "64", 0,
		     1 << 30, 0),
	CFG_OPT_END
};
#undef C

const char *relay_role_name(int role)
{
	return role == RELAY_SECONDARY ? "secondary" : "primary";
}

/* The option named KEY in the table (it exists: callers pass ours). */
static size_t opt_index(const char *key)
{
	size_t i;

	for (i = 0; relay_conf_table[i].name; i++)
		if (!strcmp(relay_conf_table[i].name, key))
			break;
	return i;
}

/* "line N: [SECTION] KEY: "VALUE" WHY" for the option KEY, N being the
 * line that set it (no "line" for a default); returns false. */
static bool fail(const struct cfg *p, const struct relay_conf *c,
		 const char *key, const char *why, char *err, size_t errlen)
{
	size_t i = opt_index(key);
	const struct cfg_option *o = &relay_conf_table[i];
	char v[CFG_VALUE_MAX], line[24] = "";

	if (cfg_format(o, c, v, sizeof(v)) < 0)
		snprintf(v, sizeof(v), "?");
	if (p->set_on[i])
		snprintf(line, sizeof(line), "line %u: ", p->set_on[i]);
	snprintf(err, errlen, "%s[%s] %s: %s%s%s %s", line, o->section,
		 o->name, o->type == CFG_STRING ? "" : "\"", v,
		 o->type == CFG_STRING ? "" : "\"", why);
	return false;
}

/* Was option A set on a later line than B (or B not set at all)?  The
 * one to blame when the two disagree. */
static bool later(const struct cfg *p, const char *a, const char *b)
{
	return p->set_on[opt_index(a)] >= p->set_on[opt_index(b)];
}

static bool name_ok(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!(*s >= 'a' && *s <= 'z') && !(*s >= 'A' && *s <= 'Z') &&
		    !(*s >= '0' && *s <= '9') && *s != '-' && *s != '_')
			return false;
	return true;
}

static bool port_of(const struct cfg_addr *a)
{
	return a->u.sa.sa_family == AF_INET6 ? a->u.sin6.sin6_port :
	       a->u.sin.sin_port;
}

static bool conf_check(const struct cfg *p, struct relay_conf *c, char *err,
		       size_t errlen)
{
	if (!name_ok(c->name))
		return fail(p, c, "name", "must be letters, digits, '-' or "
			    "'_'", err, errlen);
	if (!c->listen.has_port)
		return fail(p, c, "listen", "needs a port (ADDRESS:PORT)",
			    err, errlen);
	if (!c->connect.has_port || !port_of(&c->connect))
		return fail(p, c, "connect", "needs a port other than 0 "
			    "(ADDRESS:PORT)", err, errlen);
	if (c->timeout_ms < 2 * c->keepalive_ms)
		return later(p, "timeout", "keepalive") ?
		       fail(p, c, "timeout", "must be at least twice "
			    "[timeouts] keepalive", err, errlen) :
		       fail(p, c, "keepalive", "must be at most half of "
			    "[timeouts] timeout", err, errlen);
	/* the secondary's refusal (QEMU unreachable) must reach the primary
	 * before its handshake times out */
	if (c->connect_ms >= c->timeout_ms)
		return later(p, "connect", "timeout") ?
		       fail(p, c, "connect", "must be below [timeouts] "
			    "timeout", err, errlen) :
		       fail(p, c, "timeout", "must be above [timeouts] "
			    "connect", err, errlen);
	if (c->buffer < c->chunk)
		return later(p, "buffer", "chunk") ?
		       fail(p, c, "buffer", "must be at least [relay] chunk",
			    err, errlen) :
		       fail(p, c, "chunk", "must be at most [relay] buffer",
			    err, errlen);
	if (!c->control[0])
		snprintf(c->control, sizeof(c->control),
			 "/run/colo-relay/%s.sock", c->name);
	return true;
}

bool relay_conf_parse(struct relay_conf *c, const char *text, size_t len,
		      char *err, size_t errlen)
{
	struct cfg p;

	if (cfg_init(&p, relay_conf_table, c) < 0 || !cfg_feed(&p, text, len)) {
		snprintf(err, errlen, "%s", p.err);
		return false;
	}
	return conf_check(&p, c, err, errlen);
}

static bool parse_any(void *conf, const char *text, size_t len, char *err,
		      size_t errlen)
{
	return relay_conf_parse(conf, text, len, err, errlen);
}

bool relay_conf_load(struct relay_conf *c, const char *path, char *err,
		     size_t errlen)
{
	return cfg_load_file(path, parse_any, c, err, errlen);
}
