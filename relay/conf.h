/*
 * conf: colo-relay's configuration file, described once as an option
 * table (common/cfg.h), and the checks that span several options.  Every
 * option, with its default and meaning, is in etc/colo-relay.conf.
 */
#ifndef RELAY_CONF_H
#define RELAY_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/cfg.h"

enum relay_role { RELAY_PRIMARY = 0, RELAY_SECONDARY = 1 };

struct relay_conf {
	/* [relay] */
	char name[24];			/* the pair: pair id, socket name */
	int role;			/* enum relay_role */
	struct cfg_addr listen;		/* primary: for QEMU's migrate URI;
					   secondary: for the peer relay */
	struct cfg_addr connect;	/* primary: the peer relay's listen;
					   secondary: the SVM's -incoming */
	char control[108];
	uint64_t chunk;			/* largest read, one frame */
	uint64_t buffer;		/* output kept per socket before the
					   other side stops being read */
	/* [compression] */
	bool compress;			/* what this relay sends */
	int level;
	/* [timeouts] */
	uint64_t connect_ms, keepalive_ms, timeout_ms;
	/* [stats] */
	int history;
	uint64_t checkpoint_min;
};

extern const struct cfg_option relay_conf_table[];

const char *relay_role_name(int role);

/* Parse TEXT into C: false with "line N: message" (or a plain message)
 * in ERR.  Cross-option errors name the line of the option at fault. */
bool relay_conf_parse(struct relay_conf *c, const char *text, size_t len,
		      char *err, size_t errlen);

/* Read and parse PATH: errors as "PATH:N: message". */
bool relay_conf_load(struct relay_conf *c, const char *path, char *err,
		     size_t errlen);

#endif /* RELAY_CONF_H */
