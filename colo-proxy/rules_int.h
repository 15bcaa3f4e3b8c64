/*
 * rules_int: what rules.c, rules_ipt.c and rules_nft.c share (not part of
 * the public API; the unit tests use it too).
 *
 *   rules.c       public entry points, spec checks, backend detection,
 *                 running the commands (fork/exec, no shell)
 *   rules_ipt.c   iptables-legacy: restore text, save parsing, sysctls
 *   rules_nft.c   nft: the script, the dry run, table presence
 */
#ifndef COLO_PROXY_RULES_INT_H
#define COLO_PROXY_RULES_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "colo-proxy/rules.h"

#define RULES_PRINTF(f, a) __attribute__((format(printf, f, a)))

/* Rendered rule text never comes near this (4 queues with ND passes: ~3 KB). */
#define RULES_TEXT_MAX 8192
/* Where br_netfilter's sysctls live (per network namespace). */
#define RULES_BRIDGE_SYSCTL_DIR "/proc/sys/net/bridge"

/* An append-only text buffer over caller memory; OVERFLOW sticks. */
struct rules_text {
	char *buf;
	size_t len, pos;
	bool overflow;
};

void rules_text_init(struct rules_text *t, char *buf, size_t len);
void rules_text_add(struct rules_text *t, const char *fmt, ...) RULES_PRINTF(2, 3);
/* The length written, or -ENOSPC. */
int rules_text_end(const struct rules_text *t);

/* Format into ERR (if any). */
void rules_err(char *err, size_t errlen, const char *fmt, ...) RULES_PRINTF(3, 4);

/* Full path of command NAME, searched in $PATH, then /usr/sbin, /sbin:
 * 0 or -ENOENT. */
int rules_find_cmd(const char *name, char *path, size_t len);

/*
 * Run ARGV (argv[0] looked up with rules_find_cmd()), feeding it INPUT
 * (may be NULL) on stdin.  If OUT is not NULL, *OUT receives its stdout
 * (malloc'd, NUL-terminated; free it) and *OUTLEN its length.  0 if it
 * exited with status 0; -ENOENT if not found; -EIO if it failed, with ERR
 * quoting its stderr; -ETIMEDOUT (killed after 30 s) or another -errno.
 */
int rules_run(const char *const argv[], const char *input, char **out,
	      size_t *outlen, char *err, size_t errlen);

/* iptables-legacy (rules_ipt.c) */
int rules_ipt_usable(char *err, size_t errlen);
int rules_ipt_render(const struct rules_spec *spec, int family, char *buf,
		     size_t len);
int rules_ipt_apply(const struct rules_spec *spec, char *err, size_t errlen);
int rules_ipt_remove(const struct rules_spec *spec, char *err, size_t errlen);
bool rules_ipt_present(const struct rules_spec *spec);
/* Check br_netfilter's bridge-nf-call-iptables (and -ip6tables if IPV6)
 * under DIR and set them to 1; 0 or -errno with ERR. */
int rules_ipt_bridge_nf(const char *dir, bool ipv6, char *err, size_t errlen);

/* nft (rules_nft.c) */
int rules_nft_probe(char *err, size_t errlen);
int rules_nft_render(const struct rules_spec *spec, char *buf, size_t len);
int rules_nft_apply(const struct rules_spec *spec, char *err, size_t errlen);
int rules_nft_remove(const struct rules_spec *spec, char *err, size_t errlen);
bool rules_nft_present(const struct rules_spec *spec);

#endif /* COLO_PROXY_RULES_INT_H */
