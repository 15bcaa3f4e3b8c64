/*
 * Criterion suite for common/cfg: every value type and its bounds, every
 * error message (compared in full, so the quoted bad value is checked),
 * defaults, sections, comments, quoting, long lines, embedded NULs, the
 * table checks of cfg_init, formatting, and the reload diff.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cfg.h"

struct conf {
	bool debug;
	int port;
	int retries;
	uint64_t max_held;
	uint64_t hold_ms;
	uint64_t interval_ms;
	char name[16];
	char hook[CFG_VALUE_MAX + 100];
	int mode;
	struct cfg_addr peer;
	struct cfg_addr listen;
};

static const char *const modes[] = { "primary", "secondary", "solo", NULL };

static const struct cfg_option opts[] = {
	CFG_OPT_BOOL(NULL, "debug", struct conf, debug, "no", CFG_RELOADABLE),
	CFG_OPT_INT("proxy", "port", struct conf, port, "7000", 1, 65535, 0),
	CFG_OPT_INT("proxy", "retries", struct conf, retries, "-1", -1, 10, CFG_RELOADABLE),
	CFG_OPT_SIZE("compare", "max_held", struct conf, max_held, "16M", 4096, 1 << 30,
		     CFG_RELOADABLE),
	CFG_OPT_DURATION("compare", "hold_timeout", struct conf, hold_ms, "250ms", 1, 60000,
			 CFG_RELOADABLE),
	CFG_OPT_DURATION("heartbeat", "interval", struct conf, interval_ms, "1s", 0, 0, 0),
	CFG_OPT_STRING("proxy", "name", struct conf, name, "colo", 0),
	CFG_OPT_STRING("heartbeat", "hook", struct conf, hook, NULL, CFG_RELOADABLE),
	CFG_OPT_ENUM("proxy", "mode", struct conf, mode, "primary", modes, 0),
	CFG_OPT_ADDR("proxy", "peer", struct conf, peer, NULL, CFG_REQUIRED),
	CFG_OPT_ADDR("proxy", "listen", struct conf, listen, "0.0.0.0:7000", 0),
	CFG_OPT_END
};

/* The one required option, so that other lines start at line 3. */
#define PEER "[proxy]\npeer = 192.0.2.1\n"

static char err[CFG_ERR_MAX];

static bool parse_len(struct conf *c, const char *text, size_t len)
{
	memset(c, 0xa5, sizeof(*c)); /* defaults must overwrite everything */
	return cfg_parse_buffer(opts, c, text, len, err, sizeof(err));
}

static bool parse(struct conf *c, const char *text)
{
	return parse_len(c, text, strlen(text));
}

static void parse_ok(struct conf *c, const char *text)
{
	cr_assert(parse(c, text), "unexpected error: %s\ninput:\n%s", err, text);
	cr_assert_str_empty(err);
}

static void expect_err_len(const char *text, size_t len, const char *want)
{
	struct conf c;

	cr_assert_not(parse_len(&c, text, len), "accepted:\n%s", text);
	cr_assert_str_eq(err, want, "input:\n%s", text);
}

static void expect_err(const char *text, const char *want)
{
	expect_err_len(text, strlen(text), want);
}

/* ---- defaults and every type's good values -------------------------------- */

Test(cfg, defaults_fill_every_option)
{
	struct conf c;
	char buf[64];

	parse_ok(&c, PEER);
	cr_assert_eq(c.debug, false);
	cr_assert_eq(c.port, 7000);
	cr_assert_eq(c.retries, -1);
	cr_assert_eq(c.max_held, 16 << 20);
	cr_assert_eq(c.hold_ms, 250);
	cr_assert_eq(c.interval_ms, 1000);
	cr_assert_str_eq(c.name, "colo");
	cr_assert_str_eq(c.hook, "");
	cr_assert_eq(c.mode, 0);
	cr_assert_eq(c.listen.u.sa.sa_family, AF_INET);
	cr_assert(c.listen.has_port);
	cr_assert_eq(ntohs(c.listen.u.sin.sin_port), 7000);
	cr_assert_eq(cfg_format(&opts[10], &c, buf, sizeof(buf)), 12);
	cr_assert_str_eq(buf, "0.0.0.0:7000");
}

