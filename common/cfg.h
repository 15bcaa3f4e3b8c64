/*
 * cfg: INI configuration push parser. No I/O, no logging, no globals.
 *
 * After wireguard-tools' src/config.h (init / one line at a time / finish)
 * and Redis's static_configs[] table: the caller describes its options once,
 * with their type, bounds, default and reload flag, and where they live in
 * its own struct (offsetof). The caller reads the file; cfg sees bytes.
 *
 *   struct conf { uint64_t hold_ms; struct cfg_addr peer; int mode; };
 *   static const char *const modes[] = { "primary", "secondary", NULL };
 *   static const struct cfg_option opts[] = {
 *       CFG_OPT_DURATION("compare", "hold_timeout", struct conf, hold_ms,
 *                        "250ms", 1, 60000, CFG_RELOADABLE),
 *       CFG_OPT_ADDR("proxy", "peer", struct conf, peer, NULL, CFG_REQUIRED),
 *       CFG_OPT_ENUM("proxy", "mode", struct conf, mode, "primary", modes, 0),
 *       CFG_OPT_END
 *   };
 *
 *   cfg_parse_buffer(opts, &conf, text, len, err, sizeof(err))
 *     or: cfg_init(&c, opts, &conf); cfg_line(&c, line, len)...; cfg_finish(&c)
 *   on failure: fprintf(stderr, "%s: %s\n", path, err)
 *     -> "colo.conf: line 7: hold_timeout: "12x" is not a duration (e.g. 250ms, 2s)"
 *
 * Syntax, one statement per line:
 *   [section]             options below belong to it; before the first
 *                         header, options whose section is NULL
 *   key = value           value runs to the end of the line or to a comment
 *   key = "va lue # x"    quoted: \" \\ \n \t \r escapes, # and ; literal
 *   # comment, ; comment  whole line, or after a value (outside quotes)
 * Blank lines and whitespace around tokens are ignored; keys and section
 * names are case-sensitive. Setting an option twice, an unknown section,
 * an unknown key or a bad value is an error; the first error stops the
 * parse and cfg.err holds "line N: message", quoting the offending text
 * with non-printable bytes escaped as \xNN.
 *
 * Value types (C type of the member, syntax):
 *   CFG_BOOL      bool             yes/no, true/false, on/off, 1/0 (any case)
 *   CFG_INT       int              decimal, optional sign, within [min, max]
 *   CFG_SIZE      uint64_t bytes   4096, 64k, 16M, 1G (binary: k = 1024)
 *   CFG_DURATION  uint64_t ms      250ms, 2s (a unit is required)
 *   CFG_STRING    char[N]          at most N - 1 bytes, no NUL
 *   CFG_ENUM      int index        one of the names, exact match
 *   CFG_ADDR      struct cfg_addr  192.0.2.1, 192.0.2.1:7000, 2001:db8::1,
 *                                  [2001:db8::1]:7000 (numeric only)
 * CFG_SIZE and CFG_DURATION are bounded by [min, max] unless both are 0.
 *
 * Reload (the caller's job, e.g. on SIGHUP):
 *   1. parse the new file into a fresh struct (cfg_parse_buffer applies
 *      the defaults first, so start from any state);
 *   2. if parsing fails, log the error and keep running on the old struct;
 *   3. if cfg_diff_nonreloadable(table, &old, &new) reports a change, refuse
 *      the reload (or log that a restart is needed) and keep the old one;
 *   4. otherwise swap the new struct in, as a whole.
 * The active configuration is therefore always one that parsed completely.
 */
#ifndef COMMON_CFG_H
#define COMMON_CFG_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define CFG_MAX_OPTIONS 128  /* per table */
#define CFG_VALUE_MAX 1024   /* longest value, after unquoting, with NUL */
#define CFG_ERR_MAX 256      /* error messages, with NUL */

enum cfg_type {
	CFG_BOOL,
	CFG_INT,
	CFG_SIZE,
	CFG_DURATION,
	CFG_STRING,
	CFG_ENUM,
	CFG_ADDR,
};

enum cfg_flag {
	CFG_RELOADABLE = 1U << 0, /* may change on reload without a restart */
	CFG_REQUIRED = 1U << 1,   /* must appear in the file */
};

/* A numeric IPv4 or IPv6 address, optionally with a port. len == 0: unset. */
struct cfg_addr {
	union {
		struct sockaddr sa;
		struct sockaddr_in sin;
		struct sockaddr_in6 sin6;
	} u;
	socklen_t len;  /* for bind/connect */
	bool has_port;  /* the text carried a port (else the port is 0) */
};

struct cfg_option {
	const char *section;      /* NULL: before any [section] header */
	const char *name;         /* NULL ends the table */
	enum cfg_type type;
	unsigned flags;           /* enum cfg_flag */
	size_t offset;            /* offsetof(struct, member) in the target */
	size_t size;              /* CFG_STRING: sizeof the char array */
	const char *def;          /* default, written as in the file; NULL: zero */
	int64_t min, max;         /* CFG_INT, CFG_SIZE, CFG_DURATION bounds */
	const char *const *names; /* CFG_ENUM: NULL-terminated */
};

