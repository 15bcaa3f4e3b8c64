/*
 * conf: colo-heartbeat's option table and cross-option checks.
 */
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint/libvirt.h"
#include "common/cfgfile.h"
#include "heartbeat/conf.h"

static const char *const nodes[] = { "a", "b", "witness", NULL };
static const char *const roles[] = { "primary", "secondary", NULL };
static const char *const tiebreaks[] = { "witness", "fence", "witness+fence",
					 "none", NULL };

#define C struct hb_conf
const struct cfg_option hb_conf_table[] = {
	CFG_OPT_STRING("heartbeat", "name", C, name, "colo", 0),
	CFG_OPT_ENUM("heartbeat", "node", C, node, NULL, nodes, CFG_REQUIRED),
	CFG_OPT_ENUM("heartbeat", "role", C, role, "primary", roles, 0),
	CFG_OPT_STRING("heartbeat", "key_file", C, key_file, NULL,
		       CFG_REQUIRED),
	CFG_OPT_DURATION("heartbeat", "interval", C, interval_ms, "50ms", 5,
			 60000, 0),
	CFG_OPT_DURATION("heartbeat", "timeout", C, timeout_ms, "200ms", 15,
			 600000, 0),
	CFG_OPT_STRING("heartbeat", "control", C, control, "", 0),

	CFG_OPT_ADDR("replication", "local", C, local[0], NULL, 0),
	CFG_OPT_ADDR("replication", "peer", C, peer[0], NULL, 0),
	CFG_OPT_ADDR("lan", "local", C, local[1], NULL, 0),
	CFG_OPT_ADDR("lan", "peer", C, peer[1], NULL, 0),

	CFG_OPT_ADDR("witness", "address", C, witness, NULL, 0),
	CFG_OPT_ADDR("witness", "listen", C, witness_listen, NULL, 0),

	CFG_OPT_ENUM("tiebreaker", "mode", C, tiebreak, "witness", tiebreaks,
		     0),
	CFG_OPT_STRING("tiebreaker", "fence_hook", C, fence_hook, "", 0),
	CFG_OPT_DURATION("tiebreaker", "fence_timeout", C, fence_timeout_ms,
			 "30s", 100, 600000, 0),

	CFG_OPT_STRING("vm", "qmp", C, qmp, "", 0),
	CFG_OPT_STRING("vm", "libvirt", C, vm_uri, "", 0),
	CFG_OPT_STRING("vm", "domain", C, vm_domain, "", 0),
	CFG_OPT_DURATION("vm", "libvirt_grace", C, vm_grace_ms, "10s", 0,
			 600000, 0),
	CFG_OPT_DURATION("vm", "timeout", C, qmp_timeout_ms, "2s", 10, 60000,
			 0),

	CFG_OPT_STRING("fence", "libvirt", C, fence_uri, "", 0),
	CFG_OPT_STRING("fence", "domain", C, fence_domain, "", 0),
	CFG_OPT_DURATION("fence", "timeout", C, fence_lv_timeout_ms, "20s", 100,
			 600000, 0),

	CFG_OPT_STRING("proxy", "control", C, proxy, "", 0),
	CFG_OPT_DURATION("proxy", "timeout", C, proxy_timeout_ms, "2s", 10,
			 60000, 0),

	CFG_OPT_STRING("failover", "bridge", C, bridge, "", 0),
	CFG_OPT_STRING("failover", "lan_port", C, lan_port, "", 0),
	CFG_OPT_BOOL("failover", "announce", C, announce, "yes", 0),
	CFG_OPT_INT("failover", "colo_port", C, colo_port, "0", 0, 65535, 0),
	CFG_OPT_DURATION("failover", "retry", C, retry_ms, "200ms", 10, 60000,
			 0),

	CFG_OPT_STRING("reprotect", "uri", C, reprotect_uri, "", 0),
	CFG_OPT_BOOL("reprotect", "auto", C, reprotect_auto, "no", 0),
	CFG_OPT_DURATION("reprotect", "period", C, reprotect_period_ms, "0ms",
			 0, 3600000, 0),

	CFG_OPT_STRING("hooks", "hook", C, hook, "", 0),
	CFG_OPT_DURATION("hooks", "timeout", C, hook_timeout_ms, "10s", 10,
			 600000, 0),
	CFG_OPT_END
};
#undef C