Test(cfg, booleans)
{
	static const char *const yes[] = { "yes", "YES", "True", "on", "1" };
	static const char *const no[] = { "no", "False", "OFF", "0" };
	char text[64];
	struct conf c;

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		snprintf(text, sizeof(text), "debug = %s\n" PEER, yes[i]);
		parse_ok(&c, text);
		cr_assert_eq(c.debug, true, "%s", yes[i]);
	}
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		snprintf(text, sizeof(text), "debug = yes\ndebug = %s\n" PEER, no[i]);
		expect_err(text, "line 2: debug: already set on line 1");
		snprintf(text, sizeof(text), "debug = %s\n" PEER, no[i]);
		parse_ok(&c, text);
		cr_assert_eq(c.debug, false, "%s", no[i]);
	}
	expect_err("debug = maybe\n",
		   "line 1: debug: \"maybe\" is not a boolean (yes/no, true/false, on/off, 1/0)");
	expect_err("debug = yess\n",
		   "line 1: debug: \"yess\" is not a boolean (yes/no, true/false, on/off, 1/0)");
}

Test(cfg, integers_and_bounds)
{
	struct conf c;

	parse_ok(&c, PEER "port = 1\nretries = -1\n");
	cr_assert_eq(c.port, 1);
	cr_assert_eq(c.retries, -1);
	parse_ok(&c, PEER "port = 65535\nretries = +10\n");
	cr_assert_eq(c.port, 65535);
	cr_assert_eq(c.retries, 10);
	expect_err(PEER "port = 0\n", "line 3: port: \"0\" is out of range (1..65535)");
	expect_err(PEER "port = 65536\n", "line 3: port: \"65536\" is out of range (1..65535)");
	expect_err(PEER "retries = -2\n", "line 3: retries: \"-2\" is out of range (-1..10)");
	expect_err(PEER "port = 99999999999999999999999\n",
		   "line 3: port: \"99999999999999999999999\" is out of range (1..65535)");
	expect_err(PEER "port = -9223372036854775808\n",
		   "line 3: port: \"-9223372036854775808\" is out of range (1..65535)");
	expect_err(PEER "port = 12a\n", "line 3: port: \"12a\" is not an integer");
	expect_err(PEER "port = 0x10\n", "line 3: port: \"0x10\" is not an integer");
	expect_err(PEER "port = -\n", "line 3: port: \"-\" is not an integer");
	expect_err(PEER "port = 7 0\n", "line 3: port: \"7 0\" is not an integer");
	expect_err(PEER "port =\n", "line 3: port: \"\" is not an integer");
}

Test(cfg, sizes_and_bounds)
{
	static const struct {
		const char *text;
		uint64_t want;
	} good[] = {
		{ "4096", 4096 }, { "64k", 64 << 10 }, { "64K", 64 << 10 },
		{ "16m", 16 << 20 }, { "16M", 16 << 20 }, { "1g", 1 << 30 }, { "1G", 1 << 30 },
	};
	char text[128];
	struct conf c;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(text, sizeof(text), PEER "[compare]\nmax_held = %s\n", good[i].text);
		parse_ok(&c, text);
		cr_assert_eq(c.max_held, good[i].want, "%s", good[i].text);
	}
	expect_err(PEER "[compare]\nmax_held = 4095\n",
		   "line 4: max_held: \"4095\" is out of range (4k..1G)");
	expect_err(PEER "[compare]\nmax_held = 2G\n",
		   "line 4: max_held: \"2G\" is out of range (4k..1G)");
	expect_err(PEER "[compare]\nmax_held = 12q\n",
		   "line 4: max_held: \"12q\" is not a size (e.g. 4096, 64k, 16M, 1G)");
	expect_err(PEER "[compare]\nmax_held = 1.5M\n",
		   "line 4: max_held: \"1.5M\" is not a size (e.g. 4096, 64k, 16M, 1G)");
	expect_err(PEER "[compare]\nmax_held = k\n",
		   "line 4: max_held: \"k\" is not a size (e.g. 4096, 64k, 16M, 1G)");
	expect_err(PEER "[compare]\nmax_held = 64kb\n",
		   "line 4: max_held: \"64kb\" is not a size (e.g. 4096, 64k, 16M, 1G)");
	expect_err(PEER "[compare]\nmax_held = -4096\n",
		   "line 4: max_held: \"-4096\" is not a size (e.g. 4096, 64k, 16M, 1G)");
	expect_err(PEER "[compare]\nmax_held = 20000000000G\n",
		   "line 4: max_held: \"20000000000G\" is too large");
	expect_err(PEER "[compare]\nmax_held = 99999999999999999999\n",
		   "line 4: max_held: \"99999999999999999999\" is too large");
}