/* Parser state for one parse; lives on the caller's stack. */
struct cfg {
	const struct cfg_option *table;
	void *target;
	size_t nopts;
	const char *section;              /* current section, from the table */
	unsigned lineno;                  /* lines seen so far */
	unsigned set_on[CFG_MAX_OPTIONS]; /* line that set option i, 0: not */
	char err[CFG_ERR_MAX];            /* "" or the first error */
};

/* Offset of member m of T, which must have C type ctype (compile error if
 * not). */
#define CFG__FIELD(T, m, ctype)                                              \
	(offsetof(T, m) +                                                    \
	 0 * sizeof(char[__builtin_types_compatible_p(__typeof__(((T *)0)->m), \
						      ctype) ? 1 : -1]))
#define CFG__OPT(sec, key, ty, off, def_, fl) \
	.section = (sec), .name = (key), .type = (ty), .offset = (off), \
	.def = (def_), .flags = (fl)

#define CFG_OPT_BOOL(sec, key, T, m, def, fl) \
	{ CFG__OPT(sec, key, CFG_BOOL, CFG__FIELD(T, m, bool), def, fl) }
#define CFG_OPT_INT(sec, key, T, m, def, lo, hi, fl) \
	{ CFG__OPT(sec, key, CFG_INT, CFG__FIELD(T, m, int), def, fl), \
	  .min = (lo), .max = (hi) }
#define CFG_OPT_SIZE(sec, key, T, m, def, lo, hi, fl) \
	{ CFG__OPT(sec, key, CFG_SIZE, CFG__FIELD(T, m, uint64_t), def, fl), \
	  .min = (lo), .max = (hi) }
#define CFG_OPT_DURATION(sec, key, T, m, def, lo, hi, fl) \
	{ CFG__OPT(sec, key, CFG_DURATION, CFG__FIELD(T, m, uint64_t), def, fl), \
	  .min = (lo), .max = (hi) }
#define CFG_OPT_STRING(sec, key, T, m, def, fl) \
	{ CFG__OPT(sec, key, CFG_STRING, \
		   CFG__FIELD(T, m, char[sizeof(((T *)0)->m)]), def, fl), \
	  .size = sizeof(((T *)0)->m) }
#define CFG_OPT_ENUM(sec, key, T, m, def, list, fl) \
	{ CFG__OPT(sec, key, CFG_ENUM, CFG__FIELD(T, m, int), def, fl), \
	  .names = (list) }
#define CFG_OPT_ADDR(sec, key, T, m, def, fl) \
	{ CFG__OPT(sec, key, CFG_ADDR, CFG__FIELD(T, m, struct cfg_addr), def, fl) }
#define CFG_OPT_END { .name = NULL }

/* Start a parse: check the table and write every option's default into
 * target. 0; -E2BIG (more than CFG_MAX_OPTIONS); -EINVAL for a bad table
 * entry or default, with the reason in c->err. */
int cfg_init(struct cfg *c, const struct cfg_option *table, void *target);

/* Feed one line (len bytes, no newline needed; may hold any byte).
 * false on error, with "line N: ..." in c->err; stop feeding then. */
bool cfg_line(struct cfg *c, const char *line, size_t len);

/* End of input: false if a CFG_REQUIRED option was not set (c->err). */
bool cfg_finish(struct cfg *c);

/* cfg_line for each '\n'-separated line of TEXT, then cfg_finish (after
 * cfg_init; for a caller that checks options across the table with the
 * cfg state, its line numbers, still at hand). false on error (c->err). */
bool cfg_feed(struct cfg *c, const char *text, size_t len);

/* cfg_init, cfg_line for each '\n'-separated line of text (a trailing \r
 * is ignored), cfg_finish. false on error, with the message copied to err
 * (if errlen > 0; truncated to fit). */
bool cfg_parse_buffer(const struct cfg_option *table, void *target,
		      const char *text, size_t len, char *err, size_t errlen);

/* A socket address as ADDR:PORT, [ADDR6]:PORT, or "?" (log lines,
 * status). */
void cfg_sockaddr_text(const struct sockaddr *sa, char *buf, size_t len);

/* Write option o's value in target as the file syntax would (strings
 * quoted), NUL-terminated. Returns the length, or -ENOSPC if it was cut. */
int cfg_format(const struct cfg_option *o, const void *target, char *buf, size_t len);

/* true if option o has the same value in targets a and b. */
bool cfg_equal(const struct cfg_option *o, const void *a, const void *b);

/* true if an option without CFG_RELOADABLE differs between prev and next;
 * the first such option is described in err:
 * "[proxy] peer: changed from 192.0.2.1:7000 to 192.0.2.2:7000, needs a restart". */
bool cfg_diff_nonreloadable(const struct cfg_option *table, const void *prev,
			    const void *next, char *err, size_t errlen);

#endif /* COMMON_CFG_H */
