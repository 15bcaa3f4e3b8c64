/*
 * rules_ipt: the iptables-legacy backend.
 *
 * One chain per instance in the filter table, of iptables and (with
 * spec->ipv6) ip6tables, jumped to from FORWARD's first rule:
 *
 *   FORWARD:  -j COLO-<NAME>  (rule 1)  ─>  COLO-<NAME>:
 *     [ipv6, pass_nd]  -p ipv6-icmp -m physdev --physdev-in PORT
 *                      --physdev-is-bridged -m icmp6 --icmpv6-type 130..137,143
 *                      -j ACCEPT
 *     -m physdev --physdev-in|--physdev-out PORT --physdev-is-bridged
 *                      -j NFQUEUE --queue-num N      (no --queue-bypass)
 *
 * Rules are written in iptables-save's own order of options, so that a
 * rendered line and the saved one are the same text.  ARP never reaches
 * iptables, so pass_nd has nothing to do for IPv4.
 *
 * Removal reads iptables-legacy-save, deletes every FORWARD jump to the
 * chain (a crash can leave several), then flushes and deletes the chain,
 * all in one iptables-legacy-restore --noflush.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "colo-proxy/rules_int.h"

#define CHAIN_MAX (sizeof("COLO-") + RULES_NAME_MAX)
#define RESTORE_WAIT "--wait=5"		/* the xtables lock, shared by all */

struct ipt_family {
	const char *save, *restore;
	const char *tables;		/* /proc/net/ip{,6}_tables_names */
	const char *label;
};

static const struct ipt_family ipt4 = {
	"iptables-legacy-save", "iptables-legacy-restore",
	"/proc/net/ip_tables_names", "IPv4",
};

static const struct ipt_family ipt6 = {
	"ip6tables-legacy-save", "ip6tables-legacy-restore",
	"/proc/net/ip6_tables_names", "IPv6",
};

/* "COLO-" and the name in capitals. */
static void chain_name(const struct rules_spec *spec, char out[CHAIN_MAX])
{
	size_t i;

	memcpy(out, "COLO-", 5);
	for (i = 0; i < RULES_NAME_MAX - 1 && spec->name[i]; i++) {
		char c = spec->name[i];

		out[5 + i] = c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
	}
	out[5 + i] = '\0';
}

int rules_ipt_usable(char *err, size_t errlen)
{
	static const char *const cmds[] = {
		"iptables-legacy-restore", "ip6tables-legacy-restore",
		"iptables-legacy-save", "ip6tables-legacy-save",
	};
	char path[4096];
	size_t i;

	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (rules_find_cmd(cmds[i], path, sizeof(path)) < 0) {
			rules_err(err, errlen, "%s not found in $PATH, "
				  "/usr/sbin, /sbin", cmds[i]);
			return -ENOENT;
		}
	}
	return 0;
}

/* ---- rendering ------------------------------------------------------------ */

static void render_queue(struct rules_text *t, const char *chain,
			 const struct rules_queue *q, int family)
{
	/* neighbour discovery (RFC 4861: RS, RA, NS, NA, redirect) and
	 * multicast listener discovery (RFC 2710/3810: query, report, done,
	 * v2 report): link-local control sent on the stacks' own timers */
	static const int pass_types[] = { 130, 131, 132, 133, 134, 135, 136,
					  137, 143 };
	char phys[96];

	snprintf(phys, sizeof(phys), "-m physdev %s %s --physdev-is-bridged",
		 q->dir == RULES_PHYSDEV_IN ? "--physdev-in" : "--physdev-out",
		 q->port);
	for (size_t i = 0; family == AF_INET6 && q->pass_nd &&
	     i < sizeof(pass_types) / sizeof(pass_types[0]); i++)
		rules_text_add(t, "-A %s -p ipv6-icmp %s -m icmp6 "
			       "--icmpv6-type %d -j ACCEPT\n", chain, phys,
			       pass_types[i]);
	if (q->skip_from[0] && q->dir == RULES_PHYSDEV_OUT)
		rules_text_add(t, "-A %s -m physdev --physdev-in %s "
			       "--physdev-out %s --physdev-is-bridged -j ACCEPT\n",
			       chain, q->skip_from, q->port);
	rules_text_add(t, "-A %s %s -j NFQUEUE --queue-num %u\n", chain, phys,
		       (unsigned)q->queue_num);
}

