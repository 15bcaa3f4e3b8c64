/*
 * libFuzzer harness for common/cfg: arbitrary bytes through
 * cfg_parse_buffer() with a table that has every option type, top-level
 * and sectioned options, bounds, and a required option.
 *
 * Beyond "no crash, no sanitizer report", it checks properties:
 *   - the error message is a NUL-terminated string within its buffer, and
 *     empty exactly when the parse succeeded;
 *   - every value of an accepted config survives cfg_format() and a
 *     re-parse unchanged (the format is valid input for the parser);
 *   - cfg_diff_nonreloadable() against the defaults terminates its message.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cfg.h"

struct fuzz_conf {
	bool flag;
	int count;
	int level;
	uint64_t bytes;
	uint64_t any_bytes;
	uint64_t timeout;
	uint64_t any_time;
	char word[8];
	char path[CFG_VALUE_MAX];
	int mode;
	struct cfg_addr addr;
	struct cfg_addr peer;
};

static const char *const fuzz_modes[] = { "primary", "secondary", "solo", NULL };

static const struct cfg_option fuzz_opts[] = {
	CFG_OPT_BOOL(NULL, "flag", struct fuzz_conf, flag, "no", CFG_RELOADABLE),
	CFG_OPT_INT(NULL, "count", struct fuzz_conf, count, "3", -5, 100, 0),
	CFG_OPT_INT("a", "level", struct fuzz_conf, level, NULL, INT32_MIN, INT32_MAX, 0),
	CFG_OPT_SIZE("a", "bytes", struct fuzz_conf, bytes, "64k", 1, 1 << 30, CFG_RELOADABLE),
	CFG_OPT_SIZE("a", "any_bytes", struct fuzz_conf, any_bytes, NULL, 0, 0, 0),
	CFG_OPT_DURATION("b", "timeout", struct fuzz_conf, timeout, "250ms", 1, 60000, 0),
	CFG_OPT_DURATION("b", "any_time", struct fuzz_conf, any_time, "1s", 0, 0, 0),
	CFG_OPT_STRING("b", "word", struct fuzz_conf, word, "w", 0),
	CFG_OPT_STRING("a", "path", struct fuzz_conf, path, NULL, CFG_RELOADABLE),
	CFG_OPT_ENUM("a", "mode", struct fuzz_conf, mode, "solo", fuzz_modes, 0),
	CFG_OPT_ADDR("b", "addr", struct fuzz_conf, addr, "127.0.0.1:1", 0),
	CFG_OPT_ADDR("a", "peer", struct fuzz_conf, peer, NULL, CFG_REQUIRED),
	CFG_OPT_END
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Format o's value in conf, parse it back into a fresh struct, compare. */
static void check_round_trip(const struct cfg_option *o, const struct fuzz_conf *conf)
{
	static char value[2 * CFG_VALUE_MAX + 8], line[2 * CFG_VALUE_MAX + 64];
	struct fuzz_conf back;
	struct cfg c;
	int n;

	n = cfg_format(o, conf, value, sizeof(value));
	if (n < 0 || (size_t)n != strlen(value))
		abort();
	if (o->type == CFG_ADDR && n == 0)
		return; /* unset address: nothing to write */
	if (cfg_init(&c, fuzz_opts, &back) != 0)
		abort();
	if (o->section) {
		n = snprintf(line, sizeof(line), "[%s]", o->section);
		if (!cfg_line(&c, line, (size_t)n))
			abort();
	}
	n = snprintf(line, sizeof(line), "%s = %s", o->name, value);
	if (n < 0 || (size_t)n >= sizeof(line) || !cfg_line(&c, line, (size_t)n))
		abort();
	if (!cfg_equal(o, conf, &back))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_conf conf, defaults;
	char err[CFG_ERR_MAX], small[7];
	bool ok;

	memset(err, 'Z', sizeof(err));
	ok = cfg_parse_buffer(fuzz_opts, &conf, (const char *)data, size, err, sizeof(err));
	if (!memchr(err, '\0', sizeof(err)) || ok != (err[0] == '\0'))
		abort();
	memset(small, 'Z', sizeof(small)); /* messages are cut, never overrun */
	if (cfg_parse_buffer(fuzz_opts, &conf, (const char *)data, size, small,
			     sizeof(small)) != ok || !memchr(small, '\0', sizeof(small)))
		abort();
	if (!ok)
		return 0;
	for (const struct cfg_option *o = fuzz_opts; o->name; o++)
		check_round_trip(o, &conf);
	cfg_parse_buffer(fuzz_opts, &defaults, "[a]\npeer = ::", 13, NULL, 0);
	memset(err, 'Z', sizeof(err));
	cfg_diff_nonreloadable(fuzz_opts, &defaults, &conf, err, sizeof(err));
	if (!memchr(err, '\0', sizeof(err)))
		abort();
	return 0;
}
