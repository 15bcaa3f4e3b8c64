/*
 * cfgfile: read a configuration file and hand its bytes to a parser
 * (the one piece of configuration handling that does I/O).
 */
#ifndef COMMON_CFGFILE_H
#define COMMON_CFGFILE_H

#include <stdbool.h>
#include <stddef.h>

/* PARSE(CONF, TEXT, LEN, ERR, ERRLEN): true, or false with "line N: ..."
 * or a plain message in ERR. ERR starts empty; a parser may leave a
 * warning in it and still return true. */
typedef bool cfg_file_parser(void *conf, const char *text, size_t len,
			     char *err, size_t errlen);

/*
 * Read PATH (at most 16 MiB) and parse it. false with the message in ERR
 * as "PATH:N: message" (a line's error) or "PATH: message"; on success
 * ERR holds the parser's warning, or "".
 */
bool cfg_load_file(const char *path, cfg_file_parser *parse, void *conf,
		   char *err, size_t errlen);

#endif /* COMMON_CFGFILE_H */
