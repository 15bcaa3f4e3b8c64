/*
 * test_hb_conf: colo-heartbeat's configuration checks (heartbeat/conf.c):
 * the [reprotect] uri made of the replication peer and colo_port, and
 * the errors that quote the bad value.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "heartbeat/conf.h"

static const char base[] =
	"[heartbeat]\nname = t\nnode = b\nrole = secondary\n"
	"key_file = /dev/null\n"
	"[replication]\nlocal = 10.0.0.2:7800\npeer = 10.0.0.1:7800\n"
	"[lan]\nlocal = 192.168.1.2:7800\npeer = 192.168.1.1:7800\n"
	"[witness]\naddress = 192.168.1.3:7800\n"
	"[vm]\nqmp = /run/vm.qmp\n";

static bool parse(const char *extra, struct hb_conf *c, char *err, size_t len)
{
	char text[2048];

	snprintf(text, sizeof(text), "%s%s", base, extra);
	memset(c, 0, sizeof(*c));
	return hb_conf_parse(c, text, strlen(text), err, len);
}

Test(hb_conf, reprotect_uri_from_the_replication_peer)
{
	struct hb_conf c;
	char err[256];

	cr_assert(parse("[failover]\ncolo_port = 8888\n", &c, err, sizeof(err)),
		  "%s", err);
	cr_expect_str_eq(c.reprotect_uri, "tcp:10.0.0.1:8888");
	cr_expect_not(c.reprotect_auto, "auto is off by default");
}

Test(hb_conf, reprotect_uri_ipv6)
{
	struct hb_conf c;
	char err[256];
	static const char v6[] =
		"[heartbeat]\nname = t\nnode = a\nrole = primary\n"
		"key_file = /dev/null\n"
		"[replication]\nlocal = [fd00::1]:7800\npeer = [fd00::2]:7800\n"
		"[tiebreaker]\nmode = none\n[vm]\nqmp = /run/vm.qmp\n"
		"[failover]\ncolo_port = 8888\n";

	memset(&c, 0, sizeof(c));
	cr_assert(hb_conf_parse(&c, v6, strlen(v6), err, sizeof(err)), "%s",
		  err);
	cr_expect_str_eq(c.reprotect_uri, "tcp:[fd00::2]:8888");
}

Test(hb_conf, reprotect_uri_given)
{
	struct hb_conf c;
	char err[256];

	cr_assert(parse("[failover]\ncolo_port = 8888\n[reprotect]\n"
			"uri = tcp:127.0.0.1:9999\nauto = yes\n", &c, err,
			sizeof(err)), "%s", err);
	cr_expect_str_eq(c.reprotect_uri, "tcp:127.0.0.1:9999");
	cr_expect(c.reprotect_auto);
}

Test(hb_conf, reprotect_uri_none_without_colo_port)
{
	struct hb_conf c;
	char err[256];

	cr_assert(parse("", &c, err, sizeof(err)), "%s", err);
	cr_expect_str_eq(c.reprotect_uri, "");
}

Test(hb_conf, bad_reprotect_uri_quoted)
{
	struct hb_conf c;
	char err[256];

	cr_assert_not(parse("[reprotect]\nuri = 10.0.0.1:8888\n", &c, err,
			    sizeof(err)));
	cr_expect(strstr(err, "\"10.0.0.1:8888\"") != NULL, "%s", err);
	cr_expect(strstr(err, "[reprotect] uri") != NULL, "%s", err);
}

Test(hb_conf, timeout_below_three_intervals)
{
	struct hb_conf c;
	char err[256];

	cr_assert_not(parse("[heartbeat]\ninterval = 100ms\ntimeout = 250ms\n",
			    &c, err, sizeof(err)));
	cr_expect(strstr(err, "250 ms") != NULL, "%s", err);
}

Test(hb_conf, bridge_needs_lan_port)
{
	struct hb_conf c;
	char err[256];

	cr_assert_not(parse("[failover]\nbridge = br0\n", &c, err,
			    sizeof(err)));
	cr_expect(strstr(err, "lan_port") != NULL, "%s", err);
}

Test(hb_conf, witness_address_required_by_default)
{
	struct hb_conf c;
	char err[256];
	static const char t[] =
		"[heartbeat]\nname = t\nnode = a\nkey_file = /dev/null\n"
		"[replication]\nlocal = 10.0.0.1:7800\npeer = 10.0.0.2:7800\n"
		"[vm]\nqmp = /run/vm.qmp\n";

	memset(&c, 0, sizeof(c));
	cr_assert_not(hb_conf_parse(&c, t, strlen(t), err, sizeof(err)));
	cr_expect(strstr(err, "[witness] address") != NULL, "%s", err);
}

/* The base names its VM by QMP socket; these swap in libvirt. */
static bool parse_vm(const char *vm, const char *extra, struct hb_conf *c,
		     char *err, size_t len)
{
	char text[2048], b[1024];
	const char *q = strstr(base, "[vm]");

	snprintf(b, sizeof(b), "%.*s", (int)(q - base), base);
	snprintf(text, sizeof(text), "%s[vm]\n%s%s", b, vm, extra);
	memset(c, 0, sizeof(*c));
	return hb_conf_parse(c, text, strlen(text), err, len);
}

