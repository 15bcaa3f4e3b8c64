/*
 * rules: the proxy's netfilter rules, set up and torn down by the daemon
 * itself, in chains (or a table) of its own named after the instance.
 *
 * Two backends, chosen at start (RULES_AUTO):
 *   nft              table "bridge colo_<name>", forward hook, iifname /
 *                    oifname of the bridge port, `queue num N` (no bypass,
 *                    no fanout); used when the kernel has the nftables
 *                    queue expression, found out by a dry run (`nft -c`);
 *   iptables-legacy  chain "COLO-<NAME>" in the filter table's FORWARD of
 *                    iptables and ip6tables, jumped to from FORWARD's first
 *                    rule, `-m physdev --physdev-in/--physdev-out PORT
 *                    --physdev-is-bridged -j NFQUEUE --queue-num N` (no
 *                    --queue-bypass), with br_netfilter's
 *                    net.bridge.bridge-nf-call-ip{,6}tables checked to be 1
 *                    (set to 1 if not, and an error if that fails: without
 *                    it no bridged frame would reach the queue and the PVM's
 *                    output would leave unheld).
 * Both are applied atomically (iptables-legacy-restore --noflush,
 * `nft -f`), through the commands, with their stderr quoted on failure.
 *
 * A queue rule with no program bound drops what it matches, so a dead
 * proxy cuts its VM off instead of letting unverified output out.
 *
 * rules_apply() first removes whatever an earlier instance of the same
 * name left (a crash, kill -9), so a restart never duplicates rules;
 * rules_remove() is idempotent and is called on every exit path.
 */
#ifndef COLO_PROXY_RULES_H
#define COLO_PROXY_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum rules_backend {
	RULES_AUTO = 0,
	RULES_IPTABLES_LEGACY,
	RULES_NFT,
};

enum rules_dir {
	RULES_PHYSDEV_IN = 0,		/* frames the port sends into the bridge */
	RULES_PHYSDEV_OUT,		/* frames the bridge sends out of the port */
};

#define RULES_MAX_QUEUES 4
#define RULES_NAME_MAX 24		/* [A-Za-z0-9_-], 1..23 chars */
#define RULES_IFNAME_MAX 16		/* IFNAMSIZ */

struct rules_queue {
	char port[RULES_IFNAME_MAX];	/* bridge port (the VM's tap) */
	enum rules_dir dir;
	uint16_t queue_num;
	/* Let ICMPv6 neighbour discovery (types 133-137) and ARP pass
	 * without queueing (they carry no client data; see the README). */
	bool pass_nd;
	/* Accept, unqueued, what enters the bridge from this port on its way
	 * out of PORT (RULES_PHYSDEV_OUT only; "" for none): the secondary's
	 * own injection port, whose frames it already translated. */
	char skip_from[RULES_IFNAME_MAX];
};

struct rules_spec {
	char name[RULES_NAME_MAX];
	enum rules_backend backend;	/* RULES_AUTO: rules_detect() */
	struct rules_queue q[RULES_MAX_QUEUES];
	unsigned nq;
	bool ipv6;			/* also ip6tables (nft: inet covers both) */
};

const char *rules_backend_name(enum rules_backend b);

/* Which backend works here: nft if `nft` exists and a dry run of a queue
 * rule succeeds, else iptables-legacy if its commands exist.  0, or
 * -ENOENT with ERR naming what is missing. */
int rules_detect(enum rules_backend *out, char *err, size_t errlen);

/* Check a spec (names, ports, queue numbers): 0 or -EINVAL with ERR. */
int rules_check(const struct rules_spec *spec, char *err, size_t errlen);

/* Remove stale rules of SPEC->name, then install SPEC.  On return
 * SPEC->backend names the backend used.  0 or -errno with ERR. */
int rules_apply(struct rules_spec *spec, char *err, size_t errlen);

/* Remove the rules of SPEC->name (both backends when AUTO); 0 if there
 * were none.  0 or -errno with ERR. */
int rules_remove(const struct rules_spec *spec, char *err, size_t errlen);

/* Write the rule text that rules_apply() would feed to the backend
 * (iptables-restore input for IPv4, or the nft script) into BUF: for
 * -n, logs and tests.  Returns the length or -ENOSPC. */
int rules_render(const struct rules_spec *spec, enum rules_backend b,
		 int family, char *buf, size_t len);

/* true if rules of SPEC->name are installed now (for tests and status). */
bool rules_present(const struct rules_spec *spec);

#endif /* COLO_PROXY_RULES_H */
