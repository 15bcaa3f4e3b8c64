/*
 * log: the process's log sink, after OpenBSD usr.sbin/ntpd/log.h.
 *
 * In the foreground (-d) messages go to stderr as "progname: message",
 * with the wall-clock time first ("HH:MM:SS.uuuuuu ") when the environment
 * has COLOKIT_LOG_TIME set to anything but "" or "0" (journald and syslog
 * add their own);
 * otherwise to syslog(3) under LOG_DAEMON. log_warn() and fatal() append
 * ": strerror(errno)", log_warnx() and fatalx() do not. log_debug() prints
 * only when verbose (-v). fatal() and fatalx() exit with status 1.
 *
 * This is the only module in common/ with process-wide state: one static
 * context, set by log_init(). Before log_init() messages go to stderr.
 * The pure cores (comparator, rewriter, config parser) never log; their
 * callers do.
 */
#ifndef COMMON_LOG_H
#define COMMON_LOG_H

#include <stdarg.h>

#define LOG_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))

/* Set the program name (kept by pointer: pass a string that outlives the
 * process, e.g. argv[0] or a literal), the sink and the verbosity. */
void log_init(const char *progname, int foreground, int verbose);

/* Change the verbosity after log_init(), e.g. on SIGUSR1. */
void log_setverbose(int verbose);

/* Current verbosity, for callers that build expensive debug output. */
int log_getverbose(void);

/* Log at priority pri (a syslog LOG_* level); the core of all below. */
void log_vlog(int pri, const char *fmt, va_list ap) LOG_PRINTF(2, 0);

/* Warning with ": strerror(errno)" appended; fmt may be NULL. */
void log_warn(const char *fmt, ...) LOG_PRINTF(1, 2);

/* Warning without errno. */
void log_warnx(const char *fmt, ...) LOG_PRINTF(1, 2);

/* Informational message. */
void log_info(const char *fmt, ...) LOG_PRINTF(1, 2);

/* Debug message, dropped unless verbose. */
void log_debug(const char *fmt, ...) LOG_PRINTF(1, 2);

/* Log "fatal: message: strerror(errno)" and exit(1); fmt may be NULL. */
void fatal(const char *fmt, ...) LOG_PRINTF(1, 2) __attribute__((noreturn));

/* Log "fatal: message" and exit(1). */
void fatalx(const char *fmt, ...) LOG_PRINTF(1, 2) __attribute__((noreturn));

#endif /* COMMON_LOG_H */
