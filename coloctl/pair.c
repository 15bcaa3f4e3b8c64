/*
 * coloctl pair / coloctl qemu: the QEMU side of a COLO pair, over QMP.
 *
 *   pair:  both   migrate-set-capabilities x-colo, events
 *          (--secondary alone prepares host B's half, --primary with
 *          --uri alone does host A's: for two real hosts)
 *          PVM    migrate-set-parameters x-checkpoint-delay
 *          PVM    migrate URI            (the SVM waits with -incoming)
 *          PVM    query-migrate ... until "colo"
 *   qemu:  query-status, query-migrate, query-colo-status
 *
 * (docs/COLO-FT.txt and LAB.md; a guest without disks needs no block
 * replication.)
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coloctl/coloctl.h"
#include "checkpoint/qmp_msg.h"
#include "coloctl/qsync.h"
#include "common/loop.h"

static const char *jstr(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "?";
}

static int set_caps(struct qsync *s, const char *who, char *err, size_t len)
{
	json_t *a = json_pack("{s:[{s:s,s:b},{s:s,s:b}]}", "capabilities",
			      "capability", "x-colo", "state", 1,
			      "capability", "events", "state", 1);
	char e[400];
	int r = qsync_call(s, "migrate-set-capabilities", a, NULL, e,
			   sizeof(e));

	json_decref(a);
	if (r < 0)
		snprintf(err, len, "%s: %s", who, e);
	return r;
}

/* The secondary must be waiting for the migration (-incoming). */
static int check_secondary(struct qsync *s, char *err, size_t len)
{
	json_t *st;
	char e[400];

	if (qsync_call(s, "query-status", NULL, &st, e, sizeof(e)) < 0) {
		snprintf(err, len, "secondary: %s", e);
		return -1;
	}
	if (strcmp(jstr(st, "status"), "inmigrate") != 0) {
		snprintf(err, len, "secondary: run state is \"%s\", not "
			 "\"inmigrate\": start its QEMU with -incoming "
			 "tcp:ADDR:PORT", jstr(st, "status"));
		json_decref(st);
		return -1;
	}
	json_decref(st);
	return 0;
}

/* Poll query-migrate until COLO (0) or a final state (-1). */
static int wait_colo(struct qsync *p, uint64_t timeout_ms, bool quiet,
		     json_t **last, long long *sent, char *err, size_t len)
{
	uint64_t t0 = loop_now_ms(), shown = 0;
	char e[400];

	for (;;) {
		json_t *m;
		const char *st;

		if (qsync_call(p, "query-migrate", NULL, &m, e, sizeof(e)) < 0) {
			snprintf(err, len, "primary: %s", e);
			return -1;
		}
		st = jstr(m, "status");
		/* the RAM counters restart once COLO runs: keep the largest */
		long long t = json_integer_value(json_object_get(
			json_object_get(m, "ram"), "transferred"));
		if (t > *sent)
			*sent = t;
		if (strcmp(st, "colo") == 0) {
			*last = m;
			return 0;
		}
		if (!strcmp(st, "failed") || !strcmp(st, "cancelled") ||
		    !strcmp(st, "completed")) {
			snprintf(err, len, "primary: migration ended \"%s\"%s%s "
				 "instead of entering COLO", st,
				 json_object_get(m, "error-desc") ? ": " : "",
				 json_object_get(m, "error-desc") ?
				 jstr(m, "error-desc") : "");
			json_decref(m);
			return -1;
		}
		if (!quiet && loop_now_ms() - t0 >= shown + 1000) {
			json_t *ram = json_object_get(m, "ram");
			shown = loop_now_ms() - t0;
			fprintf(stderr, "coloctl: migrating (%s, %.1f MB sent)\n",
				st, (double)json_integer_value(json_object_get(
				ram, "transferred")) / 1e6);
		}
		json_decref(m);
		if (loop_now_ms() - t0 > timeout_ms) {
			snprintf(err, len, "primary: not in COLO state after "
				 "%llu s (status \"%s\")",
				 (unsigned long long)timeout_ms / 1000, st);
			return -1;
		}
		usleep(100 * 1000);
	}
}

