/*
 * dump.c - pcapng writer (draft-ietf-opsawg-pcapng): a Section Header
 * Block, two Interface Description Blocks (if_name "primary" and
 * "secondary", if_tsresol 9 for nanoseconds) and Enhanced Packet Blocks
 * with an opt_comment.  Written in host byte order, as the format allows.
 */
#include <errno.h>
#include <string.h>

#include "compare/tool/dump.h"

#define BT_SHB 0x0A0D0D0Au
#define BT_IDB 0x00000001u
#define BT_EPB 0x00000006u

static size_t pad4(size_t n)
{
	return (n + 3) & ~(size_t)3;
}

static int put(struct dump *d, const void *p, size_t n)
{
	static const uint8_t zero[4];

	if (fwrite(p, 1, n, d->f) != n)
		return -EIO;
	if (pad4(n) != n && fwrite(zero, 1, pad4(n) - n, d->f) != pad4(n) - n)
		return -EIO;
	return 0;
}

static int put32(struct dump *d, uint32_t v)
{
	return put(d, &v, 4);
}

/* An option: code, length, value padded to 4. */
static int put_opt(struct dump *d, uint16_t code, const void *v, uint16_t n)
{
	uint16_t h[2] = { code, n };
	int ret = put(d, h, 4);

	return ret ? ret : put(d, v, n);
}

static size_t opt_size(size_t n)
{
	return 4 + pad4(n);
}

static int write_idb(struct dump *d, int dlt, const char *name)
{
	uint8_t tsresol = 9;
	uint32_t len = 20 + (uint32_t)(opt_size(strlen(name)) + opt_size(1)) + 4;
	uint16_t lt[2] = { (uint16_t)dlt, 0 };
	int ret;

	if ((ret = put32(d, BT_IDB)) || (ret = put32(d, len)) ||
	    (ret = put(d, lt, 4)) || (ret = put32(d, 0)) ||
	    (ret = put_opt(d, 2, name, (uint16_t)strlen(name))) ||
	    (ret = put_opt(d, 9, &tsresol, 1)) || (ret = put32(d, 0)) ||
	    (ret = put32(d, len)))
		return ret;
	return 0;
}

int dump_open(struct dump *d, const char *path, int dlt_primary,
	      int dlt_secondary)
{
	uint32_t shb_len = 28;
	uint16_t ver[2] = { 1, 0 };
	int64_t section_len = -1;
	int ret;

	memset(d, 0, sizeof(*d));
	d->f = fopen(path, "wb");
	if (!d->f)
		return -errno;
	if ((ret = put32(d, BT_SHB)) || (ret = put32(d, shb_len)) ||
	    (ret = put32(d, 0x1A2B3C4Du)) || (ret = put(d, ver, 4)) ||
	    (ret = put(d, &section_len, 8)) || (ret = put32(d, shb_len)) ||
	    (ret = write_idb(d, dlt_primary, "primary")) ||
	    (ret = write_idb(d, dlt_secondary, "secondary"))) {
		fclose(d->f);
		d->f = NULL;
		return ret;
	}
	return 0;
}

int dump_frame(struct dump *d, int side, uint64_t t_ns, const uint8_t *data,
	       uint32_t caplen, uint32_t len, const char *comment)
{
	size_t clen = comment ? strlen(comment) : 0;
	uint32_t blen;
	int ret;

	if (clen > 60000)
		clen = 60000;
	blen = (uint32_t)(28 + pad4(caplen) + (clen ? opt_size(clen) + 4 : 0) +
			  4);
	if ((ret = put32(d, BT_EPB)) || (ret = put32(d, blen)) ||
	    (ret = put32(d, (uint32_t)side)) ||
	    (ret = put32(d, (uint32_t)(t_ns >> 32))) ||
	    (ret = put32(d, (uint32_t)t_ns)) || (ret = put32(d, caplen)) ||
	    (ret = put32(d, len)) || (ret = put(d, data, caplen)))
		return ret;
	if (clen && ((ret = put_opt(d, 1, comment, (uint16_t)clen)) ||
		     (ret = put32(d, 0))))
		return ret;
	if ((ret = put32(d, blen)))
		return ret;
	d->frames++;
	return 0;
}

int dump_close(struct dump *d)
{
	int ret = 0;

	if (!d->f)
		return 0;
	if (fclose(d->f))
		ret = -errno;
	d->f = NULL;
	return ret;
}