Test(cfg, durations_and_bounds)
{
	struct conf c;

	parse_ok(&c, PEER "[compare]\nhold_timeout = 1ms\n");
	cr_assert_eq(c.hold_ms, 1);
	parse_ok(&c, PEER "[compare]\nhold_timeout = 60s\n");
	cr_assert_eq(c.hold_ms, 60000);
	parse_ok(&c, PEER "[heartbeat]\ninterval = 0ms\n");
	cr_assert_eq(c.interval_ms, 0, "unbounded: 0 is allowed");
	parse_ok(&c, PEER "[heartbeat]\ninterval = 18446744073709551615ms\n");
	cr_assert_eq(c.interval_ms, UINT64_MAX);
	expect_err(PEER "[compare]\nhold_timeout = 12x\n",
		   "line 4: hold_timeout: \"12x\" is not a duration (e.g. 250ms, 2s)");
	expect_err(PEER "[compare]\nhold_timeout = 250\n",
		   "line 4: hold_timeout: \"250\" is not a duration (e.g. 250ms, 2s)");
	expect_err(PEER "[compare]\nhold_timeout = 2 s\n",
		   "line 4: hold_timeout: \"2 s\" is not a duration (e.g. 250ms, 2s)");
	expect_err(PEER "[compare]\nhold_timeout = ms\n",
		   "line 4: hold_timeout: \"ms\" is not a duration (e.g. 250ms, 2s)");
	expect_err(PEER "[compare]\nhold_timeout = 0ms\n",
		   "line 4: hold_timeout: \"0ms\" is out of range (1ms..60s)");
	expect_err(PEER "[compare]\nhold_timeout = 61s\n",
		   "line 4: hold_timeout: \"61s\" is out of range (1ms..60s)");
	expect_err(PEER "[heartbeat]\ninterval = 18446744073709552s\n",
		   "line 4: interval: \"18446744073709552s\" is too large");
}

Test(cfg, strings_bare_and_quoted)
{
	struct conf c;

	parse_ok(&c, PEER "name = my proxy   \n");
	cr_assert_str_eq(c.name, "my proxy");
	parse_ok(&c, PEER "name = colo # a comment\n");
	cr_assert_str_eq(c.name, "colo");
	parse_ok(&c, PEER "name = colo; a comment\n");
	cr_assert_str_eq(c.name, "colo");
	parse_ok(&c, PEER "name = \"a # b ; c\"  # real comment\n");
	cr_assert_str_eq(c.name, "a # b ; c");
	parse_ok(&c, PEER "name = \"\\\"q\\\" \\\\ \\t\\n\\r\"\n");
	cr_assert_str_eq(c.name, "\"q\" \\ \t\n\r");
	parse_ok(&c, PEER "name = \"  padded  \"\n");
	cr_assert_str_eq(c.name, "  padded  ");
	parse_ok(&c, PEER "name =\n");
	cr_assert_str_eq(c.name, "");
	parse_ok(&c, PEER "name = \"\"\n");
	cr_assert_str_eq(c.name, "");
	parse_ok(&c, PEER "name = 0123456789abcde\n");
	cr_assert_str_eq(c.name, "0123456789abcde");
	parse_ok(&c, PEER "name = a=b\n");
	cr_assert_str_eq(c.name, "a=b");
	expect_err(PEER "name = 0123456789abcdef\n",
		   "line 3: name: \"0123456789abcdef\" is too long (at most 15 bytes)");
}

Test(cfg, quoting_errors)
{
	expect_err(PEER "name = \"abc\n", "line 3: name: unterminated quoted value \"\\\"abc\"");
	expect_err(PEER "name = \"abc\\\"\n",
		   "line 3: name: unterminated quoted value \"\\\"abc\\\\\\\"\"");
	expect_err(PEER "name = \"a\\qb\"\n", "line 3: name: bad escape \"\\\\q\" in quoted value");
	expect_err(PEER "name = \"abc\" x\n", "line 3: name: unexpected \"x\" after quoted value");
	expect_err(PEER "name = \"abc\"\"d\"\n",
		   "line 3: name: unexpected \"\\\"d\\\"\" after quoted value");
}

