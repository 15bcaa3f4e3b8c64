/*
 * hbmsg: the heartbeat wire format (see hbmsg.h).
 */
#include <string.h>

#include <sodium.h>

#include "common/bytes.h"
#include "heartbeat/hbmsg.h"

#define HB_SIGNED_LEN (HB_WIRE_LEN - HB_MAC_LEN)

static const uint8_t magic[4] = { 'C', 'H', 'B', HB_VERSION };

uint32_t hb_pair_id(const char *name)
{
	uint32_t h = 2166136261u;

	for (; *name; name++)
		h = (h ^ (uint8_t)*name) * 16777619u;
	return h;
}

void hb_encode(const struct hb_msg *m, const uint8_t key[HB_KEY_LEN],
	       uint8_t out[HB_WIRE_LEN])
{
	memset(out, 0, HB_WIRE_LEN);
	memcpy(out, magic, 4);
	out[4] = m->type;
	out[5] = m->role;
	out[6] = m->state;
	out[7] = m->flags;
	out[8] = m->node;
	out[9] = m->path;
	put32(out + 12, m->pair);
	put64(out + 16, m->boot);
	put64(out + 24, m->seq);
	put64(out + 32, m->echo_boot);
	put64(out + 40, m->echo_seq);
	put64(out + 48, m->term);
	put64(out + 56, m->arg);
	out[64] = m->verdict;
	crypto_auth_hmacsha256(out + HB_SIGNED_LEN, out, HB_SIGNED_LEN, key);
}

static bool fields_ok(const struct hb_msg *m, const uint8_t *buf)
{
	static const uint8_t zero[7];

	if (m->type < HB_BEAT || m->type >= HB_TYPE_MAX)
		return false;
	if (m->role < HB_ROLE_PRIMARY || m->role >= HB_ROLE_MAX)
		return false;
	if (m->flags & ~HB_F_ALL || m->node < 1 || m->node > 3 || !m->boot ||
	    !m->seq)
		return false;
	if (m->type == HB_VERDICT ? m->verdict < HB_GRANT ||
	    m->verdict > HB_DEFER : m->verdict != 0)
		return false;
	return !buf[10] && !buf[11] && !memcmp(buf + 65, zero, sizeof(zero));
}

enum hb_decode hb_decode(const uint8_t *buf, size_t len,
			 const uint8_t key[HB_KEY_LEN], uint32_t pair,
			 struct hb_msg *m)
{
	if (len != HB_WIRE_LEN)
		return len >= 4 && memcmp(buf, magic, 3) ? HB_BAD_MAGIC :
		       HB_BAD_LENGTH;
	if (memcmp(buf, magic, 3))
		return HB_BAD_MAGIC;
	if (buf[3] != HB_VERSION)
		return HB_BAD_VERSION;
	if (crypto_auth_hmacsha256_verify(buf + HB_SIGNED_LEN, buf,
					  HB_SIGNED_LEN, key) != 0)
		return get32(buf + 12) != pair ? HB_BAD_PAIR : HB_BAD_MAC;
	if (get32(buf + 12) != pair)
		return HB_BAD_PAIR;
	memset(m, 0, sizeof(*m));
	m->type = buf[4];
	m->role = buf[5];
	m->state = buf[6];
	m->flags = buf[7];
	m->node = buf[8];
	m->path = buf[9];
	m->pair = pair;
	m->boot = get64(buf + 16);
	m->seq = get64(buf + 24);
	m->echo_boot = get64(buf + 32);
	m->echo_seq = get64(buf + 40);
	m->term = get64(buf + 48);
	m->arg = get64(buf + 56);
	m->verdict = buf[64];
	return fields_ok(m, buf) ? HB_OK : HB_BAD_FIELD;
}