static bool fail(char *err, size_t errlen, const char *fmt, const char *v)
{
	snprintf(err, errlen, fmt, v);
	return false;
}

static bool check_paths(const struct hb_conf *c, char *err, size_t errlen)
{
	static const char *const sec[HB_PATHS] = { "replication", "lan" };
	int n = 0;

	for (int i = 0; i < HB_PATHS; i++) {
		if (!c->local[i].len && !c->peer[i].len)
			continue;
		if (!c->local[i].len || !c->local[i].has_port)
			return fail(err, errlen, "[%s] local: required with a "
				    "peer, as ADDRESS:PORT", sec[i]);
		if (!c->peer[i].len || !c->peer[i].has_port)
			return fail(err, errlen, "[%s] peer: required with "
				    "local, as ADDRESS:PORT", sec[i]);
		n++;
	}
	if (!c->local[0].len)
		return fail(err, errlen, "[replication] local and peer: %s",
			    "required (the link COLO's checkpoints and the "
			    "proxy channel use)");
	if (n < 2)
		snprintf(err, errlen, "[lan] local and peer: not set; one path "
			 "only: a cut replication link looks like a dead peer");
	return true;
}

/* [reprotect] uri: given as tcp:HOST:PORT, or made of the replication
 * peer's address and [failover] colo_port. */
static bool check_reprotect(struct hb_conf *c, char *err, size_t errlen)
{
	char host[INET6_ADDRSTRLEN] = "";
	const struct cfg_addr *a = &c->peer[0];

	if (c->reprotect_uri[0]) {
		if (strncmp(c->reprotect_uri, "tcp:", 4) &&
		    strncmp(c->reprotect_uri, "unix:", 5))
			return fail(err, errlen, "[reprotect] uri: \"%s\" is not "
				    "tcp:HOST:PORT (or unix:PATH)",
				    c->reprotect_uri);
		return true;
	}
	if (!c->colo_port || !a->len)
		return true;	/* re-protection needs [reprotect] uri then */
	if (a->u.sa.sa_family == AF_INET)
		inet_ntop(AF_INET, &a->u.sin.sin_addr, host, sizeof(host));
	else
		inet_ntop(AF_INET6, &a->u.sin6.sin6_addr, host, sizeof(host));
	snprintf(c->reprotect_uri, sizeof(c->reprotect_uri),
		 a->u.sa.sa_family == AF_INET ? "tcp:%s:%d" : "tcp:[%s]:%d",
		 host, c->colo_port);
	return true;
}