struct pair_opts {
	const char *pqmp, *sqmp, *uri;
	uint64_t period_ms, timeout_ms;
	bool json;
};

/* Host B's half: the SVM waits with -incoming; turn COLO on in it. */
static int prepare_secondary(const char *qmp, char *err, size_t len)
{
	struct qsync s;
	int r;

	if (qsync_open(&s, qmp, 5000, err, len) < 0)
		return -1;
	r = check_secondary(&s, err, len) < 0 ||
	    set_caps(&s, "secondary", err, len) < 0 ? -1 : 0;
	qsync_close(&s);
	return r;
}

/* Host A's half: capabilities, delay, migrate, wait for COLO. */
static int start_primary(const struct pair_opts *o, char *err, size_t len)
{
	struct qsync p;
	json_t *a = NULL, *m = NULL;
	uint64_t t0 = loop_now_ms();
	long long sent = 0;
	int r = -1;
	char e[400];

	if (qsync_open(&p, o->pqmp, 5000, err, len) < 0)
		return -1;
	if (set_caps(&p, "primary", err, len) < 0)
		goto out;
	a = qmp_checkpoint_delay_args(o->period_ms);
	if (qsync_call(&p, "migrate-set-parameters", a, NULL, e, sizeof(e)) < 0) {
		snprintf(err, len, "primary: %s", e);
		goto out;
	}
	json_decref(a);
	a = json_pack("{s:s}", "uri", o->uri);
	if (!o->json)
		fprintf(stderr, "coloctl: migrating the primary to %s\n", o->uri);
	if (qsync_call(&p, "migrate", a, NULL, e, sizeof(e)) < 0) {
		snprintf(err, len, "primary: %s", e);
		goto out;
	}
	if (wait_colo(&p, o->timeout_ms, o->json, &m, &sent, err, len) < 0)
		goto out;
	if (o->json)
		printf("{\"status\":\"colo\",\"elapsed_ms\":%llu,"
		       "\"transferred\":%lld}\n",
		       (unsigned long long)(loop_now_ms() - t0), sent);
	else
		printf("paired: COLO running after %.2f s (%.1f MB sent)\n",
		       (double)(loop_now_ms() - t0) / 1000, (double)sent / 1e6);
	r = 0;
out:
	json_decref(a);
	json_decref(m);
	qsync_close(&p);
	return r;
}

static int do_pair(const struct pair_opts *o, char *err, size_t len)
{
	if (o->sqmp && prepare_secondary(o->sqmp, err, len) < 0)
		return -1;
	if (!o->pqmp) {
		if (!o->json)
			printf("secondary ready for COLO: now run coloctl pair "
			       "--primary QMP --uri on the primary's host\n");
		return 0;
	}
	return start_primary(o, err, len);
}

static bool parse_ms(const char *s, uint64_t *v)
{
	char *end;
	unsigned long long x = strtoull(s, &end, 10);

	if (end == s || *end || x > 4294967294ULL)
		return false;
	*v = x;
	return true;
}

/* The primary-side colo-relay at control socket PATH: idle, a primary;
 * the URI its QEMU migrates to (its listen address). */
static int relay_listen(const char *path, char *uri, size_t len, char *err,
			size_t errlen)
{
	char *ans = NULL, *at, addr[128] = "", role[32] = "", state[32] = "";

	if (talk_to(path, "status\n", &ans) != 0) {
		snprintf(err, errlen, "--relay \"%s\": no answer from colo-relay",
			 path);
		return -1;
	}
	for (at = ans; at && *at; at = strchr(at, '\n'), at = at ? at + 1 : NULL) {
		if (!strncmp(at, "listen ", 7))
			sscanf(at + 7, "%127s", addr);
		else if (!strncmp(at, "role ", 5))
			sscanf(at + 5, "%31s", role);
		else if (!strncmp(at, "state ", 6))
			sscanf(at + 6, "%31s", state);
	}
	free(ans);
	if (strcmp(role, "primary") != 0 || !addr[0]) {
		snprintf(err, errlen, "--relay \"%s\": not a primary colo-relay "
			 "(role \"%s\")", path, role);
		return -1;
	}
	if (state[0] && strcmp(state, "idle") != 0) {
		snprintf(err, errlen, "--relay \"%s\": already relaying a channel "
			 "(state \"%s\")", path, state);
		return -1;
	}
	snprintf(uri, len, "tcp:%s", addr);
	return 0;
}

