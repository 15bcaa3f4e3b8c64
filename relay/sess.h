/*
 * sess: one relayed connection, shared by relay.c (accepts, ticks),
 * sess.c (its sockets: reading, decoding, writing, ending) and hello.c
 * (connecting and the handshake).  Internal to relay/.
 *
 * Functions that may end the connection return false once it is gone
 * (freed): their callers return at once without touching it.
 */
#ifndef RELAY_SESS_H
#define RELAY_SESS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "relay/relay.h"

static inline bool relay_is_primary(const struct relay *r)
{
	return r->cf.role == RELAY_PRIMARY;
}

/* sess.c: life and sockets */
struct relay_sess *relay_sess_new(struct relay *r);
void relay_sess_free(struct relay_sess *s, bool clean);
bool relay_sess_adopt(struct relay_sess *s, struct relay_end *e, int fd,
		      bool connecting);
void relay_end_close(struct relay *r, struct relay_end *e);
/* Count fault F and say why (log, status); S lives on. */
void relay_note_fault(struct relay_sess *s, enum rly_fault f,
		      const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* relay_note_fault(), then S is freed (both sockets closed). */
void relay_fault(struct relay_sess *s, enum rly_fault f, const char *fmt,
		 ...) __attribute__((format(printf, 3, 4)));
bool relay_sess_flush(struct relay_sess *s, struct relay_end *e);
bool relay_sess_decode(struct relay_sess *s);
void relay_sess_drain(struct relay_sess *s, bool sent_end);
/* Entry points: an fd's events, the timer (both recompute the events
 * watched). */
bool relay_sess_io(struct relay_sess *s, struct relay_end *e,
		   unsigned events);
bool relay_sess_tick(struct relay_sess *s, uint64_t now);

/* hello.c: connecting and the handshake */
bool relay_sess_connect(struct relay_sess *s, struct relay_end *e);
bool relay_sess_finish_connect(struct relay_sess *s, struct relay_end *e);
bool relay_sess_connect_error(struct relay_sess *s, struct relay_end *e,
			      enum rly_fault f, int err);
bool relay_sess_hello(struct relay_sess *s);
bool relay_sess_proto_fault(struct relay_sess *s);
void relay_sess_up(struct relay_sess *s);

#endif /* RELAY_SESS_H */