Test(cfg, quotes_work_for_every_type)
{
	struct conf c;

	parse_ok(&c, "debug = \"on\"\n[proxy]\npeer = \"[::1]:9\"\nport = \"80\"\nmode = \"solo\"\n"
		     "[compare]\nmax_held = \"8k\"\nhold_timeout = \"2s\"\n");
	cr_assert_eq(c.debug, true);
	cr_assert_eq(c.port, 80);
	cr_assert_eq(c.mode, 2);
	cr_assert_eq(c.max_held, 8192);
	cr_assert_eq(c.hold_ms, 2000);
	cr_assert_eq(c.peer.u.sa.sa_family, AF_INET6);
}

Test(cfg, enums)
{
	struct conf c;

	parse_ok(&c, PEER "mode = secondary\n");
	cr_assert_eq(c.mode, 1);
	parse_ok(&c, PEER "mode = solo\n");
	cr_assert_eq(c.mode, 2);
	expect_err(PEER "mode = Primary\n",
		   "line 3: mode: \"Primary\" is not one of: primary, secondary, solo");
	expect_err(PEER "mode =\n", "line 3: mode: \"\" is not one of: primary, secondary, solo");
}

Test(cfg, addresses)
{
	struct conf c;
	char a[INET6_ADDRSTRLEN];

	parse_ok(&c, "[proxy]\npeer = 192.0.2.1\n");
	cr_assert_eq(c.peer.u.sa.sa_family, AF_INET);
	cr_assert_eq(c.peer.len, sizeof(struct sockaddr_in));
	cr_assert_not(c.peer.has_port);
	cr_assert_eq(c.peer.u.sin.sin_addr.s_addr, htonl(0xc0000201));

	parse_ok(&c, "[proxy]\npeer = 192.0.2.1:7001\n");
	cr_assert(c.peer.has_port);
	cr_assert_eq(ntohs(c.peer.u.sin.sin_port), 7001);

	parse_ok(&c, "[proxy]\npeer = 2001:db8::1\n");
	cr_assert_eq(c.peer.u.sa.sa_family, AF_INET6);
	cr_assert_eq(c.peer.len, sizeof(struct sockaddr_in6));
	cr_assert_not(c.peer.has_port);
	inet_ntop(AF_INET6, &c.peer.u.sin6.sin6_addr, a, sizeof(a));
	cr_assert_str_eq(a, "2001:db8::1");

	parse_ok(&c, "[proxy]\npeer = [2001:db8::1]:0\n");
	cr_assert(c.peer.has_port);
	cr_assert_eq(c.peer.u.sin6.sin6_port, 0);
	parse_ok(&c, "[proxy]\npeer = [::1]\n");
	cr_assert_not(c.peer.has_port);
}

Test(cfg, address_errors)
{
	static const char *const bad[] = {
		"example.com", "1.2.3", "256.1.1.1", "[2001:db8::1", "[::1]x", "[192.0.2.1]:80",
		"[]:80", "::g", ":80", "1.2.3.4 :80",
	};
	char text[128], want[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "[proxy]\npeer = %s\n", bad[i]);
		snprintf(want, sizeof(want), "line 2: peer: \"%s\" is not an IP address "
			 "(e.g. 192.0.2.1:7000, [2001:db8::1]:7000)", bad[i]);
		expect_err(text, want);
	}
	expect_err("[proxy]\npeer = 192.0.2.1:\n",
		   "line 2: peer: \"192.0.2.1:\" has an invalid port (0..65535)");
	expect_err("[proxy]\npeer = 192.0.2.1:65536\n",
		   "line 2: peer: \"192.0.2.1:65536\" has an invalid port (0..65535)");
	expect_err("[proxy]\npeer = [::1]:http\n",
		   "line 2: peer: \"[::1]:http\" has an invalid port (0..65535)");
	expect_err("[proxy]\npeer = 1.2.3.4:99999999999999999999999\n",
		   "line 2: peer: \"1.2.3.4:99999999999999999999999\" has an invalid port (0..65535)");
}

/* ---- structure: sections, keys, comments, lines --------------------------- */

