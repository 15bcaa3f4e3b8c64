/*
 * hbctl: colo-heartbeat's control commands (see hbctl.h).
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/ctl.h"
#include "common/loop.h"
#include "heartbeat/hb.h"
#include "heartbeat/hbctl.h"
#include "heartbeat/plan.h"

static json_t *ms_ago(uint64_t then_ns, uint64_t now_ns)
{
	return then_ns ? json_real((double)(now_ns - then_ns) / 1e6) :
	       json_null();
}

static json_t *plan_json(const struct plan *p)
{
	json_t *steps = json_array();

	for (unsigned i = 0; i < plan_nsteps(p); i++) {
		const struct plan_step_info *si = plan_step(p, i);

		json_array_append_new(steps, json_pack(
			"{s:s,s:b,s:b,s:i,s:f,s:s}", "step", si->name,
			"done", si->done, "skipped", si->skipped,
			"attempts", (int)si->attempts, "ms", si->took_us / 1000.0,
			"last_error", si->last_error));
	}
	return json_pack("{s:s,s:f,s:o}", "plan", hb_plan_name(plan_kind(p)),
			 "started_mono_s", plan_started_ns(p) / 1e9,
			 "steps", steps);
}

static json_t *witness_status(const struct hb *h, uint64_t now)
{
	json_t *nodes = json_object();

	for (int i = 1; i <= HB_ARB_NODES; i++) {
		if (!h->arb.node[i].seen)
			continue;
		json_object_set_new(nodes, hb_node_name(i), json_pack(
			"{s:s,s:s,s:I,s:b,s:o}",
			"role", hb_role_name(h->arb.node[i].role),
			"state", hb_state_name(h->arb.node[i].state),
			"term", (json_int_t)h->arb.node[i].term,
			"vm_up", (h->arb.node[i].flags & HB_F_VM_UP) != 0,
			"last_ms_ago", ms_ago(h->arb.node[i].last_ns, now)));
	}
	return json_pack("{s:s,s:s,s:I,s:s,s:o,s:I,s:I,s:I}", "node", "witness",
			 "pair", h->cf.name, "term", (json_int_t)h->arb.term,
			 "holder", hb_node_name(h->arb.holder), "nodes", nodes,
			 "grants", (json_int_t)h->arb.grants,
			 "refusals", (json_int_t)h->arb.refusals,
			 "deferrals", (json_int_t)h->arb.deferrals);
}

static json_t *node_status(const struct hb *h, uint64_t now)
{
	const struct hb_fsm *f = &h->fsm;
	json_t *paths = json_object(), *o;

	for (int i = 0; i < HB_PATHS; i++)
		if (h->path[i].fd >= 0)
			json_object_set_new(paths, i ? "lan" : "replication",
				json_pack("{s:b,s:o}", "up", h->path[i].up,
					  "last_ms_ago",
					  ms_ago(h->path[i].last_fresh_ns, now)));
	o = json_pack("{s:s,s:s,s:s,s:s,s:I,s:b,s:s,s:f}", "node",
		      hb_node_name(h->self), "pair", h->cf.name, "role",
		      hb_role_name(f->role), "state", hb_state_name(f->state),
		      "term", (json_int_t)f->term, "protected", f->protected_,
		      "why", f->why, "since_s", (now - f->since_ns) / 1e9);
	json_object_set_new(o, "peer", !h->peer_seen ? json_null() : json_pack(
		"{s:s,s:s,s:s,s:I,s:b,s:b}", "node", hb_node_name(h->peer),
		"role", hb_role_name(h->peer_msg.role),
		"state", hb_state_name(h->peer_msg.state),
		"term", (json_int_t)h->peer_msg.term,
		"vm_up", (h->peer_msg.flags & HB_F_VM_UP) != 0,
		"colo", (h->peer_msg.flags & HB_F_COLO) != 0));
	if (h->peer_seen)
		json_object_set_new(json_object_get(o, "peer"), "ready",
			json_boolean(h->peer_msg.flags & HB_F_READY));
	json_object_set_new(o, "paired", json_boolean(f->paired));
	json_object_set_new(o, "paths", paths);
	json_object_set_new(o, "witness", h->wfd < 0 ? json_null() : json_pack(
		"{s:o,s:s}", "last_ms_ago", ms_ago(h->witness_last_ns, now),
		"last_verdict", h->last_verdict));
	if (h->cf.fence_domain[0])
		json_object_set_new(o, "fence", json_pack(
			"{s:s,s:s,s:b,s:s}", "domain", h->cf.fence_domain,
			"libvirt", h->cf.fence_uri, "running",
			h->fence_job != NULL, "last", h->last_fence));
	json_object_set_new(o, "vm", json_pack("{s:b,s:b,s:b}", "up", h->vm_up,
					       "colo", h->colo, "incoming",
					       h->incoming));
	if (f->state == HB_S_CLAIMING) {
		json_object_set_new(o, "claiming_term",
				    json_integer((json_int_t)f->claim_term));
		json_object_set_new(o, "claim_by_hand",
				    json_boolean(f->manual));
	}
	json_object_set_new(o, "plan", h->plan ? plan_json(h->plan) :
			    json_null());
	json_object_set_new(o, "last_failover_ms", h->last_failover_us ?
			    json_real(h->last_failover_us / 1000.0) :
			    json_null());
	return o;
}

/* "key: value" lines from a flat-ish object; nested objects inline. */
static void text_out(json_t *o, struct buf *out, const char *prefix)
{
	const char *k;
	json_t *v;

	json_object_foreach(o, k, v) {
		if (json_is_object(v)) {
			char p[64];

			snprintf(p, sizeof(p), "%s%s.", prefix, k);
			text_out(v, out, p);
			continue;
		}
		char *s = json_is_string(v) ? NULL :
			  json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY |
				     JSON_REAL_PRECISION(4));

		bprintf(out, "%s%s: %s\n", prefix, k,
			s ? s : json_string_value(v));
		free(s);
	}
}

