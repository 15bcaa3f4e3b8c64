/*
 * wire.c - the proxy channel's framing (see wire.h for the format).
 *
 * The decoder's state, between two calls:
 *
 *   buf: [ 24-byte header | payload ...........        ]
 *         <------------- have ------------->
 *   hdr_ok == false: have < 24, the bytes so far are a valid prefix
 *   hdr_ok == true:  hdr checked; the message ends at 24 + hdr.len
 *
 * ready: have == 24 + hdr.len, waiting for wire_dec_next(), which resets
 * have to 0; the payload stays readable in buf until the next call.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/bytes.h"
#include "colo-proxy/wire.h"

#define HDR_CRC_AT 20		/* the crc covers bytes 0..19 */

/* CRC32C, reflected polynomial 0x82f63b78 (RFC 3720 appendix B.4). */
static const uint32_t crc32c_table[256] = {
	0x00000000, 0xf26b8303, 0xe13b70f7, 0x1350f3f4,
	0xc79a971f, 0x35f1141c, 0x26a1e7e8, 0xd4ca64eb,
	0x8ad958cf, 0x78b2dbcc, 0x6be22838, 0x9989ab3b,
	0x4d43cfd0, 0xbf284cd3, 0xac78bf27, 0x5e133c24,
	0x105ec76f, 0xe235446c, 0xf165b798, 0x030e349b,
	0xd7c45070, 0x25afd373, 0x36ff2087, 0xc494a384,
	0x9a879fa0, 0x68ec1ca3, 0x7bbcef57, 0x89d76c54,
	0x5d1d08bf, 0xaf768bbc, 0xbc267848, 0x4e4dfb4b,
	0x20bd8ede, 0xd2d60ddd, 0xc186fe29, 0x33ed7d2a,
	0xe72719c1, 0x154c9ac2, 0x061c6936, 0xf477ea35,
	0xaa64d611, 0x580f5512, 0x4b5fa6e6, 0xb93425e5,
	0x6dfe410e, 0x9f95c20d, 0x8cc531f9, 0x7eaeb2fa,
	0x30e349b1, 0xc288cab2, 0xd1d83946, 0x23b3ba45,
	0xf779deae, 0x05125dad, 0x1642ae59, 0xe4292d5a,
	0xba3a117e, 0x4851927d, 0x5b016189, 0xa96ae28a,
	0x7da08661, 0x8fcb0562, 0x9c9bf696, 0x6ef07595,
	0x417b1dbc, 0xb3109ebf, 0xa0406d4b, 0x522bee48,
	0x86e18aa3, 0x748a09a0, 0x67dafa54, 0x95b17957,
	0xcba24573, 0x39c9c670, 0x2a993584, 0xd8f2b687,
	0x0c38d26c, 0xfe53516f, 0xed03a29b, 0x1f682198,
	0x5125dad3, 0xa34e59d0, 0xb01eaa24, 0x42752927,
	0x96bf4dcc, 0x64d4cecf, 0x77843d3b, 0x85efbe38,
	0xdbfc821c, 0x2997011f, 0x3ac7f2eb, 0xc8ac71e8,
	0x1c661503, 0xee0d9600, 0xfd5d65f4, 0x0f36e6f7,
	0x61c69362, 0x93ad1061, 0x80fde395, 0x72966096,
	0xa65c047d, 0x5437877e, 0x4767748a, 0xb50cf789,
	0xeb1fcbad, 0x197448ae, 0x0a24bb5a, 0xf84f3859,
	0x2c855cb2, 0xdeeedfb1, 0xcdbe2c45, 0x3fd5af46,
	0x7198540d, 0x83f3d70e, 0x90a324fa, 0x62c8a7f9,
	0xb602c312, 0x44694011, 0x5739b3e5, 0xa55230e6,
	0xfb410cc2, 0x092a8fc1, 0x1a7a7c35, 0xe811ff36,
	0x3cdb9bdd, 0xceb018de, 0xdde0eb2a, 0x2f8b6829,
	0x82f63b78, 0x709db87b, 0x63cd4b8f, 0x91a6c88c,
	0x456cac67, 0xb7072f64, 0xa457dc90, 0x563c5f93,
	0x082f63b7, 0xfa44e0b4, 0xe9141340, 0x1b7f9043,
	0xcfb5f4a8, 0x3dde77ab, 0x2e8e845f, 0xdce5075c,
	0x92a8fc17, 0x60c37f14, 0x73938ce0, 0x81f80fe3,
	0x55326b08, 0xa759e80b, 0xb4091bff, 0x466298fc,
	0x1871a4d8, 0xea1a27db, 0xf94ad42f, 0x0b21572c,
	0xdfeb33c7, 0x2d80b0c4, 0x3ed04330, 0xccbbc033,
	0xa24bb5a6, 0x502036a5, 0x4370c551, 0xb11b4652,
	0x65d122b9, 0x97baa1ba, 0x84ea524e, 0x7681d14d,
	0x2892ed69, 0xdaf96e6a, 0xc9a99d9e, 0x3bc21e9d,
	0xef087a76, 0x1d63f975, 0x0e330a81, 0xfc588982,
	0xb21572c9, 0x407ef1ca, 0x532e023e, 0xa145813d,
	0x758fe5d6, 0x87e466d5, 0x94b49521, 0x66df1622,
	0x38cc2a06, 0xcaa7a905, 0xd9f75af1, 0x2b9cd9f2,
	0xff56bd19, 0x0d3d3e1a, 0x1e6dcdee, 0xec064eed,
	0xc38d26c4, 0x31e6a5c7, 0x22b65633, 0xd0ddd530,
	0x0417b1db, 0xf67c32d8, 0xe52cc12c, 0x1747422f,
	0x49547e0b, 0xbb3ffd08, 0xa86f0efc, 0x5a048dff,
	0x8ecee914, 0x7ca56a17, 0x6ff599e3, 0x9d9e1ae0,
	0xd3d3e1ab, 0x21b862a8, 0x32e8915c, 0xc083125f,
	0x144976b4, 0xe622f5b7, 0xf5720643, 0x07198540,
	0x590ab964, 0xab613a67, 0xb831c993, 0x4a5a4a90,
	0x9e902e7b, 0x6cfbad78, 0x7fab5e8c, 0x8dc0dd8f,
	0xe330a81a, 0x115b2b19, 0x020bd8ed, 0xf0605bee,
	0x24aa3f05, 0xd6c1bc06, 0xc5914ff2, 0x37faccf1,
	0x69e9f0d5, 0x9b8273d6, 0x88d28022, 0x7ab90321,
	0xae7367ca, 0x5c18e4c9, 0x4f48173d, 0xbd23943e,
	0xf36e6f75, 0x0105ec76, 0x12551f82, 0xe03e9c81,
	0x34f4f86a, 0xc69f7b69, 0xd5cf889d, 0x27a40b9e,
	0x79b737ba, 0x8bdcb4b9, 0x988c474d, 0x6ae7c44e,
	0xbe2da0a5, 0x4c4623a6, 0x5f16d052, 0xad7d5351,
};