Test(cfg, sections_and_keys)
{
	struct conf c;

	expect_err("garbage\n", "line 1: expected \"key = value\" or \"[section]\", got \"garbage\"");
	expect_err(PEER " = 5\n", "line 3: missing option name before \"=\"");
	expect_err("[proxy\n", "line 1: missing \"]\" in section header \"[proxy\"");
	expect_err("[proxy] x\n", "line 1: unexpected \"x\" after section header");
	expect_err("[nope]\n", "line 1: unknown section \"nope\"");
	expect_err("[]\n", "line 1: unknown section \"\"");
	expect_err(PEER "nope = 1\n", "line 3: unknown option \"nope\" in [proxy]");
	expect_err(PEER "Port = 1\n", "line 3: unknown option \"Port\" in [proxy]");
	expect_err(PEER "debug = yes\n", "line 3: unknown option \"debug\" in [proxy]");
	expect_err("port = 1\n", "line 1: unknown option \"port\" before any [section]");
	expect_err(PEER "[compare]\nport = 1\n", "line 4: unknown option \"port\" in [compare]");
	expect_err(PEER "port = 1\nport = 2\n", "line 4: port: already set on line 3");
	/* a section may be reopened */
	parse_ok(&c, "[proxy]\nport = 1\n[compare]\nmax_held = 8k\n[proxy]\npeer = ::1\n");
	cr_assert_eq(c.port, 1);
	cr_assert_eq(c.max_held, 8192);
}

Test(cfg, comments_blanks_and_whitespace)
{
	struct conf c;

	parse_ok(&c, "# comment\n; comment\n\n   \t \n  [ proxy ]  # header comment\n"
		     "\tpeer\t=\t192.0.2.1\t; trailing\n   #port = 1\nport=2#x\n\n");
	cr_assert_eq(c.port, 2);
	cr_assert_eq(c.peer.u.sa.sa_family, AF_INET);
}

Test(cfg, line_endings_and_numbering)
{
	struct conf c;

	parse_ok(&c, "[proxy]\r\npeer = 192.0.2.1\r\nport = 80\r\n");
	cr_assert_eq(c.port, 80);
	parse_ok(&c, "[proxy]\npeer = 192.0.2.1\nport = 81");
	cr_assert_eq(c.port, 81, "last line without a newline");
	expect_err("\n\n# x\n\n[proxy]\nport = x\n", "line 6: port: \"x\" is not an integer");
	expect_err("", "[proxy] peer: required option is not set");
}

/* ---- hostile input ------------------------------------------------------- */

static char *repeat(char ch, size_t n, const char *prefix, const char *suffix)
{
	size_t pl = strlen(prefix), sl = strlen(suffix);
	char *s = malloc(pl + n + sl + 1);

	cr_assert_not_null(s);
	memcpy(s, prefix, pl);
	memset(s + pl, ch, n);
	memcpy(s + pl + n, suffix, sl + 1);
	return s;
}

Test(cfg, long_lines)
{
	struct conf c;
	char *text, want[CFG_ERR_MAX];
	char forty[41];

	memset(forty, 'a', 40);
	forty[40] = '\0';

	text = repeat('x', 100000, PEER "# ", "\nport = 5\n");
	parse_ok(&c, text);
	cr_assert_eq(c.port, 5, "a long comment must not hide the next line");
	free(text);

	text = repeat('a', 100000, PEER "[heartbeat]\nhook = ", "\n");
	snprintf(want, sizeof(want), "line 4: hook: \"%s...\" is too long (at most %d bytes)",
		 forty, CFG_VALUE_MAX - 1);
	expect_err(text, want);
	free(text);

	text = repeat('a', CFG_VALUE_MAX, PEER "[heartbeat]\nhook = \"", "\"\n");
	expect_err(text, want);
	free(text);

	text = repeat('a', CFG_VALUE_MAX - 1, PEER "[heartbeat]\nhook = ", "\n");
	parse_ok(&c, text);
	cr_assert_eq(strlen(c.hook), CFG_VALUE_MAX - 1);
	free(text);

	text = repeat('k', 5000, PEER, " = 1\n");
	snprintf(want, sizeof(want), "line 3: unknown option \"%.40s...\" in [proxy]",
		 text + strlen(PEER));
	expect_err(text, want);
	free(text);

	text = repeat('s', 100000, "[", "]\n");
	cr_assert_not(parse(&c, text));
	cr_assert_lt(strlen(err), sizeof(err));
	cr_assert(strstr(err, "line 1: unknown section \"ssss"), "%s", err);
	free(text);
}

