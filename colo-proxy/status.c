/*
 * status: the control socket's commands.
 *
 *   status [json]        role, mode, epoch, channel, backend, held output
 *   counters [json]      every counter, grouped by module
 *   divergences [json]   the last checkpoint requests of the comparator
 *   flows [json]         the comparator's flows (primary)
 *   mode NAME            protected | solo (primary) | takeover (secondary)
 *   checkpoints [json]   the last checkpoints: reason, epoch, durations
 *   checkpoint           ask for a checkpoint (reason "manual")
 *   help
 *
 * Text output is "key value" per line ("group.key value" for counters), so
 * that scripts can grep it; json is one object.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/ctl.h"
#include "common/emit.h"
#include "colo-proxy/proxy.h"
#include "common/loop.h"


/* ---- status ---------------------------------------------------------------- */

static void cmd_status(struct proxy *p, struct emit *e)
{
	char text[512];

	emit_str(e, "name", p->cf.name);
	emit_str(e, "role", proxy_role_name(p->cf.role));
	emit_str(e, "mode", proxy_mode_name(p->mode));
	emit_u64(e, "epoch", p->epoch);
	emit_u64(e, "uptime_ms", loop_now_ms() - p->start_ms);
	chan_describe(p->chan, text, sizeof(text));
	emit_str(e, "channel", text);
	emit_str(e, "firewall", rules_backend_name(p->rules.backend));
	p->ck.ops->describe(p->ck.ctx, text, sizeof(text));
	emit_str(e, "checkpoint_backend", text);
	emit_str(e, "checkpoint_state", ckpt_state_name(p->ck.state));
	if (p->ck.state != CKPT_IDLE)
		emit_str(e, "checkpoint_reason", ckpt_reason_name(p->ck.reason));
	emit_u64(e, "checkpoints", p->ck.completed);
	emit_u64(e, "held_frames", p->held.count);
	emit_u64(e, "held_bytes", p->held.bytes);
	emit_u64(e, "queue_in_outstanding", p->qin ? nfq_outstanding(p->qin) : 0);
	emit_u64(e, "queue_out_outstanding",
		 p->qout ? nfq_outstanding(p->qout) : 0);
	emit_u64(e, "parked", p->nparked);
	/* primary: the connections it took over as a secondary; secondary:
	 * those its rewriter translates now (a takeover would keep them) */
	emit_u64(e, "taken_over_connections",
		 p->legacy ? rw_export(p->legacy, NULL, NULL) : 0);
	emit_u64(e, "translated_connections",
		 p->rw ? rw_export(p->rw, NULL, NULL) : 0);
	emit_u64(e, "divergences", p->n.divergences);
}

/* ---- counters ------------------------------------------------------------- */

static void counters_nfq(struct emit *e, const char *group, struct nfq *q)
{
	const struct nfq_stats *s;
	struct nfq_kstats k;

	if (!q)
		return;
	s = nfq_get_stats(q);
	emit_group(e, group);
#define N(f) emit_u64(e, #f, s->f)
	N(packets); N(bytes); N(recv_calls); N(recv_msgs); N(enobufs);
	N(id_gaps); N(truncated); N(gso); N(csum_partial); N(malformed);
	N(accepted); N(dropped); N(mangled); N(batch_verdicts);
	N(single_verdicts); N(sendmsg_calls); N(send_errors);
	N(outstanding_max);
#undef N
	if (nfq_read_kstats(q, &k) == 0) {
		emit_u64(e, "kernel_queue_total", k.queue_total);
		emit_u64(e, "kernel_queue_dropped", k.queue_dropped);
		emit_u64(e, "kernel_user_dropped", k.user_dropped);
		emit_u64(e, "kernel_id_sequence", k.id_sequence);
	}
}

static void counters_cmp(struct emit *e, const struct cmp *c)
{
	const struct cmp_stats *s = cmp_get_stats(c);

	emit_group(e, "compare");
#define N(f) emit_u64(e, #f, s->f)
	emit_u64(e, "frames_primary", s->frames_in[0]);
	emit_u64(e, "frames_secondary", s->frames_in[1]);
	N(released); N(released_committed); N(dropped); N(late_released);
	N(deferred); N(commits);
	N(flows_created); N(flows_retired); N(flows_active); N(held_bytes);
	N(held_bytes_max); N(held_frames); N(held_frames_max);
	N(matched_bytes);
	emit_u64(e, "malformed_primary", s->malformed[0]);
	emit_u64(e, "malformed_secondary", s->malformed[1]);
#undef N
	for (int r = 1; r < CMP_R_MAX; r++) {
		char key[48];

		snprintf(key, sizeof(key), "request_%s", cmp_reason_name(r));
		emit_u64(e, key, s->checkpoint_requests[r]);
	}
}

