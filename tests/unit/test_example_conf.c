/*
 * test_example_conf: the example configuration files under etc/ are what
 * operators copy; each must load as it ships (run from the repository's
 * top directory, as tests/run-all.sh does).  A section pasted into the
 * middle of another one's comments once made colo-heartbeat.conf fail.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "colo-proxy/conf.h"
#include "heartbeat/conf.h"
#include "relay/conf.h"

Test(example_conf, colo_heartbeat_conf_loads)
{
	struct hb_conf c;
	char err[512] = "";

	memset(&c, 0, sizeof(c));
	cr_assert(hb_conf_load(&c, "etc/colo-heartbeat.conf", err, sizeof(err)),
		  "%s", err);
	cr_expect_neq(c.qmp[0], 0);
}

Test(example_conf, colo_proxy_conf_loads)
{
	struct proxy_conf c;
	char err[512] = "";

	memset(&c, 0, sizeof(c));
	cr_assert(proxy_conf_load(&c, "etc/colo-proxy.conf", err, sizeof(err)),
		  "%s", err);
}

Test(example_conf, colo_relay_conf_loads)
{
	struct relay_conf c;
	char err[512] = "";

	memset(&c, 0, sizeof(c));
	cr_assert(relay_conf_load(&c, "etc/colo-relay.conf", err, sizeof(err)),
		  "%s", err);
}