Test(cfg, embedded_nul_bytes)
{
	static const char nul_value[] = PEER "name = ab\0cd\n";
	static const char nul_key[] = PEER "na\0me = x\n";
	static const char nul_comment[] = PEER "# a\0b\nport = 9\n";
	static const char nul_int[] = PEER "port = 12\0\n";
	static const char nul_quoted[] = PEER "name = \"a\0\"\n";
	struct conf c;

	expect_err_len(nul_value, sizeof(nul_value) - 1,
		       "line 3: name: \"ab\\x00cd\" contains a NUL byte");
	expect_err_len(nul_key, sizeof(nul_key) - 1,
		       "line 3: unknown option \"na\\x00me\" in [proxy]");
	expect_err_len(nul_int, sizeof(nul_int) - 1, "line 3: port: \"12\\x00\" is not an integer");
	expect_err_len(nul_quoted, sizeof(nul_quoted) - 1,
		       "line 3: name: \"a\\x00\" contains a NUL byte");
	cr_assert(parse_len(&c, nul_comment, sizeof(nul_comment) - 1), "%s", err);
	cr_assert_eq(c.port, 9);
}

Test(cfg, unprintable_bytes_are_escaped_in_messages)
{
	expect_err(PEER "port = \x01\x7f\xff\"\\\n",
		   "line 3: port: \"\\x01\\x7f\\xff\\\"\\\\\" is not an integer");
}

Test(cfg, error_buffer_is_bounded)
{
	struct conf c;
	char small[10];

	memset(small, 'Z', sizeof(small));
	cr_assert_not(cfg_parse_buffer(opts, &c, "port = 1\n", 9, small, sizeof(small)));
	cr_assert_str_eq(small, "line 1: u");
	cr_assert_not(cfg_parse_buffer(opts, &c, "port = 1\n", 9, NULL, 0));
	cr_assert(cfg_parse_buffer(opts, &c, PEER, strlen(PEER), NULL, 0));
	cr_assert_not(cfg_parse_buffer(opts, &c, NULL, 0, small, sizeof(small)), "peer missing");
}

/* ---- the push API --------------------------------------------------------- */

Test(cfg, push_api_line_by_line)
{
	struct cfg p;
	struct conf c;
	static const char *const lines[] = { "[proxy]", "peer = ::1", "port = 0" };

	cr_assert_eq(cfg_init(&p, opts, &c), 0);
	cr_assert_eq(c.port, 7000);
	cr_assert(cfg_line(&p, lines[0], strlen(lines[0])));
	cr_assert(cfg_line(&p, lines[1], strlen(lines[1])));
	cr_assert_not(cfg_line(&p, lines[2], strlen(lines[2])));
	cr_assert_str_eq(p.err, "line 3: port: \"0\" is out of range (1..65535)");
	cr_assert_eq(c.port, 7000, "a rejected value must not be written");
	cr_assert(cfg_line(&p, "port = 8", 8), "%s", p.err);
	cr_assert_str_empty(p.err);
	cr_assert(cfg_line(&p, NULL, 0), "an empty line needs no bytes");
	cr_assert(cfg_finish(&p));
	cr_assert_eq(c.port, 8);
}

Test(cfg, finish_reports_missing_required)
{
	struct cfg p;
	struct conf c;

	cr_assert_eq(cfg_init(&p, opts, &c), 0);
	cr_assert(cfg_line(&p, "[proxy]", 7));
	cr_assert_not(cfg_finish(&p));
	cr_assert_str_eq(p.err, "[proxy] peer: required option is not set");
}

Test(cfg, two_parsers_side_by_side)
{
	struct cfg pa, pb;
	struct conf a, b;

	cr_assert_eq(cfg_init(&pa, opts, &a), 0);
	cr_assert_eq(cfg_init(&pb, opts, &b), 0);
	cr_assert(cfg_line(&pa, "[proxy]", 7));
	cr_assert(cfg_line(&pb, "[compare]", 9));
	cr_assert(cfg_line(&pa, "port = 1", 8));
	cr_assert_not(cfg_line(&pb, "port = 2", 8), "b is in [compare]");
	cr_assert_str_eq(pb.err, "line 2: unknown option \"port\" in [compare]");
	cr_assert_str_empty(pa.err);
	cr_assert_eq(a.port, 1);
	cr_assert_eq(b.port, 7000);
}

/* ---- cfg_init's table checks ---------------------------------------------- */

struct small {
	int i;
	uint64_t d;
	int e;
};