static void counters_rw(struct emit *e, const struct rw *rw)
{
	const struct rw_stats *s = rw_get_stats(rw);

	emit_group(e, "rewrite");
#define N(f) emit_u64(e, #f, s->f)
	emit_u64(e, "packets_to_vm", s->packets[RW_TO_VM]);
	emit_u64(e, "packets_from_vm", s->packets[RW_FROM_VM]);
	emit_u64(e, "rewritten_to_vm", s->rewritten[RW_TO_VM]);
	emit_u64(e, "rewritten_from_vm", s->rewritten[RW_FROM_VM]);
	N(sack_blocks); N(learnt_hint); N(learnt_ack); N(ts_learnt); N(waits);
	N(malformed); N(resets); N(conns_active); N(conns_created);
	N(conns_expired); N(conns_evicted);
#undef N
}

static void counters_chan(struct emit *e, const struct chan_stats *s)
{
	emit_group(e, "channel");
#define N(f) emit_u64(e, #f, s->f)
	N(connects); N(disconnects); N(refused); N(proto_errors); N(timeouts);
	N(peer_restarts); N(tx_msgs); N(tx_bytes); N(tx_dropped_down);
	N(tx_dropped_full); N(tx_direct); N(rx_msgs); N(rx_bytes); N(rx_gaps);
	N(rx_missed); N(tx_missed); N(buffered); N(buffered_max);
#undef N
}

static void counters_ckpt(struct emit *e, const struct ckpt *c)
{
	emit_group(e, "checkpoint");
	for (int r = 0; r < CKPT_R_MAX; r++) {
		char key[48];

		snprintf(key, sizeof(key), "requests_%s", ckpt_reason_name(r));
		emit_u64(e, key, c->requests[r]);
	}
	for (int r = 0; r < CKPT_R_MAX; r++) {
		char key[48];

		snprintf(key, sizeof(key), "completed_%s", ckpt_reason_name(r));
		emit_u64(e, key, c->completed_by[r]);
	}
	emit_u64(e, "issued", c->issued);
	emit_u64(e, "merged", c->merged);
	emit_u64(e, "covered", c->covered);
	emit_u64(e, "again", c->again);
	emit_u64(e, "refused", c->refused);
	emit_u64(e, "completed", c->completed);
	emit_u64(e, "unrequested", c->unrequested);
	emit_u64(e, "state_idle", c->state == CKPT_IDLE);
	emit_u64(e, "paused_p50_us", ckpt_percentile(c, false, 50));
	emit_u64(e, "paused_p99_us", ckpt_percentile(c, false, 99));
	emit_u64(e, "wait_p50_us", ckpt_percentile(c, true, 50));
	emit_u64(e, "wait_p99_us", ckpt_percentile(c, true, 99));
}

static void cmd_counters(struct proxy *p, struct emit *e)
{
	emit_group(e, "proxy");
#define X(f) emit_u64(e, #f, p->n.f);
	PROXY_COUNTERS(X)
#undef X
	emit_u64(e, "epoch", p->epoch);
	counters_ckpt(e, &p->ck);
	if (p->cmp)
		counters_cmp(e, p->cmp);
	if (p->rw)
		counters_rw(e, p->rw);
	counters_chan(e, chan_get_stats(p->chan));
	counters_nfq(e, "queue_in", p->qin);
	counters_nfq(e, "queue_out", p->qout);
	if (p->inj) {
		emit_group(e, "inject");
		emit_u64(e, "frames", p->inj->st.frames);
		emit_u64(e, "bytes", p->inj->st.bytes);
		emit_u64(e, "gso", p->inj->st.gso);
		emit_u64(e, "csum_offload", p->inj->st.csum_offload);
		emit_u64(e, "errors", p->inj->st.errors);
		emit_u64(e, "too_big", p->inj->st.too_big);
		emit_u64(e, "read_frames", p->inj->st.read_frames);
	}
	if (p->neigh) {
		emit_group(e, "neigh");
		emit_u64(e, "learnt", p->neigh->st.learnt);
		emit_u64(e, "updated", p->neigh->st.updated);
		emit_u64(e, "arp_answered", p->neigh->st.arp_answered);
		emit_u64(e, "nd_answered", p->neigh->st.nd_answered);
		emit_u64(e, "unknown", p->neigh->st.unknown);
	}
}

/* ---- divergences, flows ----------------------------------------------------- */

static void cmd_divergences(struct proxy *p, struct emit *e)
{
	uint64_t first = p->ndiv > PROXY_DIV_LOG ? p->ndiv - PROXY_DIV_LOG : 0;

	emit_u64(e, "total", p->ndiv);
	for (uint64_t i = first; i < p->ndiv; i++) {
		const struct proxy_div *d = &p->div[i % PROXY_DIV_LOG];
		char g[32];

		snprintf(g, sizeof(g), "d%" PRIu64, i);
		emit_group(e, g);
		emit_u64(e, "t_ms", d->t_ms);
		emit_u64(e, "epoch", d->epoch);
		emit_str(e, "reason", cmp_reason_name(d->reason));
		emit_str(e, "flow", d->flow);
		emit_u64(e, "offset", d->offset);
		emit_u64(e, "seq", d->seq);
		emit_str(e, "waiting", d->side == CMP_PRIMARY ? "primary" :
			 "secondary");
		emit_str(e, "dump", d->dump);
	}
}