static bool check_node(const struct hb_conf *c, char *err, size_t errlen)
{
	char v[64];

	if (!check_paths(c, err, errlen))
		return false;
	if (c->timeout_ms < 3 * c->interval_ms) {
		snprintf(v, sizeof(v), "%llu ms",
			 (unsigned long long)c->timeout_ms);
		return fail(err, errlen, "[heartbeat] timeout: \"%s\" must be "
			    "at least 3 intervals (a heartbeat's echo is up to "
			    "two intervals old)", v);
	}
	if (c->qmp[0] && (c->vm_uri[0] || c->vm_domain[0]))
		return fail(err, errlen, "[vm] qmp: \"%s\": set either qmp or "
			    "libvirt and domain, not both", c->qmp);
	if (!c->vm_uri[0] != !c->vm_domain[0])
		return fail(err, errlen, "[vm] %s: required with the other "
			    "(libvirtd's URI and the VM's domain name)",
			    c->vm_uri[0] ? "domain" : "libvirt");
	if (!c->qmp[0] && !c->vm_domain[0])
		return fail(err, errlen, "[vm] qmp: %s", "required (the local "
			    "VM's QMP unix socket, one of its own), or [vm] "
			    "libvirt and domain");
	if (!c->fence_uri[0] != !c->fence_domain[0])
		return fail(err, errlen, "[fence] %s: required with the other "
			    "(the peer's libvirtd URI and its VM's domain)",
			    c->fence_uri[0] ? "domain" : "libvirt");
	if ((c->vm_domain[0] || c->fence_domain[0]) && !lv_available())
		return fail(err, errlen, "[vm] or [fence] libvirt: %s",
			    "this colo-heartbeat was built without libvirt "
			    "(install libvirt-dev and rebuild)");
	if ((c->tiebreak == HB_TB_WITNESS || c->tiebreak == HB_TB_WITNESS_FENCE)
	    && (!c->witness.len || !c->witness.has_port))
		return fail(err, errlen, "[witness] address: %s", "required "
			    "with [tiebreaker] mode = witness, as ADDRESS:PORT "
			    "(or choose mode = fence)");
	if ((c->tiebreak == HB_TB_FENCE || c->tiebreak == HB_TB_WITNESS_FENCE)
	    && !c->fence_hook[0] && !c->fence_domain[0])
		return fail(err, errlen, "[tiebreaker] fence_hook: %s",
			    "required with mode = fence (or [fence] libvirt and "
			    "domain)");
	if (c->fence_hook[0] && c->fence_domain[0])
		return fail(err, errlen, "[tiebreaker] fence_hook: \"%s\": "
			    "set either a fence hook or [fence] libvirt, not "
			    "both", c->fence_hook);
	if (!c->bridge[0] != !c->lan_port[0])
		return fail(err, errlen, "[failover] bridge and lan_port: %s",
			    "set both or neither");
	return true;
}

bool hb_conf_parse(struct hb_conf *c, const char *text, size_t len,
		   char *err, size_t errlen)
{
	if (!cfg_parse_buffer(hb_conf_table, c, text, len, err, errlen))
		return false;
	err[0] = '\0';
	if (c->node == HB_NODE_WITNESS) {
		if (!c->witness_listen.len || !c->witness_listen.has_port)
			return fail(err, errlen, "[witness] listen: %s",
				    "required for node = witness, as "
				    "ADDRESS:PORT");
	} else if (!check_node(c, err, errlen) ||
		   !check_reprotect(c, err, errlen)) {
		return false;
	}
	if (!c->control[0])
		snprintf(c->control, sizeof(c->control),
			 "/run/colo-heartbeat/%s.sock", c->name);
	return true;
}

static bool parse_any(void *conf, const char *text, size_t len, char *err,
		      size_t errlen)
{
	return hb_conf_parse(conf, text, len, err, errlen);
}

bool hb_conf_load(struct hb_conf *c, const char *path, char *err,
		  size_t errlen)
{
	return cfg_load_file(path, parse_any, c, err, errlen);
}

static int hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

bool hb_key_load(const char *path, uint8_t key[32], char *err, size_t errlen)
{
	char text[160];
	struct stat st;
	size_t n = 0, i = 0;
	ssize_t r;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return false;
	}
	if (fstat(fd, &st) == 0 && (st.st_mode & 077))
		snprintf(err, errlen, "%s: readable by others (mode %03o); "
			 "chmod 600 it", path, st.st_mode & 0777);
	while (n < sizeof(text) - 1 &&
	       (r = read(fd, text + n, sizeof(text) - 1 - n)) > 0)
		n += (size_t)r;
	close(fd);
	text[n] = '\0';
	while (i < n && strchr(" \t\r\n", text[i]))
		i++;
	for (int k = 0; k < 32; k++, i += 2) {
		int hi = i + 1 < n ? hexval(text[i]) : -1;
		int lo = i + 1 < n ? hexval(text[i + 1]) : -1;

		if (hi < 0 || lo < 0)
			goto bad;
		key[k] = (uint8_t)(hi << 4 | lo);
	}
	while (i < n && strchr(" \t\r\n", text[i]))
		i++;
	if (i == n)
		return true;
bad:
	snprintf(err, errlen, "%s: not a key: want 64 hex digits (make one "
		 "with: head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \\n')",
		 path);
	return false;
}