static void expect_init(const struct cfg_option *table, int ret, const char *want)
{
	struct cfg p;
	struct small s;

	cr_assert_eq(cfg_init(&p, table, &s), ret);
	cr_assert_str_eq(p.err, want);
}

Test(cfg, init_rejects_bad_tables)
{
	static const char *const none[] = { NULL };
	const struct cfg_option inverted[] = {
		CFG_OPT_INT("s", "i", struct small, i, NULL, 5, 1, 0), CFG_OPT_END };
	const struct cfg_option wide[] = {
		CFG_OPT_INT("s", "i", struct small, i, NULL, 0, (int64_t)INT_MAX + 1, 0), CFG_OPT_END };
	const struct cfg_option negative[] = {
		CFG_OPT_DURATION("s", "d", struct small, d, NULL, -1, 5, 0), CFG_OPT_END };
	const struct cfg_option empty_enum[] = {
		CFG_OPT_ENUM("s", "e", struct small, e, NULL, none, 0), CFG_OPT_END };
	const struct cfg_option twice[] = {
		CFG_OPT_INT("s", "i", struct small, i, NULL, 0, 1, 0),
		CFG_OPT_INT("s", "i", struct small, e, NULL, 0, 1, 0), CFG_OPT_END };
	const struct cfg_option bad_default[] = {
		CFG_OPT_DURATION("s", "d", struct small, d, "5", 0, 0, 0), CFG_OPT_END };
	const struct cfg_option out_of_range_default[] = {
		CFG_OPT_INT("s", "i", struct small, i, "9", 0, 5, 0), CFG_OPT_END };

	expect_init(inverted, -EINVAL, "option i: bad table entry");
	expect_init(wide, -EINVAL, "option i: bad table entry");
	expect_init(negative, -EINVAL, "option d: bad table entry");
	expect_init(empty_enum, -EINVAL, "option e: bad table entry");
	expect_init(twice, -EINVAL, "option i: defined twice");
	expect_init(bad_default, -EINVAL,
		    "default of d: \"5\" is not a duration (e.g. 250ms, 2s)");
	expect_init(out_of_range_default, -EINVAL, "default of i: \"9\" is out of range (0..5)");
}

Test(cfg, init_rejects_too_many_options)
{
	static char names[CFG_MAX_OPTIONS + 1][16];
	struct cfg_option table[CFG_MAX_OPTIONS + 2];
	struct cfg p;
	struct small s;

	for (int i = 0; i <= CFG_MAX_OPTIONS; i++) {
		snprintf(names[i], sizeof(names[i]), "o%d", i);
		table[i] = (struct cfg_option)CFG_OPT_INT("s", names[i], struct small, i, NULL, 0, 1, 0);
	}
	table[CFG_MAX_OPTIONS + 1] = (struct cfg_option)CFG_OPT_END;
	cr_assert_eq(cfg_init(&p, table, &s), -E2BIG);
	table[CFG_MAX_OPTIONS] = (struct cfg_option)CFG_OPT_END;
	cr_assert_eq(cfg_init(&p, table, &s), 0, "%s", p.err);
}

/* ---- formatting and the reload diff --------------------------------------- */

/* Every option formatted and parsed back gives the same value. */
Test(cfg, format_round_trips)
{
	struct conf a, b;
	char buf[2 * CFG_VALUE_MAX + 8], text[4 * CFG_VALUE_MAX];

	parse_ok(&a, "debug = on\n[proxy]\npeer = [2001:db8::7]:65535\nport = 443\nretries = -1\n"
		     "name = \"q\\\"\\\\\\t#;\"\nmode = solo\nlisten = 10.0.0.1\n"
		     "[compare]\nmax_held = 3145728\nhold_timeout = 1500ms\n"
		     "[heartbeat]\ninterval = 7s\nhook = /usr/lib/colokit/hook\n");
	for (const struct cfg_option *o = opts; o->name; o++) {
		cr_assert_gt(cfg_format(o, &a, buf, sizeof(buf)), 0, "%s", o->name);
		snprintf(text, sizeof(text), "%s%s%s%s = %s\n%s", o->section ? "[" : "",
			 o->section ? o->section : "", o->section ? "]\n" : "", o->name, buf,
			 strcmp(o->name, "peer") ? PEER : "");
		parse_ok(&b, text);
		cr_assert(cfg_equal(o, &a, &b), "%s: %s", o->name, buf);
	}
	cfg_format(&opts[3], &a, buf, sizeof(buf));
	cr_assert_str_eq(buf, "3M");
	cfg_format(&opts[4], &a, buf, sizeof(buf));
	cr_assert_str_eq(buf, "1500ms");
	cfg_format(&opts[6], &a, buf, sizeof(buf));
	cr_assert_str_eq(buf, "\"q\\\"\\\\\\t#;\"");
	cr_assert_eq(cfg_format(&opts[9], &a, buf, 5), -ENOSPC);
	cr_assert_str_eq(buf, "[200");
	cr_assert_eq(cfg_format(&opts[6], &a, buf, 3), -ENOSPC);
	cr_assert_str_eq(buf, "\"q");
}