uint32_t wire_crc32c(uint32_t crc, const void *data, size_t len)
{
	const uint8_t *p = data;

	crc = ~crc;
	while (len--)
		crc = crc32c_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

static bool all_zero(const uint8_t *b, size_t n)
{
	while (n--)
		if (*b++)
			return false;
	return true;
}

/* ---- names ---- */

const char *wire_err_name(enum wire_err e)
{
	static const char *const names[] = {
		[WIRE_OK] = "ok",
		[WIRE_E_MAGIC] = "bad magic",
		[WIRE_E_VERSION] = "unsupported version",
		[WIRE_E_CRC] = "header crc mismatch",
		[WIRE_E_TYPE] = "unknown message type",
		[WIRE_E_LENGTH] = "bad length for the message type",
		[WIRE_E_PAYLOAD] = "malformed payload",
	};

	if ((unsigned)e >= sizeof(names) / sizeof(names[0]))
		return "unknown error";
	return names[e];
}

const char *wire_type_name(unsigned type)
{
	static const char *const names[WIRE_TYPE_MAX] = {
		[WIRE_HELLO] = "HELLO",
		[WIRE_FRAME] = "FRAME",
		[WIRE_ISN] = "ISN",
		[WIRE_CKPT_REQ] = "CKPT_REQ",
		[WIRE_EPOCH] = "EPOCH",
		[WIRE_KEEPALIVE] = "KEEPALIVE",
		[WIRE_LEGACY] = "LEGACY",
	};

	if (type == 0 || type >= WIRE_TYPE_MAX)
		return "?";
	return names[type];
}

/* ---- header ---- */

bool wire_len_ok(unsigned type, uint32_t len)
{
	switch (type) {
	case WIRE_HELLO:
		return len == WIRE_HELLO_LEN;
	case WIRE_ISN:
	case WIRE_LEGACY:
		return len == WIRE_ISN_LEN;
	case WIRE_FRAME:
		return len >= 1 && len <= WIRE_MAX_PAYLOAD;
	case WIRE_CKPT_REQ:
	case WIRE_EPOCH:
	case WIRE_KEEPALIVE:
		return len == 0;
	default:
		return false;
	}
}

void wire_put_hdr(uint8_t *out, const struct wire_hdr *h)
{
	put16(out, WIRE_MAGIC);
	out[2] = WIRE_VERSION;
	out[3] = h->type;
	put16(out + 4, h->flags);
	put16(out + 6, h->aux);
	put32(out + 8, h->len);
	put32(out + 12, h->seq);
	put32(out + 16, h->epoch);
	put32(out + HDR_CRC_AT, wire_crc32c(0, out, HDR_CRC_AT));
}

/* Check the first N (< WIRE_HDR_LEN) bytes of a header: magic, version. */
static enum wire_err hdr_prefix_check(const uint8_t *in, size_t n)
{
	static const uint8_t prefix[3] = {
		WIRE_MAGIC >> 8, WIRE_MAGIC & 0xff, WIRE_VERSION
	};
	size_t i;

	for (i = 0; i < n && i < sizeof(prefix); i++)
		if (in[i] != prefix[i])
			return i < 2 ? WIRE_E_MAGIC : WIRE_E_VERSION;
	return WIRE_OK;
}

enum wire_err wire_get_hdr(const uint8_t *in, struct wire_hdr *h)
{
	enum wire_err e = hdr_prefix_check(in, WIRE_HDR_LEN);
	struct wire_hdr t;

	if (e != WIRE_OK)
		return e;
	if (get32(in + HDR_CRC_AT) != wire_crc32c(0, in, HDR_CRC_AT))
		return WIRE_E_CRC;
	t.version = in[2];
	t.type = in[3];
	t.flags = get16(in + 4);
	t.aux = get16(in + 6);
	t.len = get32(in + 8);
	t.seq = get32(in + 12);
	t.epoch = get32(in + 16);
	if (t.type == 0 || t.type >= WIRE_TYPE_MAX)
		return WIRE_E_TYPE;
	if (!wire_len_ok(t.type, t.len))
		return WIRE_E_LENGTH;
	*h = t;
	return WIRE_OK;
}

/* ---- fixed payloads ---- */

void wire_put_hello(uint8_t *out, const struct wire_hello *m)
{
	size_t n = strnlen(m->name, WIRE_NAME_MAX - 1);

	memset(out, 0, WIRE_HELLO_LEN);
	out[0] = m->role;
	put32(out + 4, m->next_seq);
	put32(out + 8, m->rx_seq);
	put32(out + 12, m->epoch);
	put64(out + 16, m->instance);
	memcpy(out + 24, m->name, n);
}

/* A NUL-terminated name within N bytes, only NULs after the first one. */
static bool name_ok(const uint8_t *b, size_t n)
{
	const uint8_t *nul = memchr(b, 0, n);

	return nul && all_zero(nul, n - (size_t)(nul - b));
}

enum wire_err wire_get_hello(const uint8_t *in, size_t len,
			     struct wire_hello *m)
{
	if (len != WIRE_HELLO_LEN)
		return WIRE_E_LENGTH;
	if ((in[0] != WIRE_ROLE_PRIMARY && in[0] != WIRE_ROLE_SECONDARY) ||
	    !all_zero(in + 1, 3) || !name_ok(in + 24, WIRE_NAME_MAX))
		return WIRE_E_PAYLOAD;
	memset(m, 0, sizeof(*m));
	m->role = in[0];
	m->next_seq = get32(in + 4);
	m->rx_seq = get32(in + 8);
	m->epoch = get32(in + 12);
	m->instance = get64(in + 16);
	memcpy(m->name, in + 24, WIRE_NAME_MAX);
	return WIRE_OK;
}

static size_t addr_len(uint8_t family)
{
	return family == 4 ? 4 : 16;
}

void wire_put_isn(uint8_t *out, const struct wire_isn *m)
{
	size_t alen = addr_len(m->family);

	memset(out, 0, WIRE_ISN_LEN);
	out[0] = m->family;
	out[1] = m->flags & WIRE_ISN_F_TS;
	if (out[1])
		put32(out + 44, m->tsval);
	put16(out + 4, m->vm_port);
	put16(out + 6, m->peer_port);
	put32(out + 8, m->isn);
	memcpy(out + 12, m->vm_addr, alen);
	memcpy(out + 28, m->peer_addr, alen);
}

enum wire_err wire_get_isn(const uint8_t *in, size_t len, struct wire_isn *m)
{
	if (len != WIRE_ISN_LEN)
		return WIRE_E_LENGTH;
	if ((in[0] != 4 && in[0] != 6) || (in[1] & ~WIRE_ISN_F_TS) ||
	    !all_zero(in + 2, 2) || (!in[1] && !all_zero(in + 44, 4)))
		return WIRE_E_PAYLOAD;
	if (in[0] == 4 && (!all_zero(in + 16, 12) || !all_zero(in + 32, 12)))
		return WIRE_E_PAYLOAD;
	memset(m, 0, sizeof(*m));
	m->family = in[0];
	m->vm_port = get16(in + 4);
	m->peer_port = get16(in + 6);
	m->isn = get32(in + 8);
	m->flags = in[1];
	m->tsval = get32(in + 44);
	memcpy(m->vm_addr, in + 12, 16);
	memcpy(m->peer_addr, in + 28, 16);
	return WIRE_OK;
}

/* ---- decoder ---- */

int wire_dec_init(struct wire_dec *d)
{
	memset(d, 0, sizeof(*d));
	d->buf = malloc(WIRE_HDR_LEN + WIRE_MAX_PAYLOAD);
	return d->buf ? 0 : -ENOMEM;
}

void wire_dec_free(struct wire_dec *d)
{
	free(d->buf);
	d->buf = NULL;
}

/* Bytes the message being assembled still needs. */
static size_t dec_missing(const struct wire_dec *d)
{
	size_t need = WIRE_HDR_LEN;

	if (d->hdr_ok)
		need += d->hdr.len;
	return need - d->have;
}

/* A whole message at the start of DATA with nothing buffered: hand it out
 * without a copy.  1 if done, -1 on a bad header, 0 to take the slow way. */
static int dec_direct(struct wire_dec *d, const uint8_t *data, size_t len,
		      size_t *used, struct wire_hdr *h,
		      const uint8_t **payload)
{
	struct wire_hdr t;
	enum wire_err e;

	if (len < WIRE_HDR_LEN)
		return 0;
	e = wire_get_hdr(data, &t);
	if (e != WIRE_OK) {
		d->err = e;
		return -1;
	}
	if (len - WIRE_HDR_LEN < t.len)
		return 0;
	*h = t;
	*payload = data + WIRE_HDR_LEN;
	*used = WIRE_HDR_LEN + t.len;
	return 1;
}

/* Take up to the missing bytes into buf; check the header once complete. */
static enum wire_err dec_take(struct wire_dec *d, const uint8_t *data,
			      size_t len, size_t *taken)
{
	size_t n = dec_missing(d);
	enum wire_err e = WIRE_OK;

	if (n > len)
		n = len;
	memcpy(d->buf + d->have, data, n);
	*taken = n;
	if (!d->hdr_ok) {
		e = hdr_prefix_check(d->buf, d->have + n);
		if (d->have + n == WIRE_HDR_LEN && e == WIRE_OK) {
			e = wire_get_hdr(d->buf, &d->hdr);
			d->hdr_ok = e == WIRE_OK;
		}
	}
	d->have += n;
	return e;
}

size_t wire_dec_feed(struct wire_dec *d, const uint8_t *data, size_t len)
{
	size_t off = 0, n;
	enum wire_err e;

	while (off < len && d->err == WIRE_OK && !d->ready) {
		e = dec_take(d, data + off, len - off, &n);
		off += n;
		d->err = e;
		d->ready = d->hdr_ok && dec_missing(d) == 0;
	}
	d->bytes += off;
	return off;
}

int wire_dec_next(struct wire_dec *d, struct wire_hdr *h,
		  const uint8_t **payload)
{
	if (d->err != WIRE_OK)
		return -1;
	if (!d->ready)
		return 0;
	*h = d->hdr;
	*payload = d->buf + WIRE_HDR_LEN;
	d->have = 0;
	d->hdr_ok = false;
	d->ready = false;
	d->messages++;
	return 1;
}

int wire_dec_push(struct wire_dec *d, const uint8_t *data, size_t len,
		  size_t *used, struct wire_hdr *h, const uint8_t **payload)
{
	int r = 0;

	*used = 0;
	if (d->err == WIRE_OK && d->have == 0)
		r = dec_direct(d, data, len, used, h, payload);
	if (r > 0) {
		d->messages++;
		d->bytes += *used;
	}
	if (r != 0)
		return r;
	*used = wire_dec_feed(d, data, len);
	r = wire_dec_next(d, h, payload);
	if (r < 0)
		*used = 0;
	return r;
}
