/*
 * libvirt: QEMU domains managed by libvirt, reached through libvirtd.
 *
 * A QMP stream for a domain (lvq_open): the caller gets one end of a
 * socketpair that speaks QMP exactly as QEMU's own -qmp socket does, so
 * the QMP client (checkpoint/qmp.h) and everything built on it work
 * unchanged.  Behind it a thread of ours:
 *
 *   client --{"execute":..,"id":N}--> bridge --virDomainQemuMonitorCommand-->
 *   libvirtd --> QEMU's monitor, and the reply back with our id again;
 *   QEMU's events <-- virConnectDomainQemuMonitorEventRegister <-- libvirtd
 *
 * The greeting carries QEMU's real version (query-version through
 * libvirt); qmp_capabilities is answered by the bridge (libvirt negotiated
 * them).  The stream ends, as QEMU's socket does when QEMU dies, when the
 * domain stops, the connection to libvirtd is lost, or libvirt says the
 * domain is gone; lvq_why() then says why, in libvirt's words.  A command
 * libvirt refuses gets an error reply of class "LibvirtError".
 *
 * Fencing (lv_destroy_start): destroy a domain at a (remote) libvirtd in a
 * thread, the result delivered on the caller's loop, with a deadline.
 *
 * Built without libvirt (no libvirt-dev at build time), lvq_open and
 * lv_destroy_start fail with a message saying so.
 */
#ifndef CHECKPOINT_LIBVIRT_H
#define CHECKPOINT_LIBVIRT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct loop;
struct lvq;
struct lv_job;

#define LV_URI_MAX 256
#define LV_DOMAIN_MAX 128

/* Whether this build can talk to libvirt. */
bool lv_available(void);

/* Start a QMP stream to DOMAIN at URI: *FD is the caller's end
 * (non-blocking, close-on-exec; the caller closes it), *H the handle for
 * lvq_why() and lvq_release().  0, or -1 with the reason in ERR. */
int lvq_open(const char *uri, const char *domain, int *fd, struct lvq **h,
	     char *err, size_t errlen);

/* Why the stream ended ("" while it has not, or for a plain close);
 * *VM_GONE: the domain stopped or libvirt does not know it (else the
 * stream ended because libvirtd could not be reached: a restart of
 * libvirtd, the VM may well run on). */
void lvq_why(struct lvq *h, char *buf, size_t len, bool *vm_gone);

/* The caller is done with H (after closing its end). */
void lvq_release(struct lvq *h);

enum lv_fence_result {
	LV_FENCE_DESTROYED,	/* it ran; libvirt destroyed it */
	LV_FENCE_NOT_RUNNING,	/* defined but not running, or unknown */
	LV_FENCE_UNREACHABLE,	/* no connection to that libvirtd */
	LV_FENCE_REFUSED,	/* libvirt refused the destroy */
	LV_FENCE_TIMEOUT,	/* no answer before the deadline */
};

const char *lv_fence_result_name(enum lv_fence_result r);

/* DONE runs once on LOOP with the result and libvirt's message; the job
 * is gone after it. */
typedef void lv_done_cb(void *arg, enum lv_fence_result r, const char *msg);

/* Destroy DOMAIN at URI within TIMEOUT_MS.  0 (*JP set, may be NULL), or
 * -1 with the reason in ERR (DONE is then not called). */
int lv_destroy_start(struct loop *loop, const char *uri, const char *domain,
		     uint64_t timeout_ms, lv_done_cb *done, void *arg,
		     struct lv_job **jp);

/* Forget a job whose result is no longer wanted (DONE will not run);
 * only before DONE ran. */
void lv_job_cancel(struct lv_job *j);

#endif /* CHECKPOINT_LIBVIRT_H */
