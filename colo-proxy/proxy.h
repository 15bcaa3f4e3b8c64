/*
 * proxy: the colo-proxy daemon's state and its two roles.
 *
 *   primary (host A)                         secondary (host B)
 *   qin:  LAN -> PVM   mirror, accept        qin:  -> SVM  rewrite ack/SACK
 *   qout: PVM -> LAN   hold, compare         qout: SVM ->  rewrite seq, send
 *   chan: <- SVM output, ckpt requests             to A, drop (takeover:
 *         -> mirrored frames, ISNs, epochs         accept)
 *                                            tap:  mirrored frames into br0,
 *                                                  ARP/ND answers
 *
 * Everything is driven by one epoll loop; the comparator (compare/cmp.h)
 * and the rewriter (rewrite.h) are pure libraries fed from here.
 */
#ifndef COLO_PROXY_PROXY_H
#define COLO_PROXY_PROXY_H

#include <stdbool.h>
#include <stdint.h>

#include "colo-proxy/chan.h"
#include "checkpoint/ckpt.h"
#include "colo-proxy/conf.h"
#include "colo-proxy/held.h"
#include "colo-proxy/inject.h"
#include "colo-proxy/neigh.h"
#include "colo-proxy/nfq.h"
#include "colo-proxy/rewrite.h"
#include "colo-proxy/rules.h"
#include "colo-proxy/tail.h"
#include "compare/cmp.h"

struct loop;
struct ctl;
struct buf;

/* NF_DROP and NF_ACCEPT (linux/netfilter.h clashes with netinet/in.h) */
enum { VERDICT_DROP = 0, VERDICT_ACCEPT = 1 };

/* The proxy's own counters (the libraries keep theirs). */
#define PROXY_COUNTERS(X)                                                   \
	X(in_packets)		/* queued toward the VM */                   \
	X(out_packets)		/* queued from the VM */                     \
	X(mirrored)		/* primary: copies sent to the secondary */  \
	X(mirror_lost)		/* ... that could not be sent */             \
	X(truncated_dropped)	/* packets the queue cut short: dropped */   \
	X(released)		/* primary: held output released */          \
	X(released_matched)	/* ... the secondary produced the same */    \
	X(released_committed)	/* ... a completed checkpoint covers it */   \
	X(released_patched)	/* ... with the window lowered */            \
	X(released_unprotected)	/* solo mode: released without compare */    \
	X(secondary_frames)	/* primary: SVM frames received */           \
	X(sent_to_primary)	/* secondary: SVM frames sent */             \
	X(send_failed)		/* secondary: ... that could not be sent */  \
	X(injected)		/* secondary: mirrored frames injected */    \
	X(inject_failed)                                                    \
	X(rewritten_in)		/* secondary: toward the SVM, translated */  \
	X(rewritten_out)	/* secondary: from the SVM, translated */    \
	X(takeover_released)	/* secondary: SVM output to the LAN */       \
	X(parked)		/* SVM handshakes waiting for their offset */ \
	X(parked_unrewritten)	/* ... sent untranslated after the wait */   \
	X(isn_sent)                                                         \
	X(isn_received)                                                     \
	X(neigh_answered)                                                   \
	X(nd_dropped)		/* SVM neighbour discovery kept local */     \
	X(malformed_channel)	/* unusable messages from the peer */        \
	X(queue_loss)		/* packets our queues lost (ids, ENOBUFS,
				   kernel counters) */                      \
	X(nomem_dropped)	/* could not copy a frame: dropped */        \
	X(divergences)		/* comparator checkpoint requests */         \
	X(dumps_written)                                                    \
	X(dumps_skipped)                                                    \
	X(commits)		/* checkpoints completed */                  \
	X(colo_lost)		/* primary: COLO ended with an error while
				   protected: held output kept held */      \
	X(late_events)		/* secondary: SVM STOP/RESUME reported after
				   the primary's EPOCH accounted for it */  \
	X(takeover_resent)	/* the SVM's epoch tail sent at takeover */  \
	X(takeover_unresolved)	/* ... not sent: no MAC for its address */   \
	X(legacy_in)		/* primary: translated toward the PVM */     \
	X(legacy_out)		/* ... from the PVM (re-protection) */       \
	X(legacy_sent)		/* ... translations sent to the secondary */ \
	X(legacy_received)	/* secondary: translations imported */       \
	X(promotions)		/* secondary -> primary (re-protection) */   \
	X(mode_changes)

struct proxy_counters {
#define X(n) uint64_t n;
	PROXY_COUNTERS(X)
#undef X
};

#define PROXY_DIV_LOG 32

