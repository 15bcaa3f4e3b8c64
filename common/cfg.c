/*
 * cfg: INI push parser driven by an option table. See cfg.h.
 *
 *   cfg_line("  hold_timeout = 250ms  # x")
 *     trim, split at '='     -> key "hold_timeout", looked up in [section]
 *     value_extract          -> "250ms" (unquoted; comment, blanks dropped)
 *     type_ops[type].parse   -> written at target + offset, only if valid
 *
 * Every message quotes the text it rejects through quote(), which escapes
 * quotes, backslashes and non-printable bytes and cuts long values.
 */
#include "common/cfg.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define QUOTE_MAX 40                  /* bytes of a value shown in errors */
#define QUOTE_BUF (QUOTE_MAX * 4 + 8) /* each byte may become \xNN */
#define SZ_K ((uint64_t)1 << 10)
#define SZ_M ((uint64_t)1 << 20)
#define SZ_G ((uint64_t)1 << 30)
#define PRINTF(f, a) __attribute__((format(printf, f, a)))

/* What each value type does. parse writes dst only on success, else
 * explains in why (CFG_ERR_MAX bytes); format returns the length it
 * needed, as snprintf does. */
struct type_ops {
	size_t size; /* of the member; 0: o->size */
	bool (*parse)(const struct cfg_option *o, const char *s, size_t n, void *dst, char *why);
	size_t (*format)(const struct cfg_option *o, const void *src, char *buf, size_t len);
};

struct unit {
	const char *suffix;
	uint64_t mult;
};

static const struct unit size_units[] = {
	{ "", 1 }, { "k", SZ_K }, { "K", SZ_K }, { "m", SZ_M }, { "M", SZ_M },
	{ "g", SZ_G }, { "G", SZ_G }, { NULL, 0 },
};
static const struct unit duration_units[] = { { "ms", 1 }, { "s", 1000 }, { NULL, 0 } };

/* ---- small helpers -------------------------------------------------------- */

static bool is_blank(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n' || ch == '\v' || ch == '\f';
}

/* Trim blanks on both sides of s[0..*n), returning the new start. */
static const char *trim(const char *s, size_t *n)
{
	while (*n > 0 && is_blank(s[0])) {
		s++;
		(*n)--;
	}
	while (*n > 0 && is_blank(s[*n - 1]))
		(*n)--;
	return s;
}

static bool span_is(const char *s, size_t n, const char *str)
{
	return strlen(str) == n && memcmp(s, str, n) == 0;
}

static bool same_section(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

/* Option o's member in target (const-ness is the caller's). */
static void *field(const struct cfg_option *o, const void *target)
{
	return (char *)target + o->offset;
}

/* s[0..n) between double quotes, escaped, cut after QUOTE_MAX bytes, in
 * out (QUOTE_BUF bytes). */
static const char *quote(char *out, const char *s, size_t n)
{
	size_t o = 0, i;

	out[o++] = '"';
	for (i = 0; i < n && i < QUOTE_MAX; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '"' || ch == '\\')
			o += (size_t)snprintf(out + o, QUOTE_BUF - o, "\\%c", ch);
		else if (ch < 0x20 || ch >= 0x7f)
			o += (size_t)snprintf(out + o, QUOTE_BUF - o, "\\x%02x", ch);
		else
			out[o++] = (char)ch;
	}
	snprintf(out + o, QUOTE_BUF - o, "%s\"", i < n ? "..." : "");
	return out;
}

/* why = the quoted value followed by the reason; returns false. */
PRINTF(4, 5)
static bool bad(char *why, const char *s, size_t n, const char *fmt, ...)
{
	char q[QUOTE_BUF];
	size_t len = (size_t)snprintf(why, CFG_ERR_MAX, "%s", quote(q, s, n));
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why + len, CFG_ERR_MAX - len, fmt, ap);
	va_end(ap);
	return false;
}

/* c->err = ["line N: "] message; returns false. */
PRINTF(3, 4)
static bool cfg_errf(struct cfg *c, bool with_line, const char *fmt, ...)
{
	size_t n = 0;
	va_list ap;

	if (with_line)
		n = (size_t)snprintf(c->err, sizeof(c->err), "line %u: ", c->lineno);
	va_start(ap, fmt);
	vsnprintf(c->err + n, sizeof(c->err) - n, fmt, ap);
	va_end(ap);
	return false;
}

/* ---- numbers -------------------------------------------------------------- */

