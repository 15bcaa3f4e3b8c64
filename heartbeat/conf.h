/*
 * conf: colo-heartbeat's configuration file (option table in conf.c,
 * every option explained in etc/colo-heartbeat.conf).
 */
#ifndef HEARTBEAT_CONF_H
#define HEARTBEAT_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/cfg.h"

enum hb_node_kind { HB_NODE_A = 0, HB_NODE_B = 1, HB_NODE_WITNESS = 2 };
enum hb_tiebreak { HB_TB_WITNESS = 0, HB_TB_FENCE, HB_TB_WITNESS_FENCE,
		   HB_TB_NONE };

#define HB_PATHS 2	/* 0: the replication link, 1: the LAN */

struct hb_conf {
	/* [heartbeat] */
	char name[24];			/* the pair: id, socket name */
	int node;			/* enum hb_node_kind */
	int role;			/* 0 primary, 1 secondary (at start) */
	char key_file[256];
	uint64_t interval_ms, timeout_ms;
	char control[108];
	/* [replication], [lan] */
	struct cfg_addr local[HB_PATHS], peer[HB_PATHS];
	/* [witness] */
	struct cfg_addr witness;	/* nodes: where it listens */
	struct cfg_addr witness_listen;	/* the witness itself */
	/* [tiebreaker] */
	int tiebreak;			/* enum hb_tiebreak */
	char fence_hook[256];
	uint64_t fence_timeout_ms;
	/* [vm] */
	char qmp[108];
	char vm_uri[256], vm_domain[128];	/* or through libvirt */
	uint64_t vm_grace_ms;		/* libvirtd lost: VM taken as up */
	uint64_t qmp_timeout_ms;
	/* [fence] the peer's VM through libvirt */
	char fence_uri[256], fence_domain[128];
	uint64_t fence_lv_timeout_ms;
	/* [proxy] */
	char proxy[108];		/* colo-proxy's control socket */
	uint64_t proxy_timeout_ms;
	/* [failover] */
	char bridge[16];		/* joins the LAN at takeover */
	char lan_port[16];		/* ... through this port */
	bool announce;
	int colo_port;			/* the COLO migration's TCP port: its
					   sockets are destroyed first */
	uint64_t retry_ms;
	/* [reprotect] */
	char reprotect_uri[128];	/* where the peer's QEMU waits (-incoming);
					   default tcp:PEER:colo_port */
	bool reprotect_auto;		/* when the peer is back as secondary */
	uint64_t reprotect_period_ms;	/* x-checkpoint-delay of the new pair */
	/* [hooks] */
	char hook[256];
	uint64_t hook_timeout_ms;
};

extern const struct cfg_option hb_conf_table[];

bool hb_conf_parse(struct hb_conf *c, const char *text, size_t len,
		   char *err, size_t errlen);
bool hb_conf_load(struct hb_conf *c, const char *path, char *err,
		  size_t errlen);

/* Read a key file: 64 hex digits (whitespace around them ignored). */
bool hb_key_load(const char *path, uint8_t key[32], char *err, size_t errlen);

#endif /* HEARTBEAT_CONF_H */
