/*
 * Criterion suite for colo-proxy/rules: rendering (exact text), spec
 * checks, backend detection, and the iptables-legacy backend against the
 * kernel.  Every test that touches netfilter first moves its process
 * (Criterion runs each test in one of its own) into a fresh network
 * namespace with unshare(CLONE_NEWNET), so nothing reaches the host's
 * rules and the namespace dies with the test.  The end-to-end test builds
 * a bridge with two veth ports whose peers live in two more namespaces
 * held only by file descriptors (no `ip netns add`, nothing to clean up).
 *
 * The nft backend cannot queue on this kernel (no CONFIG_NFT_QUEUE): its
 * script is checked by text, by a dry run with the queue statements
 * replaced, and its table removal for real.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "colo-proxy/rules.h"
#include "colo-proxy/rules_int.h"

#define ERRLEN 1024

static void watchdog(void)
{
	alarm(60);
}

TestSuite(rules_render, .init = watchdog);
TestSuite(rules_check, .init = watchdog);
TestSuite(rules_exec, .init = watchdog);
TestSuite(rules_ipt, .init = watchdog);
TestSuite(rules_nft, .init = watchdog);
TestSuite(rules_e2e, .init = watchdog);

/* ---- helpers ----------------------------------------------------------------- */

static struct rules_spec make_spec(const char *name, bool ipv6, bool nd)
{
	struct rules_spec s;

	memset(&s, 0, sizeof(s));
	snprintf(s.name, sizeof(s.name), "%s", name);
	s.ipv6 = ipv6;
	s.nq = 2;
	strcpy(s.q[0].port, "tapA");
	s.q[0].dir = RULES_PHYSDEV_IN;
	s.q[0].queue_num = 1;
	s.q[0].pass_nd = nd;
	strcpy(s.q[1].port, "tapA");
	s.q[1].dir = RULES_PHYSDEV_OUT;
	s.q[1].queue_num = 0;
	s.q[1].pass_nd = nd;
	return s;
}

static void private_netns(void)
{
	cr_assert_eq(unshare(CLONE_NEWNET), 0, "unshare(CLONE_NEWNET): %s",
		     strerror(errno));
}

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* stdout of CMD, malloc'd. */
static char *capture(const char *cmd)
{
	FILE *f = popen(cmd, "r");
	char *buf = NULL;
	size_t len = 0, n;
	char tmp[4096];

	cr_assert_not_null(f, "popen %s", cmd);
	buf = calloc(1, 1);
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0) {
		buf = realloc(buf, len + n + 1);
		memcpy(buf + len, tmp, n);
		len += n;
		buf[len] = '\0';
	}
	pclose(f);
	return buf;
}

/* The lines of CMD's output that start with PREFIX (or "-A " and
 * ":COLO" when PREFIX is NULL), joined with newlines. */
static char *lines_of(const char *cmd, const char *prefix)
{
	char *all = capture(cmd), *out = calloc(1, strlen(all) + 1);
	char *line, *sp = NULL;

	for (line = strtok_r(all, "\n", &sp); line; line = strtok_r(NULL, "\n", &sp)) {
		bool keep = prefix ? !strncmp(line, prefix, strlen(prefix))
				   : !strncmp(line, "-A ", 3) ||
				     !strncmp(line, ":COLO", 5);
		if (keep) {
			strcat(out, line);
			strcat(out, "\n");
		}
	}
	free(all);
	return out;
}

static char *saved_rules(int family)
{
	return lines_of(family == AF_INET6 ? "ip6tables-legacy-save -t filter"
					   : "iptables-legacy-save -t filter",
			NULL);
}

static int count_substr(const char *s, const char *sub)
{
	int n = 0;

	while ((s = strstr(s, sub)) != NULL) {
		n++;
		s += strlen(sub);
	}
	return n;
}

static char read_sysctl(const char *name)
{
	char path[256], c = 0;
	int fd;

	snprintf(path, sizeof(path), "/proc/sys/net/bridge/%s", name);
	fd = open(path, O_RDONLY);
	cr_assert_geq(fd, 0, "%s", path);
	cr_assert_eq(read(fd, &c, 1), 1);
	close(fd);
	return c;
}

static bool have_cmd(const char *name)
{
	char path[4096];

	return rules_find_cmd(name, path, sizeof(path)) == 0;
}

/* ---- exact text ---------------------------------------------------------------- */

static const char ipt4_primary[] =
	"*filter\n"
	":COLO-PRIMARY - [0:0]\n"
	"-I FORWARD 1 -j COLO-PRIMARY\n"
	"-A COLO-PRIMARY -m physdev --physdev-in tapA --physdev-is-bridged -j NFQUEUE --queue-num 1\n"
	"-A COLO-PRIMARY -m physdev --physdev-out tapA --physdev-is-bridged -j NFQUEUE --queue-num 0\n"
	"COMMIT\n";

#define ND6(dir, n) \
	"-A COLO-PRIMARY -p ipv6-icmp -m physdev --physdev-" dir " tapA --physdev-is-bridged -m icmp6 --icmpv6-type " n " -j ACCEPT\n"