/* Leading decimal digits of s: how many, their value, whether it overflowed. */
static size_t scan_u64(const char *s, size_t n, uint64_t *v, bool *overflow)
{
	size_t i;

	*v = 0;
	*overflow = false;
	for (i = 0; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
		unsigned d = (unsigned)(s[i] - '0');

		if (*v > (UINT64_MAX - d) / 10)
			*overflow = true;
		else
			*v = *v * 10 + d;
	}
	return i;
}

/* Digits then exactly one of the units: 1; 0 if malformed; -1 if too large. */
static int scan_units(const char *s, size_t n, const struct unit *u, uint64_t *v)
{
	bool overflow;
	uint64_t x;
	size_t used = scan_u64(s, n, &x, &overflow);

	for (; used > 0 && u->suffix; u++) {
		if (!span_is(s + used, n - used, u->suffix))
			continue;
		if (overflow || x > UINT64_MAX / u->mult)
			return -1;
		*v = x * u->mult;
		return 1;
	}
	return 0;
}

/* The largest unit that divides v exactly: 1G, 3M, 64k, 1000. */
static size_t fmt_size(char *buf, size_t len, uint64_t v)
{
	uint64_t m = v == 0 ? 1 : v % SZ_G == 0 ? SZ_G : v % SZ_M == 0 ? SZ_M : v % SZ_K == 0 ? SZ_K : 1;
	const char *unit = m == SZ_G ? "G" : m == SZ_M ? "M" : m == SZ_K ? "k" : "";

	return (size_t)snprintf(buf, len, "%llu%s", (unsigned long long)(v / m), unit);
}

static size_t fmt_duration(char *buf, size_t len, uint64_t v)
{
	if (v != 0 && v % 1000 == 0)
		return (size_t)snprintf(buf, len, "%llus", (unsigned long long)(v / 1000));
	return (size_t)snprintf(buf, len, "%llums", (unsigned long long)v);
}

/* ---- the value types ------------------------------------------------------ */

static bool parse_bool(const struct cfg_option *o, const char *s, size_t n, void *dst, char *why)
{
	static const char *const words[] = { "yes", "true", "on", "1", "no", "false", "off", "0" };

	(void)o;
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		if (strlen(words[i]) == n && strncasecmp(s, words[i], n) == 0) {
			*(bool *)dst = i < 4;
			return true;
		}
	}
	return bad(why, s, n, " is not a boolean (yes/no, true/false, on/off, 1/0)");
}

static size_t format_bool(const struct cfg_option *o, const void *src, char *buf, size_t len)
{
	(void)o;
	return (size_t)snprintf(buf, len, "%s", *(const bool *)src ? "yes" : "no");
}

static bool parse_int(const struct cfg_option *o, const char *s, size_t n, void *dst, char *why)
{
	bool neg = n > 0 && s[0] == '-', sign = n > 0 && (s[0] == '-' || s[0] == '+');
	bool overflow;
	uint64_t mag;
	size_t used = scan_u64(s + sign, n - sign, &mag, &overflow);
	int64_t v = 0;

	if (used == 0 || sign + used != n)
		return bad(why, s, n, " is not an integer");
	if (!overflow && mag <= INT64_MAX)
		v = neg ? -(int64_t)mag : (int64_t)mag;
	if (overflow || mag > INT64_MAX || v < o->min || v > o->max)
		return bad(why, s, n, " is out of range (%lld..%lld)",
			   (long long)o->min, (long long)o->max);
	*(int *)dst = (int)v;
	return true;
}

static size_t format_int(const struct cfg_option *o, const void *src, char *buf, size_t len)
{
	(void)o;
	return (size_t)snprintf(buf, len, "%d", *(const int *)src);
}

/* CFG_SIZE and CFG_DURATION: digits, unit, bounds unless min == max == 0. */
static bool parse_scaled(const struct cfg_option *o, const char *s, size_t n, void *dst, char *why)
{
	bool size = o->type == CFG_SIZE;
	size_t (*fmt)(char *, size_t, uint64_t) = size ? fmt_size : fmt_duration;
	char lo[32], hi[32];
	uint64_t v = 0;
	int r = scan_units(s, n, size ? size_units : duration_units, &v);

	if (r == 0)
		return bad(why, s, n, size ? " is not a size (e.g. 4096, 64k, 16M, 1G)"
					   : " is not a duration (e.g. 250ms, 2s)");
	if (r < 0)
		return bad(why, s, n, " is too large");
	if ((o->min || o->max) && (v < (uint64_t)o->min || v > (uint64_t)o->max)) {
		fmt(lo, sizeof(lo), (uint64_t)o->min);
		fmt(hi, sizeof(hi), (uint64_t)o->max);
		return bad(why, s, n, " is out of range (%s..%s)", lo, hi);
	}
	*(uint64_t *)dst = v;
	return true;
}