/* One recorded divergence (or other checkpoint request of the comparator) */
struct proxy_div {
	uint64_t t_ms;			/* since start */
	uint32_t epoch;
	enum cmp_reason reason;
	enum cmp_side side;
	uint64_t offset;
	uint32_t seq;
	char flow[128];
	char dump[300];
};

struct parked;
struct proxy;

/* What differs between the two roles (primary.c, secondary.c). */
struct proxy_role_ops {
	int (*start)(struct proxy *p, char *err, size_t errlen);
	void (*stop)(struct proxy *p);
	void (*tick)(struct proxy *p, uint64_t now);	/* every TICK_MS */
	void (*set_mode)(struct proxy *p, int mode);
	void (*begin)(struct proxy *p);		/* VM stopped; may be NULL */
	void (*commit)(struct proxy *p, uint32_t epoch);	/* may be NULL */
	/* ask for a checkpoint: the primary's backend, or over the channel */
	void (*ask_checkpoint)(struct proxy *p, enum ckpt_reason r);
	nfq_packet_cb *on_qin, *on_qout;
	const struct chan_events *chan;
};

extern const struct proxy_role_ops primary_role, secondary_role;

struct proxy {
	struct proxy_conf cf;
	const struct proxy_role_ops *role;
	struct loop *loop;
	int mode;
	bool colo_start;		/* protected by COLO's first resume */
	bool colo_over;			/* secondary: COLO ended in our QEMU */
	bool ckpt_open;			/* secondary: begun, not completed */
	/* primary, follow_colo: COLO ended in our QEMU with an error (the
	 * secondary died, took over, or our VM is being shut down): held
	 * output stays held until a failover request, the heartbeat or the
	 * control socket says solo, or the secondary tells us its VM is
	 * gone (peer_vm_lost) */
	bool colo_lost;
	bool peer_vm_lost;
	uint32_t epoch;
	/* secondary: when (CLOCK_REALTIME us) the primary's word moved our
	 * epoch on before our SVM's RESUME did; that STOP/RESUME, if QEMU
	 * reports it later, is already accounted for */
	uint64_t caught_up_rt_us;
	struct nfq *qin, *qout;
	struct rules_spec rules;
	bool rules_on;
	struct chan *chan;
	struct ctl *ctl;
	struct ckpt ck;
	uint64_t start_ms;
	uint64_t tick_timer;
	uint64_t last_kstats_ms;
	struct nfq_kstats kin, kout;	/* last kernel counters seen */

	/* primary */
	struct cmp *cmp;
	struct held_table held;
	uint64_t next_cid;
	/* after a re-protection: the connections this VM took over, with
	 * their translation to the peers' numbers (import_only; NULL when
	 * there are none) */
	struct rw *legacy;

	/* secondary */
	struct rw *rw;
	struct neigh *neigh;
	struct inject *inj;
	struct parked *parked;		/* oldest first */
	unsigned nparked;
	struct tail tail;		/* this epoch's output, for takeover */

	struct proxy_counters n;
	struct proxy_div div[PROXY_DIV_LOG];
	uint64_t ndiv;
	uint8_t frame[65536 + 64];	/* scratch for building frames */
};

/* Set everything up (control socket, queues, rules, channel, backend).
 * On failure ERR says what and everything done so far is undone. */
int proxy_start(struct proxy *p, struct loop *loop, const struct proxy_conf *cf,
		char *err, size_t errlen);

/* Tear down: rules removed first (no window in which the VM's output could
 * pass unheld: the queues are still bound), then queues, channel, socket. */
void proxy_stop(struct proxy *p);

/* Re-protection: a secondary in takeover mode becomes a primary in
 * place, keeping its connections' translations (see rw_import()); solo
 * until COLO starts. false with the reason in ERR. */
bool proxy_promote(struct proxy *p, char *err, size_t errlen);

/* Switch mode (control socket); false with the reason in ERR. */
bool proxy_set_mode(struct proxy *p, int mode, char *err, size_t errlen);
/* Primary: the secondary said its VM's QEMU is gone (CKPT_REQ svm_lost). */
void proxy_peer_vm_lost(struct proxy *p);

/* Without vm_mac in the file: the VM's MAC from its own output. */
void proxy_learn_vm_mac(struct proxy *p, const struct nfq_packet *pk);

/* The rules a configuration asks for (also shown by colo-proxy -n). */
void proxy_rules_spec(const struct proxy_conf *c, struct rules_spec *s);

/* status.c: control socket commands */
int proxy_ctl(void *arg, char *line, struct buf *out);

/* dump.c: divergence captures */
void proxy_dump_divergence(struct proxy *p, const struct cmp_action *a,
			   struct proxy_div *d);

#endif /* COLO_PROXY_PROXY_H */
