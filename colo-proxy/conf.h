/*
 * conf: colo-proxy's configuration file, described once as an option
 * table (common/cfg.h), and the checks that span several options.
 * See etc/colo-proxy.conf for every option with its default and meaning.
 */
#ifndef COLO_PROXY_CONF_H
#define COLO_PROXY_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/cfg.h"

enum proxy_role { ROLE_PRIMARY = 0, ROLE_SECONDARY = 1 };
enum proxy_mode { MODE_PROTECTED = 0, MODE_SOLO = 1, MODE_TAKEOVER = 2 };
enum proxy_fw { FW_AUTO = 0, FW_IPTABLES_LEGACY = 1, FW_NFT = 2 };

struct proxy_conf {
	/* [proxy] */
	char name[24];			/* instance: chains, socket, logs */
	int role;			/* enum proxy_role */
	int mode;			/* enum proxy_mode at start */
	char vm_port[16];		/* the VM's bridge port (tap) */
	char vm_mac_text[24];		/* the VM's MAC (both VMs share it) */
	uint8_t vm_mac[6];		/* ... parsed; all zero: learn it */
	bool has_vm_mac;
	char control[108];		/* control socket path */
	int firewall;			/* enum proxy_fw */
	bool ipv6;
	bool pass_nd;			/* ARP/ND pass unqueued (see README) */
	int queue_in;			/* frames toward the VM */
	int queue_out;			/* frames from the VM */
	int queue_maxlen;
	uint64_t rcvbuf;
	char dump_dir[256];		/* divergence pcapng files; "" = none */
	int dump_max;			/* files kept */
	/* [channel] */
	struct cfg_addr listen;		/* primary */
	struct cfg_addr peer;		/* primary: accepted address;
					 * secondary: where to connect */
	uint64_t chan_buffer;		/* bytes queued toward the peer */
	uint64_t keepalive_ms;
	uint64_t chan_timeout_ms;
	uint64_t reconnect_ms;
	char chan_cc[16];		/* TCP congestion control; "system" */
	/* [compare] (primary) */
	uint64_t hold_timeout_ms;
	uint64_t secondary_timeout_ms;
	int max_flows;
	uint64_t max_held_bytes;
	int max_held_frames;
	bool window_rule;
	bool ack_guard;
	/* [inject] (secondary) */
	char bridge[16];
	char inject_port[16];
	int inject_mtu;
	/* [rewrite] (secondary) */
	int rw_max_conns;
	uint64_t learn_timeout_ms;
	/* [checkpoint] */
	int backend;			/* enum ckpt_backend_kind */
	char qmp[108];			/* the local VM's QMP socket */
	char lv_uri[256];		/* backend libvirt: libvirtd's URI */
	char lv_domain[128];		/* ... and the local VM's domain */
	uint64_t qmp_timeout_ms;
	uint64_t qmp_reconnect_ms;
	uint64_t ckpt_period_ms;	/* QEMU's periodic checkpoints, 0 off */
	uint64_t ckpt_retry_ms;
	bool follow_colo;		/* primary: protected while COLO runs,
					   solo once it ends */
};

extern const struct cfg_option proxy_conf_table[];

/*
 * Parse TEXT (the file's bytes) into *conf, then check what spans several
 * options (roles, queue numbers, hold limits against the queue length).
 * false with "line N: ..." or a plain message in ERR.
 */
bool proxy_conf_parse(struct proxy_conf *conf, const char *text, size_t len,
		      char *err, size_t errlen);

/* Read PATH and parse it; errors are prefixed with PATH. */
bool proxy_conf_load(struct proxy_conf *conf, const char *path, char *err,
		     size_t errlen);

const char *proxy_role_name(int role);
const char *proxy_mode_name(int mode);
/* -1 if NAME is not a mode. */
int proxy_mode_parse(const char *name);

#endif /* COLO_PROXY_CONF_H */