static size_t format_scaled(const struct cfg_option *o, const void *src, char *buf, size_t len)
{
	uint64_t v = *(const uint64_t *)src;

	return o->type == CFG_SIZE ? fmt_size(buf, len, v) : fmt_duration(buf, len, v);
}

static bool parse_string(const struct cfg_option *o, const char *s, size_t n, void *dst, char *why)
{
	if (memchr(s, '\0', n))
		return bad(why, s, n, " contains a NUL byte");
	if (n >= o->size)
		return bad(why, s, n, " is too long (at most %zu bytes)", o->size - 1);
	memset(dst, 0, o->size);
	memcpy(dst, s, n);
	return true;
}

static void put(char *buf, size_t len, size_t *o, char ch)
{
	if (*o + 1 < len)
		buf[*o] = ch;
	(*o)++;
}

/* Quoted, with the escapes unquote() understands. */
static size_t format_string(const struct cfg_option *o, const void *src, char *buf, size_t len)
{
	static const char raw[] = "\"\\\n\t\r", esc[] = "\"\\ntr";
	const char *s = src, *e;
	size_t n = 0;

	put(buf, len, &n, '"');
	for (size_t i = 0; i < o->size && s[i]; i++) {
		e = memchr(raw, s[i], sizeof(raw) - 1);
		if (e)
			put(buf, len, &n, '\\');
		put(buf, len, &n, e ? esc[e - raw] : s[i]);
	}
	put(buf, len, &n, '"');
	if (len > 0)
		buf[n < len ? n : len - 1] = '\0';
	return n;
}

static bool parse_enum(const struct cfg_option *o, const char *s, size_t n, void *dst, char *why)
{
	char list[CFG_ERR_MAX] = "";
	size_t len = 0;

	for (int i = 0; o->names[i]; i++) {
		if (span_is(s, n, o->names[i])) {
			*(int *)dst = i;
			return true;
		}
	}
	for (int i = 0; o->names[i] && len < sizeof(list); i++)
		len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s",
					i ? ", " : "", o->names[i]);
	return bad(why, s, n, " is not one of: %s", list);
}

static size_t format_enum(const struct cfg_option *o, const void *src, char *buf, size_t len)
{
	int v = *(const int *)src, n = 0;

	while (o->names[n])
		n++;
	if (v < 0 || v >= n)
		return (size_t)snprintf(buf, len, "(invalid %d)", v);
	return (size_t)snprintf(buf, len, "%s", o->names[v]);
}

/* "v4", "v4:port", "v6" or "[v6]:port", numeric only, on a C string copy. */
static bool parse_addr(const struct cfg_option *o, const char *s, size_t n, void *dst, char *why)
{
	struct cfg_addr a;
	char buf[INET6_ADDRSTRLEN + 8], *host = buf, *port = NULL, *p;
	bool v6 = false, overflow;
	uint64_t pv = 0;

	(void)o;
	memset(&a, 0, sizeof(a));
	if (n >= sizeof(buf) || memchr(s, '\0', n))
		goto bad_addr;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (buf[0] == '[') {
		host = buf + 1;
		p = strchr(host, ']');
		if (!p || (p[1] != '\0' && p[1] != ':'))
			goto bad_addr;
		*p = '\0';
		port = p[1] ? p + 2 : NULL;
		v6 = true;
	} else if ((p = strchr(buf, ':')) && !strchr(p + 1, ':')) {
		*p = '\0';
		port = p + 1;
	} else {
		v6 = p != NULL;
	}
	if (inet_pton(v6 ? AF_INET6 : AF_INET, host,
		      v6 ? (void *)&a.u.sin6.sin6_addr : (void *)&a.u.sin.sin_addr) != 1)
		goto bad_addr;
	if (port && (!*port || scan_u64(port, strlen(port), &pv, &overflow) != strlen(port) ||
		     overflow || pv > 65535))
		return bad(why, s, n, " has an invalid port (0..65535)");
	a.has_port = port != NULL;
	a.u.sa.sa_family = v6 ? AF_INET6 : AF_INET;
	if (v6)
		a.u.sin6.sin6_port = htons((uint16_t)pv);
	else
		a.u.sin.sin_port = htons((uint16_t)pv);
	a.len = v6 ? sizeof(a.u.sin6) : sizeof(a.u.sin);
	memcpy(dst, &a, sizeof(a));
	return true;
bad_addr:
	return bad(why, s, n, " is not an IP address (e.g. 192.0.2.1:7000, [2001:db8::1]:7000)");
}

