/*
 * status: the control socket's commands (common/ctl.h's line protocol,
 * as colo-proxy's, so that coloctl -s SOCKET status|counters|checkpoints
 * [--json] works).
 *
 *   status [json]        role, addresses, the relayed connection, last fault
 *   counters [json]      every counter: relay, errors, forward, reverse,
 *                        checkpoints
 *   checkpoints [json]   the last checkpoints: bytes raw and on the wire,
 *                        chunks, durations, codec time
 *   help
 *
 * Text is "key value" per line ("group.key value" in groups), for grep;
 * json is one object, groups as nested objects.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/ctl.h"
#include "common/emit.h"
#include "common/loop.h"
#include "relay/relay.h"

/* ---- status ------------------------------------------------------------------- */

static void status_sess(const struct relay *r, const struct relay_sess *s,
			struct emit *e)
{
	char id[24];

	snprintf(id, sizeof(id), "%016" PRIx64, s->id);
	emit_str(e, "state", relay_state_name(s->state));
	emit_str(e, "session", id);
	emit_str(e, "qemu", s->local.addr[0] ? s->local.addr : "-");
	emit_str(e, "peer", s->peer.addr[0] ? s->peer.addr : "-");
	emit_str(e, "peer_compression", !s->dec.hello_seen ? "-" :
		 s->dec.hello.flags & RLY_HF_ZSTD ? "zstd" : "off");
	emit_u64(e, "session_age_ms", loop_now_ms() - s->since_ms);
	emit_u64(e, "pending_handshake", r->pending != NULL);
}

static void cmd_status(const struct relay *r, struct emit *e)
{
	char a[64];

	emit_str(e, "name", r->cf.name);
	emit_str(e, "role", relay_role_name(r->cf.role));
	cfg_sockaddr_text(&r->cf.listen.u.sa, a, sizeof(a));
	emit_str(e, "listen", a);
	emit_u64(e, "listen_port", r->port);
	cfg_sockaddr_text(&r->cf.connect.u.sa, a, sizeof(a));
	emit_str(e, "connect", a);
	emit_str(e, "compression", r->cf.compress ? "zstd" : "off");
	emit_int(e, "level", r->cf.level);
	emit_u64(e, "uptime_ms", loop_now_ms() - r->start_ms);
	if (r->cur)
		status_sess(r, r->cur, e);
	else
		emit_str(e, "state", "idle");
	emit_u64(e, "sessions", r->st.sessions);
	emit_u64(e, "checkpoints", r->st.nrec);
	emit_u64(e, "checkpoint_open_bytes", r->st.open ?
		 r->st.cur.raw_bytes : 0);
	emit_str(e, "last_fault", r->last_fault[0] ? r->last_fault : "-");
}

/* ---- counters ------------------------------------------------------------------ */

static void counters_dir(const struct relay *r, struct emit *e,
			 enum rly_dir dir)
{
	const struct rly_dir_stats *d = &r->st.dir[dir];

	emit_group(e, dir == RLY_FWD ? "forward" : "reverse");
	emit_u64(e, "chunks", d->chunks);
	emit_u64(e, "raw_bytes", d->raw_bytes);
	emit_u64(e, "wire_bytes", d->wire_bytes);
	emit_ratio(e, "ratio", d->raw_bytes, d->wire_bytes);
	emit_str(e, "codec", (dir == RLY_FWD) == (r->cf.role == RELAY_PRIMARY)
		 ? "compress" : "decompress");
	emit_u64(e, "codec_total_us", d->codec_ns / 1000);
	emit_u64(e, "codec_p50_ns", rly_stats_pct(&r->st, dir, 50));
	emit_u64(e, "codec_p99_ns", rly_stats_pct(&r->st, dir, 99));
	emit_u64(e, "codec_max_ns", d->codec_max_ns);
	emit_u64(e, "buffered_max", d->buffered_max);
}