const char *hb_decode_name(enum hb_decode d)
{
	static const char *const names[] = {
		[HB_OK] = "ok",
		[HB_BAD_LENGTH] = "bad length",
		[HB_BAD_MAGIC] = "not a heartbeat",
		[HB_BAD_VERSION] = "unknown version",
		[HB_BAD_PAIR] = "another pair's",
		[HB_BAD_MAC] = "bad MAC (forged or wrong key)",
		[HB_BAD_FIELD] = "bad field",
	};

	return (unsigned)d < sizeof(names) / sizeof(names[0]) ? names[d] : "?";
}

void hb_sent_init(struct hb_sent *s, uint64_t boot)
{
	memset(s, 0, sizeof(*s));
	s->boot = boot;
	s->next_seq = 1;
}

uint64_t hb_sent_next(struct hb_sent *s, uint64_t now_ns)
{
	uint64_t seq = s->next_seq++;

	s->t_ns[seq % HB_SENT_RING] = now_ns;
	return seq;
}

bool hb_sent_fresh(const struct hb_sent *s, uint64_t boot, uint64_t seq,
		   uint64_t now_ns, uint64_t max_age_ns)
{
	uint64_t t;

	if (boot != s->boot || seq == 0 || seq >= s->next_seq ||
	    s->next_seq - seq > HB_SENT_RING)
		return false;
	t = s->t_ns[seq % HB_SENT_RING];
	return now_ns >= t && now_ns - t <= max_age_ns;
}

/* Record SEQ of R's proven boot: false if seen already or too old. */
static bool seq_new(struct hb_remote *r, uint64_t seq)
{
	uint64_t d;

	if (seq > r->last_seq) {
		d = seq - r->last_seq;
		r->seen = d >= HB_SEQ_WINDOW ? 1 : r->seen << d | 1;
		r->last_seq = seq;
		return true;
	}
	d = r->last_seq - seq;
	if (d >= HB_SEQ_WINDOW || (r->seen >> d & 1))
		return false;
	r->seen |= (uint64_t)1 << d;
	return true;
}

enum hb_accept hb_accept(struct hb_remote *r, const struct hb_msg *m,
			 const struct hb_sent *s, uint64_t now_ns,
			 uint64_t max_age_ns)
{
	bool fresh = hb_sent_fresh(s, m->echo_boot, m->echo_seq, now_ns,
				   max_age_ns);

	if (r->boot && m->boot == r->boot) {
		if (!seq_new(r, m->seq))
			return HB_REPLAYED;
		r->last_rx_ns = now_ns;
	} else if (fresh) {
		/* a new incarnation proved itself */
		if (r->boot)
			r->restarts++;
		r->boot = m->boot;
		r->last_seq = m->seq;
		r->seen = ~(uint64_t)0;	/* none older of this boot */
		r->last_rx_ns = now_ns;
		if (r->cand_boot == m->boot)
			r->cand_boot = r->cand_seq = r->cand_ns = 0;
	} else {
		if (m->boot != r->cand_boot || m->seq > r->cand_seq) {
			r->cand_boot = m->boot;
			r->cand_seq = m->seq;
			r->cand_ns = now_ns;
		}
		return HB_UNPROVEN;
	}
	if (!fresh)
		return HB_UNPROVEN;
	r->last_fresh_ns = now_ns;
	return HB_FRESH;
}

void hb_echo(const struct hb_remote *r, uint64_t now_ns, uint64_t max_age_ns,
	     uint64_t *boot, uint64_t *seq)
{
	bool speaks = r->boot && (now_ns - r->last_rx_ns <= max_age_ns ||
				  r->last_rx_ns >= r->cand_ns);

	if (speaks || !r->cand_boot) {
		*boot = r->boot;
		*seq = r->last_seq;
	} else {
		*boot = r->cand_boot;
		*seq = r->cand_seq;
	}
}

const char *hb_role_name(int role)
{
	switch (role) {
	case HB_ROLE_PRIMARY: return "primary";
	case HB_ROLE_SECONDARY: return "secondary";
	case HB_ROLE_WITNESS: return "witness";
	}
	return "?";
}

const char *hb_node_name(int node)
{
	return node == 1 ? "a" : node == 2 ? "b" : node == 3 ? "witness" : "-";
}