Test(cfg, equal_compares_values)
{
	struct conf a, b;

	parse_ok(&a, "[proxy]\npeer = 192.0.2.1:80\n");
	parse_ok(&b, "[proxy]\npeer = 192.0.2.1:80\n");
	cr_assert(cfg_equal(&opts[9], &a, &b));
	parse_ok(&b, "[proxy]\npeer = 192.0.2.1\n");
	cr_assert_not(cfg_equal(&opts[9], &a, &b), "port given vs not given");
	parse_ok(&a, "[proxy]\npeer = 192.0.2.1:0\n");
	cr_assert_not(cfg_equal(&opts[9], &a, &b), "\"192.0.2.1:0\" and \"192.0.2.1\" differ");
	parse_ok(&b, "[proxy]\npeer = ::ffff:192.0.2.1\n");
	cr_assert_not(cfg_equal(&opts[9], &a, &b), "v4-mapped v6 is another address");
}

Test(cfg, reload_diff)
{
	struct conf prev, next;
	char msg[CFG_ERR_MAX];

	parse_ok(&prev, PEER "port = 7000\n");
	parse_ok(&next, "debug = yes\n" PEER "port = 7000\nretries = 3\n[compare]\n"
			"hold_timeout = 1s\nmax_held = 1G\n[heartbeat]\nhook = /bin/true\n");
	memset(msg, 'Z', sizeof(msg));
	cr_assert_not(cfg_diff_nonreloadable(opts, &prev, &next, msg, sizeof(msg)),
		      "only reloadable options changed: %s", msg);
	cr_assert_str_empty(msg);

	parse_ok(&next, PEER "port = 7001\n");
	cr_assert(cfg_diff_nonreloadable(opts, &prev, &next, msg, sizeof(msg)));
	cr_assert_str_eq(msg, "[proxy] port: changed from 7000 to 7001, needs a restart");

	parse_ok(&next, "[proxy]\npeer = [2001:db8::2]:7000\n");
	cr_assert(cfg_diff_nonreloadable(opts, &prev, &next, msg, sizeof(msg)));
	cr_assert_str_eq(msg,
			 "[proxy] peer: changed from 192.0.2.1 to [2001:db8::2]:7000, needs a restart");

	parse_ok(&next, PEER "name = \"other name\"\nmode = secondary\n");
	cr_assert(cfg_diff_nonreloadable(opts, &prev, &next, msg, sizeof(msg)));
	cr_assert_str_eq(msg, "[proxy] name: changed from \"colo\" to \"other name\", "
			      "needs a restart");

	parse_ok(&next, PEER "[heartbeat]\ninterval = 2s\n");
	cr_assert(cfg_diff_nonreloadable(opts, &prev, &next, NULL, 0));
	cr_assert(cfg_diff_nonreloadable(opts, &prev, &next, msg, sizeof(msg)));
	cr_assert_str_eq(msg, "[heartbeat] interval: changed from 1s to 2s, needs a restart");
}

Test(cfg, reload_diff_unset_address)
{
	static const struct cfg_option t[] = {
		CFG_OPT_ADDR(NULL, "a", struct conf, peer, NULL, 0), CFG_OPT_END };
	struct conf prev, next;
	char msg[CFG_ERR_MAX];

	cr_assert(cfg_parse_buffer(t, &prev, "", 0, msg, sizeof(msg)), "%s", msg);
	cr_assert(cfg_parse_buffer(t, &next, "a = ::1", 7, msg, sizeof(msg)), "%s", msg);
	cr_assert(cfg_diff_nonreloadable(t, &prev, &next, msg, sizeof(msg)));
	cr_assert_str_eq(msg, "a: changed from (unset) to ::1, needs a restart");
}