static const char ipt6_primary_nd[] =
	"*filter\n"
	":COLO-PRIMARY - [0:0]\n"
	"-I FORWARD 1 -j COLO-PRIMARY\n"
	ND6("in", "130") ND6("in", "131") ND6("in", "132") ND6("in", "133") ND6("in", "134")
	ND6("in", "135") ND6("in", "136") ND6("in", "137") ND6("in", "143")
	"-A COLO-PRIMARY -m physdev --physdev-in tapA --physdev-is-bridged -j NFQUEUE --queue-num 1\n"
	ND6("out", "130") ND6("out", "131") ND6("out", "132") ND6("out", "133") ND6("out", "134")
	ND6("out", "135") ND6("out", "136") ND6("out", "137") ND6("out", "143")
	"-A COLO-PRIMARY -m physdev --physdev-out tapA --physdev-is-bridged -j NFQUEUE --queue-num 0\n"
	"COMMIT\n";

static const char nft_primary_nd[] =
	"table bridge colo_primary\n"
	"delete table bridge colo_primary\n"
	"table bridge colo_primary {\n"
	"\tchain forward {\n"
	"\t\ttype filter hook forward priority 0; policy accept;\n"
	"\t\tiifname \"tapA\" meta protocol ip6 icmpv6 type { 130, 131, 132, 133, 134, 135, 136, 137, 143 } accept\n"
	"\t\tiifname \"tapA\" meta protocol { ip, ip6 } queue num 1\n"
	"\t\toifname \"tapA\" meta protocol ip6 icmpv6 type { 130, 131, 132, 133, 134, 135, 136, 137, 143 } accept\n"
	"\t\toifname \"tapA\" meta protocol { ip, ip6 } queue num 0\n"
	"\t}\n"
	"}\n";

Test(rules_render, iptables_ipv4_exact)
{
	struct rules_spec s = make_spec("primary", true, true);
	char buf[RULES_TEXT_MAX];
	int n = rules_render(&s, RULES_IPTABLES_LEGACY, AF_INET, buf, sizeof(buf));

	/* no ND rules for IPv4: ARP never reaches iptables */
	cr_assert_eq(n, (int)strlen(ipt4_primary));
	cr_assert_str_eq(buf, ipt4_primary);
}

Test(rules_render, iptables_ipv6_exact_with_nd)
{
	struct rules_spec s = make_spec("primary", true, true);
	char buf[RULES_TEXT_MAX];
	int n = rules_render(&s, RULES_IPTABLES_LEGACY, AF_INET6, buf, sizeof(buf));

	cr_assert_eq(n, (int)strlen(ipt6_primary_nd));
	cr_assert_str_eq(buf, ipt6_primary_nd);
}

Test(rules_render, iptables_ipv6_without_nd_is_the_ipv4_text)
{
	struct rules_spec s = make_spec("primary", true, false);
	char buf[RULES_TEXT_MAX];

	cr_assert_gt(rules_render(&s, RULES_IPTABLES_LEGACY, AF_INET6, buf,
				  sizeof(buf)), 0);
	cr_assert_str_eq(buf, ipt4_primary);
	cr_assert_null(strstr(buf, "queue-bypass"));
}

Test(rules_render, nft_exact)
{
	struct rules_spec s = make_spec("primary", true, true);
	char buf[RULES_TEXT_MAX];
	int n = rules_render(&s, RULES_NFT, 0, buf, sizeof(buf));

	cr_assert_eq(n, (int)strlen(nft_primary_nd));
	cr_assert_str_eq(buf, nft_primary_nd);
	cr_assert_null(strstr(buf, "bypass"));
	cr_assert_null(strstr(buf, "fanout"));
}

Test(rules_render, name_case_and_charset)
{
	struct rules_spec s = make_spec("svm_2-b", false, false);
	char buf[RULES_TEXT_MAX];

	cr_assert_gt(rules_render(&s, RULES_IPTABLES_LEGACY, AF_INET, buf,
				  sizeof(buf)), 0);
	cr_assert_not_null(strstr(buf, ":COLO-SVM_2-B - [0:0]\n"));
	cr_assert_gt(rules_render(&s, RULES_NFT, 0, buf, sizeof(buf)), 0);
	cr_assert_not_null(strstr(buf, "table bridge colo_svm_2-b {\n"));
}

Test(rules_render, too_small_buffer_is_enospc)
{
	struct rules_spec s = make_spec("primary", true, true);
	char buf[64];

	memset(buf, 'x', sizeof(buf));
	cr_assert_eq(rules_render(&s, RULES_IPTABLES_LEGACY, AF_INET6, buf,
				  sizeof(buf)), -ENOSPC);
	cr_assert_lt(strlen(buf), sizeof(buf));
	cr_assert_eq(rules_render(&s, RULES_NFT, 0, buf, sizeof(buf)), -ENOSPC);
	/* exactly the length, no room for the NUL */
	cr_assert_eq(rules_render(&s, RULES_IPTABLES_LEGACY, AF_INET,
				  (char[sizeof(ipt4_primary) - 1]){ 0 },
				  sizeof(ipt4_primary) - 1), -ENOSPC);
}

