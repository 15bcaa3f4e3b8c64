/*
 * emit: the control sockets' answer bodies, as text or json from the same
 * calls (colo-proxy's and colo-relay's status, counters, checkpoints).
 *
 *   text   "key value" per line, "group.key value" inside a group: for grep
 *   json   one object, each group a nested object
 *
 *   emit_begin(&e, out, json);
 *   emit_u64(&e, "epoch", 7);
 *   emit_group(&e, "queue"); emit_u64(&e, "lost", 0);
 *   emit_end(&e);
 */
#ifndef COMMON_EMIT_H
#define COMMON_EMIT_H

#include <stdbool.h>
#include <stdint.h>

struct buf;

struct emit {
	struct buf *b;
	bool json;
	bool first_group, first_key;
	const char *group;
};

void emit_begin(struct emit *e, struct buf *b, bool json);
/* Keys from now on belong to group NAME (a string that outlives E). */
void emit_group(struct emit *e, const char *name);
void emit_u64(struct emit *e, const char *key, uint64_t v);
void emit_int(struct emit *e, const char *key, int v);
/* RAW / WIRE with two decimals; 0 when WIRE is 0. */
void emit_ratio(struct emit *e, const char *key, uint64_t raw, uint64_t wire);
/* Our strings (names, addresses, messages): quotes and backslashes
 * escaped, control characters shown as '?'. */
void emit_str(struct emit *e, const char *key, const char *v);
void emit_end(struct emit *e);

#endif /* COMMON_EMIT_H */