int rules_ipt_render(const struct rules_spec *spec, int family, char *buf,
		     size_t len)
{
	char chain[CHAIN_MAX];
	struct rules_text t;
	unsigned i;

	chain_name(spec, chain);
	rules_text_init(&t, buf, len);
	/* with --noflush, declaring an existing chain flushes it */
	rules_text_add(&t, "*filter\n:%s - [0:0]\n-I FORWARD 1 -j %s\n",
		       chain, chain);
	for (i = 0; i < spec->nq; i++)
		render_queue(&t, chain, &spec->q[i], family);
	rules_text_add(&t, "COMMIT\n");
	return rules_text_end(&t);
}

/* ---- commands ----------------------------------------------------------- */

/* Feed TEXT to F's restore command; WHAT says what for, in ERR. */
static int restore(const struct ipt_family *f, const char *text,
		   const char *what, char *err, size_t errlen)
{
	const char *argv[] = { f->restore, RESTORE_WAIT, "--noflush", NULL };
	char why[700];
	int ret = rules_run(argv, text, NULL, NULL, why, sizeof(why));

	if (ret < 0)
		rules_err(err, errlen, "%s %s rules: %s", what, f->label, why);
	return ret;
}

/* Whether F's filter table exists in this namespace at all (reading it
 * with iptables-save would create it). */
static bool table_listed(const struct ipt_family *f)
{
	char buf[512];
	ssize_t n;
	int fd = open(f->tables, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	return !strncmp(buf, "filter\n", 7) || strstr(buf, "\nfilter\n");
}

/* F's filter table as iptables-save prints it, in *OUT (free it); NULL
 * with 0 when the table does not exist. */
static int save(const struct ipt_family *f, char **out, char *err,
		size_t errlen)
{
	const char *argv[] = { f->save, "-t", "filter", NULL };
	size_t len;
	int ret;

	*out = NULL;
	if (!table_listed(f))
		return 0;
	ret = rules_run(argv, NULL, out, &len, err, errlen);
	return ret;
}

/* LINE (one line of iptables-save, no newline) jumps to CHAIN. */
static bool jumps_to(const char *line, const char *chain)
{
	size_t n = strlen(chain);
	const char *p = line;

	while ((p = strstr(p, " -j ")) != NULL) {
		p += 4;
		if (!strncmp(p, chain, n) && (p[n] == '\0' || p[n] == ' '))
			return true;
	}
	return false;
}

/*
 * From SAVED (modified), the restore text that removes CHAIN and every
 * FORWARD jump to it, into SCRIPT (at least strlen(SAVED) + 256 bytes).
 * Returns its length, 0 if there is nothing to remove.
 */
static int removal_script(char *saved, const char *chain, char *script,
			  size_t len)
{
	struct rules_text t;
	bool found = false, chain_found = false;
	char *line, *save_ptr = NULL;

	rules_text_init(&t, script, len);
	rules_text_add(&t, "*filter\n");
	for (line = strtok_r(saved, "\n", &save_ptr); line;
	     line = strtok_r(NULL, "\n", &save_ptr)) {
		if (line[0] == ':' && !strncmp(line + 1, chain, strlen(chain)) &&
		    line[1 + strlen(chain)] == ' ')
			chain_found = true;
		else if (!strncmp(line, "-A FORWARD ", 11) && jumps_to(line, chain)) {
			rules_text_add(&t, "-D%s\n", line + 2);
			found = true;
		}
	}
	if (chain_found)
		rules_text_add(&t, "-F %s\n-X %s\n", chain, chain);
	rules_text_add(&t, "COMMIT\n");
	if (!found && !chain_found)
		return 0;
	return rules_text_end(&t);
}

static int remove_family(const struct rules_spec *spec,
			 const struct ipt_family *f, char *err, size_t errlen)
{
	char chain[CHAIN_MAX], *saved = NULL, *script = NULL;
	int ret, n;

	chain_name(spec, chain);
	ret = save(f, &saved, err, errlen);
	if (ret < 0 || !saved)
		goto out;
	script = malloc(strlen(saved) + 256);
	if (!script) {
		ret = -ENOMEM;
		rules_err(err, errlen, "out of memory");
		goto out;
	}
	n = removal_script(saved, chain, script, strlen(saved) + 256);
	if (n > 0)
		ret = restore(f, script, "removing", err, errlen);
	else if (n < 0)
		ret = n;
out:
	free(saved);
	free(script);
	return ret;
}

static bool present_family(const struct rules_spec *spec,
			   const struct ipt_family *f)
{
	char chain[CHAIN_MAX], *saved = NULL, *line, *save_ptr = NULL;
	size_t n;
	bool found = false;

	chain_name(spec, chain);
	n = strlen(chain);
	if (save(f, &saved, NULL, 0) < 0 || !saved)
		return false;
	for (line = strtok_r(saved, "\n", &save_ptr); line && !found;
	     line = strtok_r(NULL, "\n", &save_ptr))
		found = line[0] == ':' && !strncmp(line + 1, chain, n) &&
			line[1 + n] == ' ';
	free(saved);
	return found;
}

/* ---- br_netfilter ---------------------------------------------------------- */

static int read_flag(const char *path, char *c)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), ret = 0;

	if (fd < 0)
		return -errno;
	if (read(fd, c, 1) != 1)
		ret = -EIO;
	close(fd);
	return ret;
}