static void cmd_counters(const struct relay *r, struct emit *e)
{
	const struct rly_stats *st = &r->st;
	const struct rly_ckpt *last = rly_stats_ckpt(st, rly_stats_kept(st) ?
						     rly_stats_kept(st) - 1 : 0);

	emit_group(e, "relay");
#define X(n) emit_u64(e, #n, st->n);
	RLY_COUNTERS(X)
#undef X
	emit_group(e, "errors");
	for (int f = 0; f < RLY_F_MAX; f++)
		emit_u64(e, rly_fault_name(f), st->faults[f]);
	counters_dir(r, e, RLY_FWD);
	counters_dir(r, e, RLY_REV);
	emit_group(e, "checkpoints");
	emit_u64(e, "recorded", st->nrec);
	emit_u64(e, "small_exchanges", st->small_exchanges);
	emit_u64(e, "unfinished", st->unfinished);
	emit_u64(e, "last_raw_bytes", last ? last->raw_bytes : 0);
	emit_u64(e, "last_wire_bytes", last ? last->wire_bytes : 0);
	emit_u64(e, "last_duration_us", last ?
		 (last->end_ns - last->start_ns) / 1000 : 0);
}

/* ---- checkpoints ----------------------------------------------------------------- */

static void one_ckpt(struct emit *e, const struct rly_ckpt *c, uint64_t now)
{
	char g[32];

	snprintf(g, sizeof(g), "c%" PRIu64, c->seq);
	emit_group(e, g);
	emit_u64(e, "raw_bytes", c->raw_bytes);
	emit_u64(e, "wire_bytes", c->wire_bytes);
	emit_ratio(e, "ratio", c->raw_bytes, c->wire_bytes);
	emit_u64(e, "chunks", c->chunks);
	emit_u64(e, "send_us", (c->last_ns - c->start_ns) / 1000);
	emit_u64(e, "duration_us", (c->end_ns - c->start_ns) / 1000);
	emit_u64(e, "codec_us", c->codec_ns / 1000);
	emit_u64(e, "ended_ms_ago", (now - c->end_ns) / 1000000);
}

static void cmd_checkpoints(const struct relay *r, struct emit *e)
{
	const struct rly_stats *st = &r->st;
	uint64_t now = loop_now_ns();
	size_t kept = rly_stats_kept(st);

	emit_u64(e, "total", st->nrec);
	emit_u64(e, "kept", kept);
	emit_u64(e, "min_bytes", st->min_bytes);
	for (size_t i = 0; i < kept; i++)
		one_ckpt(e, rly_stats_ckpt(st, i), now);
	if (st->open) {
		emit_group(e, "open");
		emit_u64(e, "raw_bytes", st->cur.raw_bytes);
		emit_u64(e, "wire_bytes", st->cur.wire_bytes);
		emit_u64(e, "chunks", st->cur.chunks);
		emit_u64(e, "age_us", (now - st->cur.start_ns) / 1000);
	}
}

/* ---- dispatch ---------------------------------------------------------------------- */

static const char help_text[] =
	"commands: status [json] | counters [json] | checkpoints [json] | "
	"help\n";

int relay_ctl(void *arg, char *line, struct buf *out)
{
	const struct relay *r = arg;
	char *save = NULL, *cmd = strtok_r(line, " \t", &save);
	char *a1 = strtok_r(NULL, " \t", &save);
	bool json = a1 && !strcmp(a1, "json");
	struct emit e;

	if (!cmd || !strcmp(cmd, "help")) {
		bprintf(out, "%s", help_text);
		return 0;
	}
	if (a1 && !json) {
		bprintf(out, "unexpected argument \"%s\" (only \"json\")", a1);
		return -1;
	}
	emit_begin(&e, out, json);
	if (!strcmp(cmd, "status")) {
		cmd_status(r, &e);
	} else if (!strcmp(cmd, "counters")) {
		cmd_counters(r, &e);
	} else if (!strcmp(cmd, "checkpoints")) {
		cmd_checkpoints(r, &e);
	} else {
		buf_reset(out);
		bprintf(out, "unknown command \"%s\" (try help)", cmd);
		return -1;
	}
	emit_end(&e);
	return 0;
}
