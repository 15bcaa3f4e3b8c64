/*
 * cfgfile: read a configuration file for a parser (see cfgfile.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cfg.h"
#include "common/cfgfile.h"

#define CFG_FILE_MAX (1u << 24)

/* "line 7: msg" -> "PATH:7: msg"; anything else -> "PATH: msg". */
static void prefix_path(const char *path, const char *msg, char *err,
			size_t errlen)
{
	unsigned line;
	int n = 0;

	if (sscanf(msg, "line %u: %n", &line, &n) == 1 && n > 0)
		snprintf(err, errlen, "%s:%u: %s", path, line, msg + n);
	else
		snprintf(err, errlen, "%s: %s", path, msg);
}

/* The whole file into a malloc'd buffer: 0 or -errno. */
static int slurp(int fd, char **textp, size_t *lenp)
{
	size_t len = 0, cap = 0;
	char *text = NULL, *t;
	ssize_t n;

	for (;;) {
		if (len + 4096 > cap) {
			cap = cap ? cap * 2 : 8192;
			if (cap > CFG_FILE_MAX || !(t = realloc(text, cap))) {
				free(text);
				return cap > CFG_FILE_MAX ? -EFBIG : -ENOMEM;
			}
			text = t;
		}
		n = read(fd, text + len, cap - len);
		if (n < 0) {
			free(text);
			return -errno;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	*textp = text;
	*lenp = len;
	return 0;
}

bool cfg_load_file(const char *path, cfg_file_parser *parse, void *conf,
		   char *err, size_t errlen)
{
	char msg[CFG_ERR_MAX + 256];
	char *text = NULL;
	size_t len = 0;
	bool ok;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return false;
	}
	r = slurp(fd, &text, &len);
	close(fd);
	if (r < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(-r));
		return false;
	}
	msg[0] = '\0';
	ok = parse(conf, text, len, msg, sizeof(msg));
	if (msg[0])	/* the error, or a warning on success */
		prefix_path(path, msg, err, errlen);
	else if (errlen)
		err[0] = '\0';
	free(text);
	return ok;
}
