/*
 * proto: HELLO and frame header encoding and checks (see proto.h).
 */
#include <string.h>

#include "common/bytes.h"
#include "relay/proto.h"

/* ---- CRC32C ------------------------------------------------------------- */

/* Reflected polynomial 0x82F63B78, four bits at a time: the portable
 * path, for CPUs without SSE4.2. */
static const uint32_t crc_nibble[16] = {
	0x00000000, 0x105ec76f, 0x20bd8ede, 0x30e349b1,
	0x417b1dbc, 0x5125dad3, 0x61c69362, 0x7198540d,
	0x82f63b78, 0x92a8fc17, 0xa24bb5a6, 0xb21572c9,
	0xc38d26c4, 0xd3d3e1ab, 0xe330a81a, 0xf36e6f75,
};

static uint32_t crc_soft(uint32_t crc, const uint8_t *p, size_t len)
{
	while (len--) {
		crc ^= *p++;
		crc = (crc >> 4) ^ crc_nibble[crc & 15];
		crc = (crc >> 4) ^ crc_nibble[crc & 15];
	}
	return crc;
}

#if defined(__x86_64__)
/* The SSE4.2 crc32 instruction computes exactly this CRC. */
__attribute__((target("sse4.2")))
static uint32_t crc_sse42(uint32_t crc, const uint8_t *p, size_t len)
{
	uint64_t c = crc, v;

	for (; len >= 8; p += 8, len -= 8) {
		memcpy(&v, p, 8);
		c = __builtin_ia32_crc32di(c, v);
	}
	crc = (uint32_t)c;
	while (len--)
		crc = __builtin_ia32_crc32qi(crc, *p++);
	return crc;
}

static bool have_sse42(void)
{
	return __builtin_cpu_supports("sse4.2");
}
#endif

uint32_t rly_crc32c(uint32_t crc, const void *data, size_t len)
{
	crc = ~crc;
#if defined(__x86_64__)
	if (have_sse42())
		return ~crc_sse42(crc, data, len);
#endif
	return ~crc_soft(crc, data, len);
}

uint32_t rly_pair_id(const char *name)
{
	uint32_t h = 2166136261u;

	for (; *name; name++) {
		h ^= (uint8_t)*name;
		h *= 16777619u;
	}
	return h;
}

/* ---- names --------------------------------------------------------------- */

const char *rly_perr_name(enum rly_perr e)
{
	static const char *const names[RLY_PERR_MAX] = {
		[RLY_OK] = "ok",
		[RLY_E_MAGIC] = "not a colo-relay (bad magic)",
		[RLY_E_VERSION] = "another protocol version",
		[RLY_E_CRC] = "header crc mismatch",
		[RLY_E_FIELD] = "invalid header field",
		[RLY_E_DATA] = "corrupt data (length or crc once inflated)",
		[RLY_E_NOMEM] = "out of memory",
	};

	return (unsigned)e < RLY_PERR_MAX ? names[e] : "?";
}

const char *rly_status_name(unsigned status)
{
	static const char *const names[RLY_ST_MAX] = {
		[RLY_ST_READY] = "ready",
		[RLY_ST_TARGET] = "cannot reach the secondary QEMU",
		[RLY_ST_VERSION] = "does not speak our protocol version",
		[RLY_ST_PAIR] = "belongs to another pair",
		[RLY_ST_ROLE] = "is not configured as the other role",
		[RLY_ST_BUSY] = "busy with another handshake",
	};

	return status < RLY_ST_MAX ? names[status] : "?";
}

const char *rly_type_name(unsigned type)
{
	static const char *const names[RLY_TYPE_MAX] = {
		[RLY_DATA] = "data", [RLY_PING] = "ping", [RLY_END] = "end",
	};

	return type && type < RLY_TYPE_MAX ? names[type] : "?";
}

/* ---- HELLO ---------------------------------------------------------------- */

void rly_put_hello(uint8_t out[RLY_HELLO_LEN], const struct rly_hello *h)
{
	memset(out, 0, RLY_HELLO_LEN);
	memcpy(out, RLY_MAGIC, 4);
	out[4] = RLY_VERSION;
	out[5] = h->role;
	out[6] = h->flags;
	out[7] = h->status;
	put64(out + 8, h->session);
	put32(out + 16, h->pair);
	put32(out + 28, rly_crc32c(0, out, 28));
}

/* The magic's first MIN(LEN, 4) bytes. */
static bool magic_prefix_ok(const uint8_t *in, size_t len)
{
	return !memcmp(in, RLY_MAGIC, len < 4 ? len : 4);
}

static bool all_zero(const uint8_t *p, size_t n)
{
	while (n--)
		if (*p++)
			return false;
	return true;
}

enum rly_perr rly_get_hello(const uint8_t *in, size_t len,
			    struct rly_hello *h)
{
	if (!magic_prefix_ok(in, len))
		return RLY_E_MAGIC;
	if (len > 4 && in[4] != RLY_VERSION) {
		h->version = in[4];
		return RLY_E_VERSION;
	}
	if (len < RLY_HELLO_LEN)
		return RLY_OK;
	if (get32(in + 28) != rly_crc32c(0, in, 28))
		return RLY_E_CRC;
	if ((in[5] != RLY_ROLE_PRIMARY && in[5] != RLY_ROLE_SECONDARY) ||
	    (in[6] & ~RLY_HF_ZSTD) || in[7] >= RLY_ST_MAX ||
	    !all_zero(in + 20, 8) || !get64(in + 8))
		return RLY_E_FIELD;
	h->version = in[4];
	h->role = in[5];
	h->flags = in[6];
	h->status = in[7];
	h->session = get64(in + 8);
	h->pair = get32(in + 16);
	return RLY_OK;
}

/* ---- frame header ---------------------------------------------------------- */

void rly_put_hdr(uint8_t out[RLY_HDR_LEN], const struct rly_hdr *h)
{
	put16(out, RLY_HDR_MAGIC);
	out[2] = h->type;
	out[3] = h->flags;
	put32(out + 4, h->raw_len);
	put32(out + 8, h->wire_len);
	put32(out + 12, h->data_crc);
	put32(out + 16, rly_crc32c(0, out, 16));
}

static bool lengths_ok(const struct rly_hdr *h, bool zstd)
{
	if (h->type != RLY_DATA)
		return !h->raw_len && !h->wire_len && !h->data_crc;
	if (!h->raw_len || h->raw_len > RLY_RAW_MAX)
		return false;
	if (!zstd)
		return h->wire_len == h->raw_len;
	return h->wire_len && h->wire_len <= RLY_WIRE_MAX;
}

enum rly_perr rly_get_hdr(const uint8_t *in, size_t len, bool zstd,
			  struct rly_hdr *h)
{
	struct rly_hdr t;

	if ((len >= 1 && in[0] != RLY_HDR_MAGIC >> 8) ||
	    (len >= 2 && in[1] != (RLY_HDR_MAGIC & 0xff)))
		return RLY_E_MAGIC;
	if (len < RLY_HDR_LEN)
		return RLY_OK;
	if (get32(in + 16) != rly_crc32c(0, in, 16))
		return RLY_E_CRC;
	t.type = in[2];
	t.flags = in[3];
	t.raw_len = get32(in + 4);
	t.wire_len = get32(in + 8);
	t.data_crc = get32(in + 12);
	if (!t.type || t.type >= RLY_TYPE_MAX || t.flags ||
	    !lengths_ok(&t, zstd))
		return RLY_E_FIELD;
	*h = t;
	return RLY_OK;
}