/* "192.0.2.1", "192.0.2.1:7000", "2001:db8::1", "[2001:db8::1]:7000"; unset: "". */
static size_t format_addr(const struct cfg_option *o, const void *src, char *buf, size_t len)
{
	const struct cfg_addr *a = src;
	char host[INET6_ADDRSTRLEN] = "?";
	bool v6 = a->u.sa.sa_family == AF_INET6;
	unsigned port = ntohs(v6 ? a->u.sin6.sin6_port : a->u.sin.sin_port);

	(void)o;
	if (a->len == 0)
		return (size_t)snprintf(buf, len, "%s", "");
	inet_ntop(a->u.sa.sa_family,
		  v6 ? (const void *)&a->u.sin6.sin6_addr : (const void *)&a->u.sin.sin_addr,
		  host, sizeof(host));
	if (!a->has_port)
		return (size_t)snprintf(buf, len, "%s", host);
	return (size_t)snprintf(buf, len, v6 ? "[%s]:%u" : "%s:%u", host, port);
}

void cfg_sockaddr_text(const struct sockaddr *sa, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN] = "?";

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s = (const void *)sa;

		inet_ntop(AF_INET, &s->sin_addr, ip, sizeof(ip));
		snprintf(buf, len, "%s:%u", ip, ntohs(s->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const void *)sa;

		inet_ntop(AF_INET6, &s->sin6_addr, ip, sizeof(ip));
		snprintf(buf, len, "[%s]:%u", ip, ntohs(s->sin6_port));
	} else {
		snprintf(buf, len, "?");
	}
}

static const struct type_ops type_ops[] = {
	[CFG_BOOL] = { sizeof(bool), parse_bool, format_bool },
	[CFG_INT] = { sizeof(int), parse_int, format_int },
	[CFG_SIZE] = { sizeof(uint64_t), parse_scaled, format_scaled },
	[CFG_DURATION] = { sizeof(uint64_t), parse_scaled, format_scaled },
	[CFG_STRING] = { 0, parse_string, format_string },
	[CFG_ENUM] = { sizeof(int), parse_enum, format_enum },
	[CFG_ADDR] = { sizeof(struct cfg_addr), parse_addr, format_addr },
};

static size_t field_size(const struct cfg_option *o)
{
	return type_ops[o->type].size ? type_ops[o->type].size : o->size;
}

/* ---- lines ---------------------------------------------------------------- */

/* Unescape a quoted value; *i starts after the opening quote and ends past
 * the closing one. */
static bool unquote(struct cfg *c, const struct cfg_option *o, const char *s, size_t n,
		    size_t *i, char *out, size_t *outlen)
{
	static const char esc[] = "\"\\ntr", raw[] = "\"\\\n\t\r";
	char q[QUOTE_BUF];
	size_t j = 0, start = *i - 1;
	const char *e;

	for (; *i < n && s[*i] != '"'; (*i)++) {
		char ch = s[*i];

		if (ch == '\\' && *i + 1 < n) {
			e = memchr(esc, s[++*i], sizeof(esc) - 1);
			if (!e)
				return cfg_errf(c, true, "%s: bad escape %s in quoted value",
						o->name, quote(q, s + *i - 1, 2));
			ch = raw[e - esc];
		}
		if (j == CFG_VALUE_MAX - 1)
			return cfg_errf(c, true, "%s: %s is too long (at most %d bytes)", o->name,
					quote(q, s + start + 1, n - start - 1), CFG_VALUE_MAX - 1);
		out[j++] = ch;
	}
	if (*i == n)
		return cfg_errf(c, true, "%s: unterminated quoted value %s", o->name,
				quote(q, s + start, n - start));
	(*i)++;
	*outlen = j;
	return true;
}

/* The value after '=', quoted or bare, without comment or blanks, into out
 * (CFG_VALUE_MAX bytes, NUL-terminated; it may hold NULs of its own). */
