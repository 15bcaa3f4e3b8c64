/*
 * dump.h - a minimal pcapng writer for divergence dumps: interface 0 is
 * the primary, interface 1 the secondary (each with its own link type),
 * and each frame may carry a comment that Wireshark shows.
 */
#ifndef COLO_PCAPCMP_DUMP_H
#define COLO_PCAPCMP_DUMP_H

#include <stdint.h>
#include <stdio.h>

struct dump {
	FILE *f;
	uint64_t frames;
};

/* Create PATH with two interfaces; 0 or -errno. */
int dump_open(struct dump *d, const char *path, int dlt_primary,
	      int dlt_secondary);

/* One frame of SIDE (0/1), time in ns; COMMENT may be NULL.  0 or -errno. */
int dump_frame(struct dump *d, int side, uint64_t t_ns, const uint8_t *data,
	       uint32_t caplen, uint32_t len, const char *comment);

/* Flush and close; 0 or -errno. */
int dump_close(struct dump *d);

#endif