Test(rules_render, rejects_bad_spec_backend_and_family)
{
	struct rules_spec s = make_spec("primary", true, true);
	char buf[RULES_TEXT_MAX];

	cr_assert_eq(rules_render(&s, RULES_AUTO, AF_INET, buf, sizeof(buf)), -EINVAL);
	cr_assert_eq(rules_render(&s, RULES_IPTABLES_LEGACY, AF_UNIX, buf,
				  sizeof(buf)), -EINVAL);
	strcpy(s.q[0].port, "tap\"A");
	cr_assert_eq(rules_render(&s, RULES_NFT, 0, buf, sizeof(buf)), -EINVAL);
}

/* The nft script parses and loads (the kernel cannot queue here, so the
 * queue statements are swapped for drop), and loading it twice leaves
 * one table: the delete at its top takes the stale one. */
Test(rules_render, nft_script_loads_with_queue_replaced)
{
	struct rules_spec s = make_spec("primary", true, true);
	char buf[RULES_TEXT_MAX], *p, *listing;
	FILE *f;

	if (!have_cmd("nft"))
		cr_skip_test("nft is not installed");
	private_netns();
	cr_assert_gt(rules_render(&s, RULES_NFT, 0, buf, sizeof(buf)), 0);
	while ((p = strstr(buf, "queue num ")) != NULL) {
		size_t n = strlen("queue num ") + strspn(p + 10, "0123456789");

		memset(p, ' ', n);
		memcpy(p, "drop", 4);
	}
	f = fopen("/tmp/colo-rules-test.nft", "w");
	cr_assert_not_null(f);
	fputs(buf, f);
	fclose(f);
	cr_assert_eq(sh("nft -c -f /tmp/colo-rules-test.nft"), 0, "%s", buf);
	cr_assert_eq(sh("nft -f /tmp/colo-rules-test.nft && "
			"nft -f /tmp/colo-rules-test.nft"), 0);
	unlink("/tmp/colo-rules-test.nft");
	listing = capture("nft list ruleset");
	cr_assert_eq(count_substr(listing, "table bridge colo_primary"), 1, "%s", listing);
	cr_assert_eq(count_substr(listing, "iifname \"tapA\""), 2, "%s", listing);
	free(listing);
}

/* ---- checks --------------------------------------------------------------------- */

static void expect_bad(const struct rules_spec *s, const char *needle)
{
	char err[ERRLEN] = "";

	cr_assert_eq(rules_check(s, err, sizeof(err)), -EINVAL, "accepted (%s)", needle);
	cr_assert_not_null(strstr(err, needle), "\"%s\" not in: %s", needle, err);
}

Test(rules_check, good_specs)
{
	struct rules_spec s = make_spec("primary", true, true);
	char err[ERRLEN] = "";

	cr_assert_eq(rules_check(&s, err, sizeof(err)), 0, "%s", err);
	memset(s.name, 'a', RULES_NAME_MAX - 1);	/* 23 characters */
	s.name[RULES_NAME_MAX - 1] = '\0';
	strcpy(s.q[0].port, "veth-0123456789");	/* 15 characters */
	s.q[0].queue_num = 65535;
	cr_assert_eq(rules_check(&s, err, sizeof(err)), 0, "%s", err);
	s.nq = RULES_MAX_QUEUES;
	strcpy(s.q[2].port, "br0.100");
	strcpy(s.q[3].port, "vnet@x");
	cr_assert_eq(rules_check(&s, err, sizeof(err)), 0, "%s", err);
}

Test(rules_check, names_quoted)
{
	struct rules_spec s = make_spec("a b", false, false);

	expect_bad(&s, "instance name \"a b\": character 2");
	strcpy(s.name, "x\"y");
	expect_bad(&s, "\"x\\\"y\"");
	strcpy(s.name, "tab\there");
	expect_bad(&s, "\"tab\\x09here\"");
	strcpy(s.name, "");
	expect_bad(&s, "instance name is empty");
	memset(s.name, 'n', sizeof(s.name));		/* no NUL at all */
	expect_bad(&s, "is too long (at most 23");
	strcpy(s.name, "ok");
	s.backend = (enum rules_backend)9;
	expect_bad(&s, "backend 9");
}

Test(rules_check, ports_quoted)
{
	struct rules_spec s = make_spec("primary", false, false);

	strcpy(s.q[1].port, "tap A");
	expect_bad(&s, "queue 1: port \"tap A\" has a blank");
	strcpy(s.q[1].port, "tap'A");
	expect_bad(&s, "port \"tap'A\" has a quote");
	strcpy(s.q[1].port, "tap+");
	expect_bad(&s, "port \"tap+\" has a wildcard");
	strcpy(s.q[1].port, "tap:1");
	expect_bad(&s, "port \"tap:1\" has '/' or ':'");
	strcpy(s.q[1].port, "..");
	expect_bad(&s, "port \"..\" is not a valid");
	strcpy(s.q[1].port, "");
	expect_bad(&s, "queue 1: port \"\" is empty");
	memset(s.q[1].port, 'p', sizeof(s.q[1].port));
	expect_bad(&s, "port \"pppppppppppppppp\" is too long");
}