static bool value_extract(struct cfg *c, const struct cfg_option *o, const char *s, size_t n,
			  char *out, size_t *outlen)
{
	char q[QUOTE_BUF];
	size_t i = 0, end;

	while (i < n && is_blank(s[i]))
		i++;
	if (i < n && s[i] == '"') {
		i++;
		if (!unquote(c, o, s, n, &i, out, outlen))
			return false;
		while (i < n && is_blank(s[i]))
			i++;
		if (i < n && s[i] != '#' && s[i] != ';')
			return cfg_errf(c, true, "%s: unexpected %s after quoted value",
					o->name, quote(q, s + i, n - i));
		out[*outlen] = '\0';
		return true;
	}
	for (end = i; end < n && s[end] != '#' && s[end] != ';'; end++)
		;
	while (end > i && is_blank(s[end - 1]))
		end--;
	if (end - i >= CFG_VALUE_MAX)
		return cfg_errf(c, true, "%s: %s is too long (at most %d bytes)", o->name,
				quote(q, s + i, end - i), CFG_VALUE_MAX - 1);
	memcpy(out, s + i, end - i);
	out[end - i] = '\0';
	*outlen = end - i;
	return true;
}

/* "[name]", optionally followed by a comment. */
static bool section_line(struct cfg *c, const char *s, size_t n)
{
	char q[QUOTE_BUF];
	const char *close = memchr(s, ']', n), *name, *rest;
	size_t len, restlen;

	if (!close)
		return cfg_errf(c, true, "missing \"]\" in section header %s", quote(q, s, n));
	restlen = n - (size_t)(close + 1 - s);
	rest = trim(close + 1, &restlen);
	if (restlen > 0 && rest[0] != '#' && rest[0] != ';')
		return cfg_errf(c, true, "unexpected %s after section header",
				quote(q, rest, restlen));
	len = (size_t)(close - s - 1);
	name = trim(s + 1, &len);
	for (size_t i = 0; i < c->nopts; i++) {
		if (c->table[i].section && span_is(name, len, c->table[i].section)) {
			c->section = c->table[i].section;
			return true;
		}
	}
	return cfg_errf(c, true, "unknown section %s", quote(q, name, len));
}

static int option_find(const struct cfg *c, const char *key, size_t n)
{
	for (size_t i = 0; i < c->nopts; i++) {
		const struct cfg_option *o = &c->table[i];

		if (same_section(o->section, c->section) && span_is(key, n, o->name))
			return (int)i;
	}
	return -1;
}

/* "key = value": look the key up in the current section, parse the value. */
static bool assignment_line(struct cfg *c, const char *s, size_t n)
{
	char q[QUOTE_BUF], why[CFG_ERR_MAX], val[CFG_VALUE_MAX];
	const char *eq = memchr(s, '=', n), *key;
	const struct cfg_option *o;
	size_t klen, vlen = 0;
	int i;

	if (!eq)
		return cfg_errf(c, true, "expected \"key = value\" or \"[section]\", got %s",
				quote(q, s, n));
	klen = (size_t)(eq - s);
	key = trim(s, &klen);
	if (klen == 0)
		return cfg_errf(c, true, "missing option name before \"=\"");
	i = option_find(c, key, klen);
	if (i < 0 && c->section)
		return cfg_errf(c, true, "unknown option %s in [%s]", quote(q, key, klen),
				c->section);
	if (i < 0)
		return cfg_errf(c, true, "unknown option %s before any [section]",
				quote(q, key, klen));
	o = &c->table[i];
	if (c->set_on[i])
		return cfg_errf(c, true, "%s: already set on line %u", o->name, c->set_on[i]);
	if (!value_extract(c, o, eq + 1, n - (size_t)(eq + 1 - s), val, &vlen))
		return false;
	if (!type_ops[o->type].parse(o, val, vlen, field(o, c->target), why))
		return cfg_errf(c, true, "%s: %s", o->name, why);
	c->set_on[i] = c->lineno;
	return true;
}

bool cfg_line(struct cfg *c, const char *line, size_t len)
{
	const char *s = trim(line, &len);

	c->lineno++;
	c->err[0] = '\0';
	if (len == 0 || s[0] == '#' || s[0] == ';')
		return true;
	if (s[0] == '[')
		return section_line(c, s, len);
	return assignment_line(c, s, len);
}

/* ---- whole parses --------------------------------------------------------- */