/* The last checkpoints: reason, epoch, how long the VM paused and how long
 * the first request waited. */
static void cmd_checkpoints(struct proxy *p, struct emit *e)
{
	const struct ckpt *c = &p->ck;
	uint64_t n = c->nhist, first = n > 64 ? n - 64 : 0;

	emit_u64(e, "total", c->completed);
	for (uint64_t i = first; i < n; i++) {
		const struct ckpt_record *r = &c->hist[i % CKPT_HISTORY];
		char g[32];

		snprintf(g, sizeof(g), "c%" PRIu64, i);
		emit_group(e, g);
		emit_u64(e, "epoch", r->epoch);
		emit_str(e, "reason", ckpt_reason_name(r->reason));
		emit_u64(e, "merged", r->merged);
		emit_u64(e, "paused_us", r->stop_us);
		emit_u64(e, "wait_us", r->wait_us);
	}
}

struct flows_ctx {
	struct emit *e;
	unsigned n;
};

static void one_flow(const struct cmp_flow_key *k,
		     const struct cmp_flow_stats *s, void *arg)
{
	struct flows_ctx *fc = arg;
	char g[32], key[128];

	if (fc->n >= 1000)
		return;
	snprintf(g, sizeof(g), "f%u", fc->n++);
	emit_group(fc->e, g);
	emit_str(fc->e, "flow", cmp_key_format(k, key, sizeof(key)));
	emit_u64(fc->e, "frames_primary", s->frames[0]);
	emit_u64(fc->e, "frames_secondary", s->frames[1]);
	emit_u64(fc->e, "matched", s->matched);
	emit_u64(fc->e, "released", s->released);
	emit_u64(fc->e, "divergences", s->divergences);
}

static int cmd_flows(struct proxy *p, struct emit *e)
{
	struct flows_ctx fc = { e, 0 };

	if (!p->cmp)
		return -1;
	cmp_foreach_flow(p->cmp, one_flow, &fc);
	return 0;
}

/* ---- dispatch --------------------------------------------------------------- */

static const char help_text[] =
	"commands: status [json] | counters [json] | divergences [json] | "
	"flows [json] | checkpoints [json] | mode protected|solo|takeover | "
	"checkpoint | promote | help\n";

static int cmd_mode(struct proxy *p, const char *arg, struct buf *out)
{
	char err[256];
	int m = arg ? proxy_mode_parse(arg) : -1;

	if (m < 0) {
		bprintf(out, "mode: \"%s\" is not protected, solo or takeover",
			arg ? arg : "");
		return -1;
	}
	if (!proxy_set_mode(p, m, err, sizeof(err))) {
		bprintf(out, "%s", err);
		return -1;
	}
	bprintf(out, "mode %s\n", proxy_mode_name(p->mode));
	return 0;
}

int proxy_ctl(void *arg, char *line, struct buf *out)
{
	struct proxy *p = arg;
	char *save = NULL, *cmd = strtok_r(line, " \t", &save);
	char *a1 = strtok_r(NULL, " \t", &save);
	bool json = a1 && strcmp(a1, "json") == 0;
	struct emit e;
	int r = 0;

	if (!cmd || strcmp(cmd, "help") == 0) {
		bprintf(out, "%s", help_text);
		return 0;
	}
	if (strcmp(cmd, "mode") == 0)
		return cmd_mode(p, a1, out);
	if (strcmp(cmd, "promote") == 0) {
		char err[256];

		if (!proxy_promote(p, err, sizeof(err))) {
			bprintf(out, "%s", err);
			return -1;
		}
		bprintf(out, "role primary, mode %s\n",
			proxy_mode_name(p->mode));
		return 0;
	}
	if (strcmp(cmd, "checkpoint") == 0) {
		p->role->ask_checkpoint(p, CKPT_R_MANUAL);
		bprintf(out, "checkpoint requested (state %s, %" PRIu64
			" completed so far)\n", ckpt_state_name(p->ck.state),
			p->ck.completed);
		return 0;
	}
	emit_begin(&e, out, json);
	if (strcmp(cmd, "status") == 0)
		cmd_status(p, &e);
	else if (strcmp(cmd, "counters") == 0)
		cmd_counters(p, &e);
	else if (strcmp(cmd, "divergences") == 0)
		cmd_divergences(p, &e);
	else if (strcmp(cmd, "checkpoints") == 0)
		cmd_checkpoints(p, &e);
	else if (strcmp(cmd, "flows") == 0)
		r = cmd_flows(p, &e);
	else
		r = -2;
	if (r == 0) {
		emit_end(&e);
		return 0;
	}
	buf_reset(out);
	if (r == -2)
		bprintf(out, "unknown command \"%s\" (try help)", cmd);
	else
		bprintf(out, "no comparator in this role or mode");
	return -1;
}