Test(rules_check, queues)
{
	struct rules_spec s = make_spec("primary", false, false);

	s.nq = 0;
	expect_bad(&s, "0 queues: there must be 1 to 4");
	s.nq = 5;
	expect_bad(&s, "5 queues");
	s.nq = 2;
	s.q[1].dir = (enum rules_dir)7;
	expect_bad(&s, "queue 1: direction 7");
	s.q[1].dir = RULES_PHYSDEV_IN;
	expect_bad(&s, "queues 0 and 1 both take port \"tapA\" in");
}

Test(rules_check, backend_names)
{
	cr_assert_str_eq(rules_backend_name(RULES_AUTO), "auto");
	cr_assert_str_eq(rules_backend_name(RULES_NFT), "nft");
	cr_assert_str_eq(rules_backend_name(RULES_IPTABLES_LEGACY), "iptables-legacy");
	cr_assert_str_eq(rules_backend_name((enum rules_backend)42), "unknown");
}

Test(rules_check, apply_and_remove_refuse_bad_specs)
{
	struct rules_spec s = make_spec("bad name", false, false);
	char err[ERRLEN] = "";

	private_netns();
	cr_assert_eq(rules_apply(&s, err, sizeof(err)), -EINVAL);
	cr_assert_not_null(strstr(err, "\"bad name\""), "%s", err);
	cr_assert_eq(rules_remove(&s, err, sizeof(err)), -EINVAL);
	cr_assert_not(rules_present(&s));
}

/* ---- running commands ---------------------------------------------------------- */