int cmd_pair(int argc, char **argv, bool json)
{
	static const struct option lo[] = {
		{ "primary", required_argument, NULL, 'p' },
		{ "secondary", required_argument, NULL, 's' },
		{ "uri", required_argument, NULL, 'u' },
		{ "period", required_argument, NULL, 'P' },
		{ "timeout", required_argument, NULL, 't' },
		{ "relay", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	struct pair_opts o = { .timeout_ms = 120000, .json = json };
	static char relay_uri[160];
	const char *relay = NULL;
	char err[512];
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'p': o.pqmp = optarg; break;
		case 's': o.sqmp = optarg; break;
		case 'u': o.uri = optarg; break;
		case 'r': relay = optarg; break;
		case 'P':
		case 't':
			if (!parse_ms(optarg, c == 'P' ? &o.period_ms :
						       &o.timeout_ms)) {
				fprintf(stderr, "coloctl pair: --%s \"%s\" is not "
					"a number of milliseconds\n",
					c == 'P' ? "period" : "timeout", optarg);
				return 2;
			}
			break;
		default:
			return 2;
		}
	}
	if (relay && (o.uri || !o.pqmp)) {
		fprintf(stderr, "coloctl pair: --relay goes with --primary, "
			"instead of --uri\n");
		return 2;
	}
	if (relay) {
		if (relay_listen(relay, relay_uri, sizeof(relay_uri), err,
				 sizeof(err)) < 0) {
			fprintf(stderr, "coloctl pair: %s\n", err);
			return 1;
		}
		o.uri = relay_uri;
	}
	if ((!o.pqmp && !o.sqmp) || (o.pqmp && !o.uri) ||
	    (!o.pqmp && o.uri) || optind != argc) {
		fprintf(stderr, "coloctl pair: needs --primary QMP --uri "
			"tcp:HOST:PORT and/or --secondary QMP (see coloctl pair "
			"--help)\n");
		return 2;
	}
	if (do_pair(&o, err, sizeof(err)) < 0) {
		fprintf(stderr, "coloctl pair: %s\n", err);
		return 1;
	}
	return 0;
}

/* ---- coloctl qemu ------------------------------------------------------------ */

int cmd_qemu(int argc, char **argv, bool json)
{
	struct qsync q;
	json_t *st = NULL, *mig = NULL, *colo = NULL;
	char err[512], e[400];

	if (argc != 2) {
		fprintf(stderr, "coloctl qemu: needs the QMP socket path\n");
		return 2;
	}
	if (qsync_open(&q, argv[1], 5000, err, sizeof(err)) < 0) {
		fprintf(stderr, "coloctl qemu: %s\n", err);
		return 1;
	}
	if (qsync_call(&q, "query-status", NULL, &st, e, sizeof(e)) < 0 ||
	    qsync_call(&q, "query-migrate", NULL, &mig, e, sizeof(e)) < 0) {
		fprintf(stderr, "coloctl qemu: %s\n", e);
		qsync_close(&q);
		return 1;
	}
	/* older QEMUs lack it: not an error */
	qsync_call(&q, "query-colo-status", NULL, &colo, e, sizeof(e));
	if (json)
		printf("{\"run_state\":\"%s\",\"migration\":\"%s\","
		       "\"colo_mode\":\"%s\",\"colo_reason\":\"%s\"}\n",
		       jstr(st, "status"), json_object_get(mig, "status") ?
		       jstr(mig, "status") : "none", colo ? jstr(colo, "mode") :
		       "unknown", colo ? jstr(colo, "reason") : "unknown");
	else
		printf("run_state %s\nmigration %s\ncolo_mode %s\n"
		       "colo_reason %s\n", jstr(st, "status"),
		       json_object_get(mig, "status") ? jstr(mig, "status") :
		       "none", colo ? jstr(colo, "mode") : "unknown",
		       colo ? jstr(colo, "reason") : "unknown");
	json_decref(st);
	json_decref(mig);
	json_decref(colo);
	qsync_close(&q);
	return 0;
}