static int set_flag(const char *dir, const char *name, char *err, size_t errlen)
{
	char path[512], c = 0;
	int fd, ret;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	ret = read_flag(path, &c);
	if (ret == 0 && c == '1')
		return 0;
	fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0 || write(fd, "1\n", 2) != 2)
		ret = -errno;
	else
		ret = read_flag(path, &c);
	if (fd >= 0)
		close(fd);
	if (ret == 0 && c != '1')
		ret = -EIO;
	if (ret < 0)
		rules_err(err, errlen, "cannot set %s to 1 (%s): bridged frames "
			  "would never reach the queue", path, strerror(-ret));
	return ret;
}

int rules_ipt_bridge_nf(const char *dir, bool ipv6, char *err, size_t errlen)
{
	struct stat st;
	int ret;

	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		rules_err(err, errlen, "%s is missing: br_netfilter is not loaded "
			  "(modprobe br_netfilter), and without it bridged frames "
			  "never reach iptables or the queue", dir);
		return -ENOENT;
	}
	ret = set_flag(dir, "bridge-nf-call-iptables", err, errlen);
	if (ret == 0 && ipv6)
		ret = set_flag(dir, "bridge-nf-call-ip6tables", err, errlen);
	/* 802.1Q-tagged IP frames pass br_netfilter unseen unless this is
	 * set: a VM on a VLAN would have its output leave unheld */
	if (ret == 0)
		ret = set_flag(dir, "bridge-nf-filter-vlan-tagged", err, errlen);
	return ret;
}

/* ---- entry points --------------------------------------------------------- */

static int render_or_say(const struct rules_spec *spec, int family,
			 char text[RULES_TEXT_MAX], char *err, size_t errlen)
{
	int ret = rules_ipt_render(spec, family, text, RULES_TEXT_MAX);

	if (ret < 0)
		rules_err(err, errlen, "rule text longer than %d bytes",
			  RULES_TEXT_MAX);
	return ret;
}

int rules_ipt_apply(const struct rules_spec *spec, char *err, size_t errlen)
{
	char text[RULES_TEXT_MAX];
	int ret;

	ret = rules_ipt_bridge_nf(RULES_BRIDGE_SYSCTL_DIR, spec->ipv6, err, errlen);
	if (ret < 0)
		return ret;
	ret = render_or_say(spec, AF_INET, text, err, errlen);
	if (ret >= 0)
		ret = restore(&ipt4, text, "installing", err, errlen);
	if (ret < 0 || !spec->ipv6)
		return ret < 0 ? ret : 0;
	ret = render_or_say(spec, AF_INET6, text, err, errlen);
	if (ret >= 0)
		ret = restore(&ipt6, text, "installing", err, errlen);
	if (ret < 0)	/* all or nothing: take the IPv4 half back */
		remove_family(spec, &ipt4, NULL, 0);
	return ret < 0 ? ret : 0;
}

int rules_ipt_remove(const struct rules_spec *spec, char *err, size_t errlen)
{
	int ret = rules_ipt_usable(err, errlen);

	if (ret == 0)
		ret = remove_family(spec, &ipt4, err, errlen);
	if (ret == 0)
		ret = remove_family(spec, &ipt6, err, errlen);
	return ret;
}

bool rules_ipt_present(const struct rules_spec *spec)
{
	if (rules_ipt_usable(NULL, 0) < 0)
		return false;
	return present_family(spec, &ipt4) || present_family(spec, &ipt6);
}
