/*
 * conf: colo-proxy's option table and cross-option checks.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint/ckpt.h"
#include "checkpoint/libvirt.h"
#include "colo-proxy/chan.h"
#include "colo-proxy/conf.h"
#include "common/cfgfile.h"

static const char *const roles[] = { "primary", "secondary", NULL };
static const char *const modes[] = { "protected", "solo", "takeover", NULL };
static const char *const firewalls[] = { "auto", "iptables-legacy", "nft",
					 NULL };

#define C struct proxy_conf
#define R CFG_RELOADABLE
const struct cfg_option proxy_conf_table[] = {
	CFG_OPT_STRING("proxy", "name", C, name, "colo", 0),
	CFG_OPT_ENUM("proxy", "role", C, role, NULL, roles, CFG_REQUIRED),
	CFG_OPT_ENUM("proxy", "mode", C, mode, "protected", modes, 0),
	CFG_OPT_STRING("proxy", "vm_port", C, vm_port, NULL, CFG_REQUIRED),
	CFG_OPT_STRING("proxy", "vm_mac", C, vm_mac_text, "", 0),
	CFG_OPT_STRING("proxy", "control", C, control, "", 0),
	CFG_OPT_ENUM("proxy", "firewall", C, firewall, "auto", firewalls, 0),
	CFG_OPT_BOOL("proxy", "ipv6", C, ipv6, "yes", 0),
	CFG_OPT_BOOL("proxy", "pass_nd", C, pass_nd, "yes", 0),
	CFG_OPT_INT("proxy", "queue_in", C, queue_in, "0", 0, 65535, 0),
	CFG_OPT_INT("proxy", "queue_out", C, queue_out, "1", 0, 65535, 0),
	CFG_OPT_INT("proxy", "queue_maxlen", C, queue_maxlen, "8192", 64,
		    1 << 20, 0),
	CFG_OPT_SIZE("proxy", "rcvbuf", C, rcvbuf, "8M", 256 << 10, 1 << 30, 0),
	CFG_OPT_STRING("proxy", "dump_dir", C, dump_dir, "", R),
	CFG_OPT_INT("proxy", "dump_max", C, dump_max, "100", 0, 100000, R),

	CFG_OPT_ADDR("channel", "listen", C, listen, NULL, 0),
	CFG_OPT_ADDR("channel", "peer", C, peer, NULL, CFG_REQUIRED),
	CFG_OPT_SIZE("channel", "buffer", C, chan_buffer, "16M", 1 << 20,
		     1 << 30, 0),
	CFG_OPT_DURATION("channel", "keepalive", C, keepalive_ms, "500ms", 10,
			 60000, 0),
	CFG_OPT_DURATION("channel", "timeout", C, chan_timeout_ms, "3s", 50,
			 600000, 0),
	CFG_OPT_DURATION("channel", "reconnect", C, reconnect_ms, "200ms", 10,
			 60000, 0),
	CFG_OPT_STRING("channel", "congestion", C, chan_cc, "cubic", 0),

	CFG_OPT_DURATION("compare", "hold_timeout", C, hold_timeout_ms,
			 "200ms", 1, 60000, 0),
	CFG_OPT_DURATION("compare", "secondary_timeout", C,
			 secondary_timeout_ms, "2s", 1, 600000, 0),
	CFG_OPT_INT("compare", "max_flows", C, max_flows, "65536", 16,
		    1 << 24, 0),
	CFG_OPT_SIZE("compare", "max_held_bytes", C, max_held_bytes, "64M",
		     1 << 16, (int64_t)1 << 36, 0),
	CFG_OPT_INT("compare", "max_held_frames", C, max_held_frames, "6144",
		    16, 1 << 20, 0),
	CFG_OPT_BOOL("compare", "window_rule", C, window_rule, "yes", 0),
	CFG_OPT_BOOL("compare", "ack_guard", C, ack_guard, "yes", 0),

	CFG_OPT_STRING("inject", "bridge", C, bridge, "br0", 0),
	CFG_OPT_STRING("inject", "port", C, inject_port, "colo-inj0", 0),
	CFG_OPT_INT("inject", "mtu", C, inject_mtu, "1500", 576, 65535, 0),

	CFG_OPT_INT("rewrite", "max_conns", C, rw_max_conns, "65536", 16,
		    1 << 24, 0),
	CFG_OPT_DURATION("rewrite", "learn_timeout", C, learn_timeout_ms,
			 "100ms", 1, 10000, 0),

	CFG_OPT_ENUM("checkpoint", "backend", C, backend, "none",
		     ckpt_backend_names, 0),
	CFG_OPT_STRING("checkpoint", "qmp", C, qmp, "", 0),
	CFG_OPT_STRING("checkpoint", "libvirt", C, lv_uri, "", 0),
	CFG_OPT_STRING("checkpoint", "domain", C, lv_domain, "", 0),
	CFG_OPT_DURATION("checkpoint", "timeout", C, qmp_timeout_ms, "3s", 10,
			 600000, 0),
	CFG_OPT_DURATION("checkpoint", "reconnect", C, qmp_reconnect_ms,
			 "500ms", 10, 600000, 0),
	CFG_OPT_DURATION("checkpoint", "period", C, ckpt_period_ms, "0ms", 0,
			 4294967294LL, 0),
	CFG_OPT_DURATION("checkpoint", "retry", C, ckpt_retry_ms, "1s", 10,
			 600000, 0),
	CFG_OPT_BOOL("checkpoint", "follow_colo", C, follow_colo, "yes", 0),
	CFG_OPT_END
};
#undef C
#undef R

const char *proxy_role_name(int role)
{
	return role == ROLE_SECONDARY ? "secondary" : "primary";
}

const char *proxy_mode_name(int mode)
{
	return (unsigned)mode < 3 ? modes[mode] : "?";
}

int proxy_mode_parse(const char *name)
{
	for (int i = 0; modes[i]; i++)
		if (strcmp(modes[i], name) == 0)
			return i;
	return -1;
}

static bool fail(char *err, size_t errlen, const char *fmt, const char *v)
{
	snprintf(err, errlen, fmt, v);
	return false;
}

static bool name_ok(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!(*s >= 'a' && *s <= 'z') && !(*s >= 'A' && *s <= 'Z') &&
		    !(*s >= '0' && *s <= '9') && *s != '-' && *s != '_')
			return false;
	return true;
}

static bool parse_mac(const char *s, uint8_t mac[6])
{
	unsigned v[6];
	char tail;

	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3],
		   &v[4], &v[5], &tail) != 6)
		return false;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)v[i];
	return true;
}

/* What one option cannot say alone. */
static bool conf_check(struct proxy_conf *c, char *err, size_t errlen)
{
	if (!name_ok(c->name))
		return fail(err, errlen, "name: \"%s\" must be letters, digits,"
			    " '-' or '_'", c->name);
	c->has_vm_mac = c->vm_mac_text[0] != '\0';
	if (c->has_vm_mac && !parse_mac(c->vm_mac_text, c->vm_mac))
		return fail(err, errlen, "vm_mac: \"%s\" is not a MAC address "
			    "(e.g. 52:54:00:12:34:56)", c->vm_mac_text);
	if (c->queue_in == c->queue_out)
		return fail(err, errlen, "queue_in and queue_out are both %s: "
			    "they must differ", "set to the same number");
	if (c->role == ROLE_PRIMARY && c->mode == MODE_TAKEOVER)
		return fail(err, errlen, "mode: \"%s\" is for the secondary",
			    "takeover");
	if (c->role == ROLE_SECONDARY && c->mode == MODE_SOLO)
		return fail(err, errlen, "mode: \"%s\" is for the primary",
			    "solo");
	if (c->role == ROLE_PRIMARY && !c->listen.len)
		return fail(err, errlen, "[channel] listen: %s", "required for "
			    "the primary (address:port to accept the secondary on)");
	if (c->role == ROLE_PRIMARY && c->listen.len && !c->listen.has_port)
		return fail(err, errlen, "[channel] listen: %s", "needs a port");
	if (c->role == ROLE_SECONDARY && !c->peer.has_port)
		return fail(err, errlen, "[channel] peer: %s", "needs a port on "
			    "the secondary (the primary's listen address)");
	if (!chan_cc_name_ok(c->chan_cc))
		return fail(err, errlen, "[channel] congestion: \"%s\" is not a "
			    "congestion control name (cubic, reno, bbr, ..., or "
			    "\"system\" for the system's default)", c->chan_cc);
	if (c->max_held_frames >= c->queue_maxlen) {
		char v[64];

		snprintf(v, sizeof(v), "%d", c->max_held_frames);
		return fail(err, errlen, "[compare] max_held_frames: \"%s\" must be "
			    "below [proxy] queue_maxlen, or the kernel drops "
			    "frames before the comparator asks for a checkpoint", v);
	}
	if (c->backend == CKPT_QMP && !c->qmp[0])
		return fail(err, errlen, "[checkpoint] qmp: %s", "required with "
			    "backend = qmp (the VM's QMP unix socket, as in "
			    "-qmp unix:PATH,server=on,wait=off)");
	if (c->backend != CKPT_QMP && c->qmp[0])
		return fail(err, errlen, "[checkpoint] qmp: \"%s\" is only "
			    "used with backend = qmp", c->qmp);
	if (c->backend == CKPT_LIBVIRT && (!c->lv_uri[0] || !c->lv_domain[0]))
		return fail(err, errlen, "[checkpoint] %s: required with "
			    "backend = libvirt (libvirtd's URI, e.g. "
			    "qemu:///system, and the VM's domain name)",
			    c->lv_uri[0] ? "domain" : "libvirt");
	if (c->backend != CKPT_LIBVIRT && c->lv_uri[0])
		return fail(err, errlen, "[checkpoint] libvirt: \"%s\" is only "
			    "used with backend = libvirt", c->lv_uri);
	if (c->backend != CKPT_LIBVIRT && c->lv_domain[0])
		return fail(err, errlen, "[checkpoint] domain: \"%s\" is only "
			    "used with backend = libvirt", c->lv_domain);
	if (c->backend == CKPT_LIBVIRT && !lv_available())
		return fail(err, errlen, "[checkpoint] backend: \"libvirt\": %s",
			    "this colo-proxy was built without libvirt "
			    "(install libvirt-dev and rebuild)");
	if (!c->control[0])
		snprintf(c->control, sizeof(c->control),
			 "/run/colo-proxy/%s.sock", c->name);
	return true;
}

bool proxy_conf_parse(struct proxy_conf *conf, const char *text, size_t len,
		      char *err, size_t errlen)
{
	if (!cfg_parse_buffer(proxy_conf_table, conf, text, len, err, errlen))
		return false;
	return conf_check(conf, err, errlen);
}

static bool parse_any(void *conf, const char *text, size_t len, char *err,
		      size_t errlen)
{
	return proxy_conf_parse(conf, text, len, err, errlen);
}

bool proxy_conf_load(struct proxy_conf *conf, const char *path, char *err,
		     size_t errlen)
{
	return cfg_load_file(path, parse_any, conf, err, errlen);
}