Test(hb_conf, vm_through_libvirt)
{
	struct hb_conf c;
	char err[256];

	cr_assert(parse_vm("libvirt = qemu:///system\ndomain = svm\n", "", &c,
			   err, sizeof(err)), "%s", err);
	cr_expect_str_eq(c.vm_uri, "qemu:///system");
	cr_expect_str_eq(c.vm_domain, "svm");
	cr_expect_eq(c.qmp[0], 0);
	cr_expect_eq(c.vm_grace_ms, 10000, "libvirt_grace defaults to 10 s");
}

Test(hb_conf, vm_qmp_and_libvirt_refused)
{
	struct hb_conf c;
	char err[256];

	cr_assert_not(parse_vm("qmp = /run/vm.qmp\nlibvirt = qemu:///system\n"
			       "domain = svm\n", "", &c, err, sizeof(err)));
	cr_expect(strstr(err, "\"/run/vm.qmp\"") && strstr(err, "not both"),
		  "%s", err);
}

Test(hb_conf, vm_libvirt_needs_a_domain)
{
	struct hb_conf c;
	char err[256];

	cr_assert_not(parse_vm("libvirt = qemu:///system\n", "", &c, err,
			       sizeof(err)));
	cr_expect(strstr(err, "[vm] domain: required"), "%s", err);
	cr_assert_not(parse_vm("", "", &c, err, sizeof(err)));
	cr_expect(strstr(err, "[vm] qmp: required"), "%s", err);
}

Test(hb_conf, fence_through_libvirt)
{
	struct hb_conf c;
	char err[256];

	cr_assert(parse("[fence]\nlibvirt = qemu+tcp://10.0.0.1/system\n"
			"domain = pvm\ntimeout = 3s\n[tiebreaker]\n"
			"mode = witness+fence\n", &c, err, sizeof(err)),
		  "%s", err);
	cr_expect_str_eq(c.fence_uri, "qemu+tcp://10.0.0.1/system");
	cr_expect_str_eq(c.fence_domain, "pvm");
	cr_expect_eq(c.fence_lv_timeout_ms, 3000);
	cr_expect_eq(c.tiebreak, HB_TB_WITNESS_FENCE);
}

/* libvirt's destroy may take its SIGTERM grace (10 s) and 5 s after
 * SIGKILL: the default deadline covers both */
Test(hb_conf, fence_timeout_default_covers_libvirts_grace)
{
	struct hb_conf c;
	char err[256];

	cr_assert(parse("[fence]\nlibvirt = qemu+tcp://10.0.0.1/system\n"
			"domain = pvm\n", &c, err, sizeof(err)), "%s", err);
	cr_expect_geq(c.fence_lv_timeout_ms, 15000);
	cr_expect_eq(c.fence_lv_timeout_ms, 20000);
}

Test(hb_conf, fence_mode_needs_a_hook_or_libvirt)
{
	struct hb_conf c;
	char err[256];

	cr_assert_not(parse("[tiebreaker]\nmode = fence\n", &c, err,
			    sizeof(err)));
	cr_expect(strstr(err, "fence_hook: required"), "%s", err);
	cr_assert_not(parse("[fence]\nlibvirt = qemu+tcp://h/system\n", &c, err,
			    sizeof(err)));
	cr_expect(strstr(err, "[fence] domain: required"), "%s", err);
	cr_assert_not(parse("[fence]\nlibvirt = qemu+tcp://h/system\n"
			    "domain = pvm\n[tiebreaker]\nmode = fence\n"
			    "fence_hook = /bin/true\n", &c, err, sizeof(err)));
	cr_expect(strstr(err, "\"/bin/true\"") && strstr(err, "not both"),
		  "%s", err);
}