static bool option_sane(const struct cfg_option *o)
{
	switch (o->type) {
	case CFG_BOOL:
	case CFG_ADDR:
		return true;
	case CFG_INT:
		return o->min <= o->max && o->min >= INT_MIN && o->max <= INT_MAX;
	case CFG_SIZE:
	case CFG_DURATION:
		return o->min >= 0 && o->min <= o->max;
	case CFG_STRING:
		return o->size > 0;
	case CFG_ENUM:
		return o->names && o->names[0];
	}
	return false;
}

int cfg_init(struct cfg *c, const struct cfg_option *table, void *target)
{
	char why[CFG_ERR_MAX];
	size_t i, j;

	memset(c, 0, sizeof(*c));
	c->table = table;
	c->target = target;
	for (i = 0; table[i].name; i++) {
		const struct cfg_option *o = &table[i];

		if (i == CFG_MAX_OPTIONS)
			return cfg_errf(c, false, "more than %d options", CFG_MAX_OPTIONS), -E2BIG;
		if (!option_sane(o))
			return cfg_errf(c, false, "option %s: bad table entry", o->name), -EINVAL;
		for (j = 0; j < i; j++)
			if (same_section(table[j].section, o->section) &&
			    strcmp(table[j].name, o->name) == 0)
				return cfg_errf(c, false, "option %s: defined twice", o->name), -EINVAL;
		if (!o->def)
			memset(field(o, target), 0, field_size(o));
		else if (!type_ops[o->type].parse(o, o->def, strlen(o->def), field(o, target), why))
			return cfg_errf(c, false, "default of %s: %s", o->name, why), -EINVAL;
	}
	c->nopts = i;
	return 0;
}

bool cfg_finish(struct cfg *c)
{
	for (size_t i = 0; i < c->nopts; i++) {
		const struct cfg_option *o = &c->table[i];

		if (!(o->flags & CFG_REQUIRED) || c->set_on[i])
			continue;
		if (o->section)
			return cfg_errf(c, false, "[%s] %s: required option is not set",
					o->section, o->name);
		return cfg_errf(c, false, "%s: required option is not set", o->name);
	}
	return true;
}

bool cfg_feed(struct cfg *c, const char *text, size_t len)
{
	size_t off = 0;

	while (off < len) {
		const char *nl = memchr(text + off, '\n', len - off);
		size_t n = nl ? (size_t)(nl - (text + off)) : len - off;

		if (!cfg_line(c, text + off, n))
			return false;
		off += n + 1;
	}
	return cfg_finish(c);
}

bool cfg_parse_buffer(const struct cfg_option *table, void *target, const char *text,
		      size_t len, char *err, size_t errlen)
{
	struct cfg c;
	bool ok = cfg_init(&c, table, target) == 0 && cfg_feed(&c, text, len);

	if (err && errlen > 0)
		snprintf(err, errlen, "%s", ok ? "" : c.err);
	return ok;
}

/* ---- formatting and comparing --------------------------------------------- */

int cfg_format(const struct cfg_option *o, const void *target, char *buf, size_t len)
{
	size_t n;

	if (!option_sane(o))
		return -EINVAL;
	n = type_ops[o->type].format(o, field(o, target), buf, len);
	return n < len && n <= INT_MAX ? (int)n : -ENOSPC;
}

bool cfg_equal(const struct cfg_option *o, const void *a, const void *b)
{
	const void *pa = field(o, a), *pb = field(o, b);
	const struct cfg_addr *aa = pa, *ab = pb;

	switch (o->type) {
	case CFG_STRING:
		return strncmp(pa, pb, o->size) == 0;
	case CFG_ADDR:
		return aa->len == ab->len && aa->has_port == ab->has_port &&
		       memcmp(&aa->u, &ab->u, aa->len) == 0;
	default:
		return memcmp(pa, pb, field_size(o)) == 0;
	}
}

bool cfg_diff_nonreloadable(const struct cfg_option *table, const void *prev,
			    const void *next, char *err, size_t errlen)
{
	char a[128], b[128];

	for (const struct cfg_option *o = table; o->name; o++) {
		if ((o->flags & CFG_RELOADABLE) || cfg_equal(o, prev, next))
			continue;
		cfg_format(o, prev, a, sizeof(a));
		cfg_format(o, next, b, sizeof(b));
		if (err && errlen > 0)
			snprintf(err, errlen, "%s%s%s%s: changed from %s to %s, needs a restart",
				 o->section ? "[" : "", o->section ? o->section : "",
				 o->section ? "] " : "", o->name, a[0] ? a : "(unset)",
				 b[0] ? b : "(unset)");
		return true;
	}
	if (err && errlen > 0)
		err[0] = '\0';
	return false;
}
