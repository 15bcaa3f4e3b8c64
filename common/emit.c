/*
 * emit: text or json answer bodies (see emit.h).
 */
#include <inttypes.h>
#include <string.h>

#include "common/ctl.h"
#include "common/emit.h"

void emit_begin(struct emit *e, struct buf *b, bool json)
{
	memset(e, 0, sizeof(*e));
	e->b = b;
	e->json = json;
	e->first_group = e->first_key = true;
	if (json)
		bprintf(b, "{");
}

void emit_group(struct emit *e, const char *name)
{
	if (e->json)
		bprintf(e->b, "%s%s\"%s\":{", e->group ? "}" : "",
			e->first_group ? "" : ",", name);
	e->first_group = false;
	e->first_key = true;
	e->group = name;
}

static void emit_key(struct emit *e, const char *key)
{
	if (!e->group)
		e->first_group = false;	/* a group after it needs a comma */
	if (e->json)
		bprintf(e->b, "%s\"%s\":", e->first_key ? "" : ",", key);
	else if (e->group)
		bprintf(e->b, "%s.%s ", e->group, key);
	else
		bprintf(e->b, "%s ", key);
	e->first_key = false;
}

void emit_u64(struct emit *e, const char *key, uint64_t v)
{
	emit_key(e, key);
	bprintf(e->b, e->json ? "%" PRIu64 : "%" PRIu64 "\n", v);
}

void emit_int(struct emit *e, const char *key, int v)
{
	emit_key(e, key);
	bprintf(e->b, e->json ? "%d" : "%d\n", v);
}

void emit_ratio(struct emit *e, const char *key, uint64_t raw, uint64_t wire)
{
	emit_key(e, key);
	bprintf(e->b, e->json ? "%.2f" : "%.2f\n",
		wire ? (double)raw / (double)wire : 0.0);
}

void emit_str(struct emit *e, const char *key, const char *v)
{
	emit_key(e, key);
	if (!e->json) {
		bprintf(e->b, "%s\n", v);
		return;
	}
	bprintf(e->b, "\"");
	for (; *v; v++)
		bprintf(e->b, *v == '"' || *v == '\\' ? "\\%c" :
			(unsigned char)*v < 0x20 ? "?" : "%c", *v);
	bprintf(e->b, "\"");
}

void emit_end(struct emit *e)
{
	if (e->json)
		bprintf(e->b, "%s}\n", e->group ? "}" : "");
}