Test(rules_exec, stdin_to_stdout_large)
{
	static const char *const argv[] = { "cat", NULL };
	size_t n = 3 << 20, outlen = 0, i;
	char *in = malloc(n + 1), *out = NULL, err[ERRLEN] = "";

	for (i = 0; i < n; i++)
		in[i] = (char)('a' + i % 26);
	in[n] = '\0';
	cr_assert_eq(rules_run(argv, in, &out, &outlen, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(outlen, n);
	cr_assert_eq(memcmp(in, out, n), 0);
	free(in);
	free(out);
}

Test(rules_exec, failure_quotes_stderr)
{
	static const char *const argv[] = { "sh", "-c",
		"echo 'line one' >&2; echo 'line two' >&2; exit 3", NULL };
	char err[ERRLEN] = "";

	cr_assert_eq(rules_run(argv, NULL, NULL, NULL, err, sizeof(err)), -EIO);
	cr_assert_not_null(strstr(err, "exit status 3: \"line one; line two\""), "%s", err);
}

Test(rules_exec, missing_command)
{
	static const char *const argv[] = { "colo-no-such-command", NULL };
	char err[ERRLEN] = "";

	cr_assert_eq(rules_run(argv, "x", NULL, NULL, err, sizeof(err)), -ENOENT);
	cr_assert_not_null(strstr(err, "colo-no-such-command: not found"), "%s", err);
}

/* A child that exits without reading its input must not kill us. */
Test(rules_exec, child_ignoring_stdin_is_no_sigpipe)
{
	static const char *const argv[] = { "true", NULL };
	size_t n = 1 << 20;
	char *in = malloc(n + 1), *out = NULL, err[ERRLEN] = "";
	size_t outlen;
	sigset_t pending;

	memset(in, 'z', n);
	in[n] = '\0';
	cr_assert_eq(rules_run(argv, in, &out, &outlen, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(outlen, 0);
	cr_assert_str_eq(out, "");
	sigpending(&pending);
	cr_assert_not(sigismember(&pending, SIGPIPE));
	free(in);
	free(out);
}

/* ---- iptables-legacy ------------------------------------------------------------- */

/* rules_detect's choice, reasoned independently: nft only if a dry run
 * of a bridge queue rule works (it does not on this kernel). */
Test(rules_ipt, detect_picks_what_works)
{
	enum rules_backend b = RULES_AUTO, want = RULES_IPTABLES_LEGACY;
	char err[ERRLEN] = "";

	private_netns();
	if (have_cmd("nft") &&
	    sh("printf 'table bridge t {\\nchain f {\\ntype filter hook forward "
	       "priority 0;\\nqueue num 0\\n}\\n}\\n' | nft -c -f - 2>/dev/null") == 0)
		want = RULES_NFT;
	cr_assert_eq(rules_detect(&b, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(b, want, "detected %s", rules_backend_name(b));
	cr_assert_eq(rules_ipt_usable(err, sizeof(err)), 0, "%s", err);
}

Test(rules_ipt, apply_creates_exactly_the_rules)
{
	struct rules_spec s = make_spec("primary", false, true);
	char err[ERRLEN] = "", *v4, *v6;

	private_netns();
	cr_assert_eq(sh("iptables-legacy -A FORWARD -i lo -j ACCEPT"), 0);
	cr_assert_not(rules_present(&s));
	cr_assert_eq(rules_apply(&s, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(s.backend, RULES_IPTABLES_LEGACY);
	cr_assert(rules_present(&s));
	v4 = saved_rules(AF_INET);
	/* the jump comes first in FORWARD, ahead of the rule already there */
	cr_assert_str_eq(v4,
		":COLO-PRIMARY - [0:0]\n"
		"-A FORWARD -j COLO-PRIMARY\n"
		"-A FORWARD -i lo -j ACCEPT\n"
		"-A COLO-PRIMARY -m physdev --physdev-in tapA --physdev-is-bridged -j NFQUEUE --queue-num 1\n"
		"-A COLO-PRIMARY -m physdev --physdev-out tapA --physdev-is-bridged -j NFQUEUE --queue-num 0\n");
	v6 = saved_rules(AF_INET6);
	cr_assert_str_eq(v6, "", "ipv6 off, yet: %s", v6);
	free(v4);
	free(v6);
}

/* The rendered lines are exactly what iptables-save shows afterwards. */
Test(rules_ipt, ipv6_spec_installs_ip6tables_rules)
{
	struct rules_spec s = make_spec("primary", true, true);
	char err[ERRLEN] = "", text[RULES_TEXT_MAX], *v6, *want, *line, *sp = NULL;

	private_netns();
	s.backend = RULES_IPTABLES_LEGACY;
	cr_assert_eq(rules_apply(&s, err, sizeof(err)), 0, "%s", err);
	cr_assert_gt(rules_render(&s, RULES_IPTABLES_LEGACY, AF_INET6, text,
				  sizeof(text)), 0);
	want = calloc(1, sizeof(text) + 64);
	strcat(want, ":COLO-PRIMARY - [0:0]\n-A FORWARD -j COLO-PRIMARY\n");
	for (line = strtok_r(text, "\n", &sp); line; line = strtok_r(NULL, "\n", &sp)) {
		if (!strncmp(line, "-A ", 3)) {
			strcat(want, line);
			strcat(want, "\n");
		}
	}
	v6 = saved_rules(AF_INET6);
	cr_assert_str_eq(v6, want);
	cr_assert_eq(count_substr(v6, "--icmpv6-type"), 18);
	free(v6);
	free(want);
}

Test(rules_ipt, apply_twice_does_not_duplicate)
{
	struct rules_spec s = make_spec("twice", true, false);
	char err[ERRLEN] = "", *first, *second, *first6, *second6;

	private_netns();
	cr_assert_eq(rules_apply(&s, err, sizeof(err)), 0, "%s", err);
	first = saved_rules(AF_INET);
	first6 = saved_rules(AF_INET6);
	cr_assert_eq(rules_apply(&s, err, sizeof(err)), 0, "%s", err);
	second = saved_rules(AF_INET);
	second6 = saved_rules(AF_INET6);
	cr_assert_str_eq(first, second);
	cr_assert_str_eq(first6, second6);
	cr_assert_eq(count_substr(second, "-j COLO-TWICE"), 1);
	cr_assert_eq(count_substr(second, "NFQUEUE"), 2);
	cr_assert_eq(count_substr(second6, "-j COLO-TWICE"), 1);
	free(first);
	free(second);
	free(first6);
	free(second6);
}

/* A process applies and dies without cleaning up (kill -9); a new one
 * with the same spec leaves one jump.  Jumps left by older crashes
 * (duplicates, or with extra matches) go too. */
Test(rules_ipt, crash_then_restart_leaves_one_jump)
{
	struct rules_spec s = make_spec("crash", true, false);
	char err[ERRLEN] = "", *once, *after;
	int st;
	pid_t pid;

	private_netns();
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct rules_spec c = make_spec("crash", true, false);

		_exit(rules_apply(&c, NULL, 0) == 0 ? 0 : 1);
	}
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	once = saved_rules(AF_INET);
	cr_assert_eq(count_substr(once, "-j COLO-CRASH"), 1);
	cr_assert_eq(sh("iptables-legacy -I FORWARD -j COLO-CRASH && "
			"iptables-legacy -A FORWARD -i eth9 -j COLO-CRASH && "
			"ip6tables-legacy -A FORWARD -j COLO-CRASH"), 0);
	cr_assert_eq(rules_apply(&s, err, sizeof(err)), 0, "%s", err);
	after = saved_rules(AF_INET);
	cr_assert_str_eq(after, once);
	free(after);
	after = saved_rules(AF_INET6);
	cr_assert_eq(count_substr(after, "-j COLO-CRASH"), 1, "%s", after);
	free(once);
	free(after);
}

Test(rules_ipt, remove_is_idempotent_and_leaves_no_trace)
{
	struct rules_spec s = make_spec("gone", true, true);
	char err[ERRLEN] = "", *v4, *v6;

	private_netns();
	cr_assert_eq(rules_remove(&s, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(rules_apply(&s, err, sizeof(err)), 0, "%s", err);
	cr_assert(rules_present(&s));
	cr_assert_eq(rules_remove(&s, err, sizeof(err)), 0, "%s", err);
	cr_assert_not(rules_present(&s));
	cr_assert_eq(rules_remove(&s, err, sizeof(err)), 0, "%s", err);
	s.backend = RULES_AUTO;
	cr_assert_eq(rules_remove(&s, err, sizeof(err)), 0, "%s", err);
	v4 = capture("iptables-legacy-save");
	v6 = capture("ip6tables-legacy-save");
	cr_assert_null(strstr(v4, "COLO"), "%s", v4);
	cr_assert_null(strstr(v6, "COLO"), "%s", v6);
	free(v4);
	free(v6);
}

/* Two instances side by side: removing one leaves the other alone. */
Test(rules_ipt, instances_are_independent)
{
	struct rules_spec a = make_spec("one", false, false);
	struct rules_spec b = make_spec("two", false, false);
	char err[ERRLEN] = "", *v4;

	private_netns();
	strcpy(b.q[0].port, "tapB");
	strcpy(b.q[1].port, "tapB");
	cr_assert_eq(rules_apply(&a, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(rules_apply(&b, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(rules_remove(&a, err, sizeof(err)), 0, "%s", err);
	cr_assert_not(rules_present(&a));
	cr_assert(rules_present(&b));
	v4 = saved_rules(AF_INET);
	cr_assert_eq(count_substr(v4, "-j COLO-TWO"), 1, "%s", v4);
	cr_assert_null(strstr(v4, "COLO-ONE"), "%s", v4);
	free(v4);
}

Test(rules_ipt, bridge_sysctls_get_set)
{
	struct rules_spec s = make_spec("sysctl", false, false);
	char err[ERRLEN] = "";

	private_netns();
	cr_assert_eq(sh("echo 0 > /proc/sys/net/bridge/bridge-nf-call-iptables && "
			"echo 0 > /proc/sys/net/bridge/bridge-nf-call-ip6tables"), 0);
	cr_assert_eq(rules_apply(&s, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(read_sysctl("bridge-nf-call-iptables"), '1');
	/* ipv6 off: the host's ip6tables is not put in bridged traffic's way */
	cr_assert_eq(read_sysctl("bridge-nf-call-ip6tables"), '0');
	s.ipv6 = true;
	cr_assert_eq(rules_apply(&s, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(read_sysctl("bridge-nf-call-ip6tables"), '1');
}

static char tmpdir[64];

static void tmpdir_fini(void)
{
	char cmd[128];

	if (tmpdir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", tmpdir);
	}
}

static void make_tmpdir(void)
{
	strcpy(tmpdir, "/tmp/colo-rules-XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir));
}

Test(rules_ipt, bridge_nf_errors, .fini = tmpdir_fini)
{
	char err[ERRLEN] = "", dir[128], path[192], c = 0;
	int fd;

	make_tmpdir();
	snprintf(dir, sizeof(dir), "%s/bridge", tmpdir);
	cr_assert_eq(rules_ipt_bridge_nf(dir, true, err, sizeof(err)), -ENOENT);
	cr_assert_not_null(strstr(err, "br_netfilter is not loaded"), "%s", err);
	cr_assert_not_null(strstr(err, dir), "%s", err);

	cr_assert_eq(mkdir(dir, 0755), 0);
	cr_assert_eq(sh("echo 0 > %s/bridge-nf-call-iptables && "
			"echo 0 > %s/bridge-nf-call-ip6tables && "
			"echo 0 > %s/bridge-nf-filter-vlan-tagged", dir, dir,
			dir), 0);
	cr_assert_eq(rules_ipt_bridge_nf(dir, true, err, sizeof(err)), 0, "%s", err);
	/* VLAN-tagged frames must reach the queue too */
	snprintf(path, sizeof(path), "%s/bridge-nf-filter-vlan-tagged", dir);
	fd = open(path, O_RDONLY);
	cr_assert_eq(read(fd, &c, 1), 1);
	close(fd);
	cr_assert_eq(c, '1');
	snprintf(path, sizeof(path), "%s/bridge-nf-call-ip6tables", dir);
	fd = open(path, O_RDONLY);
	cr_assert_eq(read(fd, &c, 1), 1);
	close(fd);
	cr_assert_eq(c, '1');

	/* a flag that cannot be written (here: a directory) is an error */
	cr_assert_eq(unlink(path), 0);
	cr_assert_eq(mkdir(path, 0755), 0);
	cr_assert_lt(rules_ipt_bridge_nf(dir, true, err, sizeof(err)), 0);
	cr_assert_not_null(strstr(err, "cannot set"), "%s", err);
	cr_assert_not_null(strstr(err, "never reach the queue"), "%s", err);
	cr_assert_eq(rules_ipt_bridge_nf(dir, false, err, sizeof(err)), 0, "%s", err);
}

/* Stale chain still referenced elsewhere: iptables refuses to delete it
 * and its complaint reaches the caller. */
Test(rules_ipt, stale_chain_in_use_is_a_clear_error)
{
	struct rules_spec s = make_spec("busy", false, false);
	char err[ERRLEN] = "";

	private_netns();
	cr_assert_eq(sh("iptables-legacy -N COLO-BUSY && "
			"iptables-legacy -A INPUT -j COLO-BUSY"), 0);
	cr_assert_eq(rules_apply(&s, err, sizeof(err)), -EIO);
	cr_assert_not_null(strstr(err, "removing stale rules of \"busy\""), "%s", err);
	cr_assert_not_null(strstr(err, "iptables-legacy-restore --wait=5 --noflush: "
				  "exit status 1: \""), "%s", err);
	cr_assert_not_null(strstr(err, "line 3 failed"), "%s", err);
}

/* The IPv6 half fails (a stand-in ip6tables-legacy-restore first in
 * PATH): the IPv4 half is taken back and the error quotes the command. */
Test(rules_ipt, partial_failure_is_undone, .fini = tmpdir_fini)
{
	struct rules_spec s = make_spec("half", true, false);
	char err[ERRLEN] = "", path[4096], *v4;

	private_netns();
	make_tmpdir();
	cr_assert_eq(sh("printf '#!/bin/sh\\ncat >/dev/null\\necho \"simulated "
			"failure\" >&2\\nexit 2\\n' > %s/ip6tables-legacy-restore && "
			"chmod 755 %s/ip6tables-legacy-restore", tmpdir, tmpdir), 0);
	snprintf(path, sizeof(path), "%s:%s", tmpdir, getenv("PATH"));
	setenv("PATH", path, 1);
	cr_assert_eq(rules_apply(&s, err, sizeof(err)), -EIO);
	cr_assert_not_null(strstr(err, "installing IPv6 rules: ip6tables-legacy-restore"
				  " --wait=5 --noflush: exit status 2: "
				  "\"simulated failure\""), "%s", err);
	cr_assert_not(rules_present(&s));
	v4 = capture("iptables-legacy-save");
	cr_assert_null(strstr(v4, "COLO"), "%s", v4);
	free(v4);
}

/* ---- nft table handling (no queueing here) ------------------------------------- */

Test(rules_nft, remove_table_idempotent)
{
	struct rules_spec s = make_spec("nfttab", false, false);
	char err[ERRLEN] = "";

	if (!have_cmd("nft"))
		cr_skip_test("nft is not installed");
	private_netns();
	s.backend = RULES_NFT;
	cr_assert_not(rules_present(&s));
	cr_assert_eq(rules_remove(&s, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(sh("nft add table bridge colo_nfttab && "
			"nft add table bridge colo_other"), 0);
	cr_assert(rules_present(&s));
	cr_assert_eq(rules_remove(&s, err, sizeof(err)), 0, "%s", err);
	cr_assert_not(rules_present(&s));
	cr_assert_eq(rules_remove(&s, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(sh("nft list table bridge colo_other >/dev/null"), 0);
}

/* An earlier instance that ran on nft left its table: applying with
 * iptables removes it (both would queue every frame). */
Test(rules_nft, stale_table_removed_by_iptables_apply)
{
	struct rules_spec s = make_spec("switch", false, false);
	char err[ERRLEN] = "";

	if (!have_cmd("nft"))
		cr_skip_test("nft is not installed");
	private_netns();
	cr_assert_eq(sh("nft add table bridge colo_switch"), 0);
	s.backend = RULES_IPTABLES_LEGACY;
	cr_assert_eq(rules_apply(&s, err, sizeof(err)), 0, "%s", err);
	cr_assert_neq(sh("nft list table bridge colo_switch >/dev/null 2>&1"), 0);
	s.backend = RULES_AUTO;
	cr_assert_eq(rules_remove(&s, err, sizeof(err)), 0, "%s", err);
	cr_assert_not(rules_present(&s));
}

Test(rules_nft, apply_failure_quotes_nft)
{
	struct rules_spec s = make_spec("noqueue", false, false);
	char err[ERRLEN] = "";

	if (!have_cmd("nft"))
		cr_skip_test("nft is not installed");
	private_netns();
	if (sh("printf 'table bridge t {\\nchain f {\\ntype filter hook forward "
	       "priority 0;\\nqueue num 0\\n}\\n}\\n' | nft -c -f - 2>/dev/null") == 0)
		cr_skip_test("this kernel can queue from nft");
	s.backend = RULES_NFT;
	cr_assert_eq(rules_apply(&s, err, sizeof(err)), -EIO);
	cr_assert_not_null(strstr(err, "installing nft table: nft -f -: exit status 1: \""),
			   "%s", err);
	cr_assert_not_null(strstr(err, "queue num 1"), "%s", err);
	cr_assert_not(rules_present(&s));	/* one transaction: nothing stays */
}

/* ---- end to end: a queue with no program drops ------------------------------------ */

static int ns_self(void)
{
	int fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);

	cr_assert_geq(fd, 0);
	return fd;
}

static void enter(int nsfd)
{
	cr_assert_eq(setns(nsfd, CLONE_NEWNET), 0, "setns: %s", strerror(errno));
}

/* A UDP socket in namespace NS, bound to ADDR:PORT (PORT 0: any). */
static int udp_in(int ns, int home, const char *addr, int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd;

	enter(ns);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	enter(home);
	cr_assert_geq(fd, 0);
	inet_pton(AF_INET, addr, &sa.sin_addr);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "bind %s", addr);
	return fd;
}

/* Send TOKEN from TX to 10.77.0.2:7777 every 100 ms for up to MS ms;
 * true as soon as RX receives it. */
static bool delivered(int tx, int rx, const char *token, int ms)
{
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(7777) };
	char buf[64];
	int waited;

	inet_pton(AF_INET, "10.77.0.2", &to.sin_addr);
	for (waited = 0; waited < ms; waited += 100) {
		struct pollfd p = { .fd = rx, .events = POLLIN };
		ssize_t n;

		sendto(tx, token, strlen(token), 0, (struct sockaddr *)&to, sizeof(to));
		if (poll(&p, 1, 100) <= 0)
			continue;
		n = recv(rx, buf, sizeof(buf) - 1, 0);
		if (n > 0 && (buf[n] = '\0', !strcmp(buf, token)))
			return true;
	}
	return false;
}

/* Packets the NFQUEUE rule of chain COLO-E2E has matched. */
static unsigned long long queue_rule_packets(void)
{
	char *lines = lines_of("iptables-legacy-save -c -t filter", "[");
	char *p = strstr(lines, "-j NFQUEUE");
	unsigned long long pk = 0;

	cr_assert_not_null(p, "%s", lines);
	while (p > lines && p[-1] != '\n')
		p--;
	cr_assert_eq(sscanf(p, "[%llu:", &pk), 1, "%s", p);
	free(lines);
	return pk;
}

Test(rules_e2e, unbound_queue_drops_until_removed)
{
	struct rules_spec s = make_spec("e2e", false, false);
	char err[ERRLEN] = "";
	int br, vm, cl, tx, rx;

	/* three namespaces: the bridge's (ours), the VM's, the client's */
	private_netns();
	br = ns_self();
	private_netns();
	vm = ns_self();
	private_netns();
	cl = ns_self();
	enter(br);
	cr_assert_eq(sh("ip link add br0 type bridge && ip link set br0 up && "
			"ip link add tapA type veth peer name vm0 && "
			"ip link add tapB type veth peer name cl0 && "
			"ip link set vm0 netns /proc/%d/fd/%d && "
			"ip link set cl0 netns /proc/%d/fd/%d && "
			"ip link set tapA master br0 up && "
			"ip link set tapB master br0 up",
			getpid(), vm, getpid(), cl), 0);
	enter(vm);
	cr_assert_eq(sh("ip addr add 10.77.0.1/24 dev vm0 && ip link set vm0 up"), 0);
	enter(cl);
	cr_assert_eq(sh("ip addr add 10.77.0.2/24 dev cl0 && ip link set cl0 up"), 0);
	enter(br);
	tx = udp_in(vm, br, "10.77.0.1", 0);
	rx = udp_in(cl, br, "10.77.0.2", 7777);

	cr_assert(delivered(tx, rx, "before", 5000), "no traffic through the bridge");

	/* the VM's port feeds queue 4242, which no program has bound */
	s.nq = 1;
	s.q[0].queue_num = 4242;
	cr_assert_eq(rules_apply(&s, err, sizeof(err)), 0, "%s", err);
	cr_assert_not(delivered(tx, rx, "held", 1500), "passed an unbound queue");
	cr_assert_gt(queue_rule_packets(), 0);

	cr_assert_eq(rules_remove(&s, err, sizeof(err)), 0, "%s", err);
	cr_assert(delivered(tx, rx, "after", 3000), "still dropped after removal");
	close(tx);
	close(rx);
}

/* The secondary's own injection port skips the queue toward its VM (it
 * translated those frames already); everything else is still queued. */
Test(rules_render, skip_from_accepts_before_the_queue)
{
	struct rules_spec s = make_spec("sec", false, false);
	char buf[4096];
	const char *acc;

	snprintf(s.q[1].skip_from, sizeof(s.q[1].skip_from), "inj0");
	cr_assert_eq(s.q[1].dir, RULES_PHYSDEV_OUT);
	cr_assert_gt(rules_render(&s, RULES_IPTABLES_LEGACY, AF_INET, buf,
				  sizeof(buf)), 0);
	acc = strstr(buf, "--physdev-in inj0 --physdev-out ");
	cr_assert_not_null(acc, "%s", buf);
	cr_assert_not_null(strstr(acc, "-j ACCEPT"), "%s", buf);
	cr_assert(acc < strstr(buf, "NFQUEUE --queue-num 0"), "%s", buf);
	cr_assert_gt(rules_render(&s, RULES_NFT, AF_INET, buf, sizeof(buf)), 0);
	cr_assert_not_null(strstr(buf, "iifname \"inj0\" oifname "), "%s", buf);
	snprintf(s.q[1].skip_from, sizeof(s.q[1].skip_from), "bad name");
	cr_assert_lt(rules_check(&s, buf, sizeof(buf)), 0);
}