static void emit(json_t *o, bool json, struct buf *out)
{
	if (json) {
		char *s = json_dumps(o, JSON_INDENT(2) | JSON_REAL_PRECISION(6));

		bprintf(out, "%s\n", s ? s : "{}");
		free(s);
	} else {
		text_out(o, out, "");
	}
	json_decref(o);
}

static void counter(json_t *o, struct buf *out, const char *name,
		    uint64_t v)
{
	if (o)
		json_object_set_new(o, name, json_integer((json_int_t)v));
	else
		bprintf(out, "hb.%s %llu\n", name, (unsigned long long)v);
}

static void counters_out(const struct hb *h, bool json, struct buf *out)
{
	json_t *o = json ? json_object() : NULL;
	char name[32];

#define X(c) counter(o, out, #c, h->n.c);
	HB_COUNTERS(X)
#undef X
	counter(o, out, "peer_restarts", h->rx_peer.restarts);
	for (int i = 0; i < HB_PATHS; i++) {
		const char *path = i ? "lan" : "replication";

		snprintf(name, sizeof(name), "%s_down", path);
		counter(o, out, name, h->path[i].downs);
		snprintf(name, sizeof(name), "%s_up", path);
		counter(o, out, name, h->path[i].ups);
	}
	if (o)
		emit(o, true, out);
}

int hbctl_handle(void *arg, char *line, struct buf *out)
{
	struct hb *h = arg;
	char *cmd = strtok(line, " \t"), *opt = strtok(NULL, " \t");
	bool json = opt && !strcmp(opt, "json");
	char err[160];

	if (opt && !json) {
		bprintf(out, "unexpected argument \"%s\" (only \"json\")", opt);
		return -1;
	}
	if (cmd && !strcmp(cmd, "status")) {
		emit(h->self == 3 ? witness_status(h, loop_now_ns()) :
		     node_status(h, loop_now_ns()), json, out);
		return 0;
	}
	if (cmd && !strcmp(cmd, "counters")) {
		counters_out(h, json, out);
		return 0;
	}
	if (cmd && !strcmp(cmd, "failover") && h->self != 3) {
		if (!hb_fail_by_hand(h, err, sizeof(err))) {
			bprintf(out, "%s", err);
			return -1;
		}
		bprintf(out, "failing over: %s\n", h->fsm.why);
		return 0;
	}
	if (cmd && !strcmp(cmd, "reprotect") && h->self != 3) {
		if (!hb_reprotect(h, err, sizeof(err))) {
			bprintf(out, "%s", err);
			return -1;
		}
		bprintf(out, "re-protecting: migrating to %s\n",
			h->cf.reprotect_uri);
		return 0;
	}
	bprintf(out, "unknown command \"%s\"; try status [json], counters "
		"[json]%s", cmd ? cmd : "", h->self == 3 ? "" :
		", failover, reprotect");
	return -1;
}
