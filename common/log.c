/*
 * log: stderr or syslog sink with OpenBSD's log_warn/log_warnx/fatal
 * split. See log.h for the contract.
 */
#include "common/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#define LOG_MSG_MAX 1024

/* The process's log sink: the one piece of global state in common/. */
static struct {
	const char *progname;
	int foreground;
	int verbose;
	int stamp;	/* foreground lines begin with the wall-clock time */
} log_ctx = { "colokit", 1, 0, 0 };

void log_init(const char *progname, int foreground, int verbose)
{
	const char *stamp = getenv("COLOKIT_LOG_TIME");

	log_ctx.progname = progname ? progname : "colokit";
	log_ctx.foreground = foreground;
	log_ctx.verbose = verbose;
	log_ctx.stamp = foreground && stamp && *stamp && strcmp(stamp, "0");
	if (!foreground) {
		tzset(); /* syslog timestamps, before any chroot */
		openlog(log_ctx.progname, LOG_PID | LOG_NDELAY, LOG_DAEMON);
	}
}

void log_setverbose(int verbose)
{
	log_ctx.verbose = verbose;
}

int log_getverbose(void)
{
	return log_ctx.verbose;
}

/* Write one complete line so that concurrent writers do not interleave. */
static void log_emit(int pri, const char *msg)
{
	char when[32] = "";

	if (!log_ctx.foreground) {
		syslog(pri, "%s", msg);
		return;
	}
	if (log_ctx.stamp) {
		struct timespec ts;
		struct tm tm;

		clock_gettime(CLOCK_REALTIME, &ts);
		localtime_r(&ts.tv_sec, &tm);
		snprintf(when, sizeof(when), "%02d:%02d:%02d.%06ld ", tm.tm_hour,
			 tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000);
	}
	fprintf(stderr, "%s%s: %s\n", when, log_ctx.progname, msg);
	fflush(stderr);
}

void log_vlog(int pri, const char *fmt, va_list ap)
{
	char msg[LOG_MSG_MAX];
	int saved_errno = errno;

	if (pri == LOG_DEBUG && !log_ctx.verbose)
		goto out;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	log_emit(pri, msg);
out:
	errno = saved_errno;
}

/* Format fmt (may be NULL) and append ": strerror(err)". */
LOG_PRINTF(3, 0)
static void log_vlog_errno(int pri, int err, const char *fmt, va_list ap)
{
	char msg[LOG_MSG_MAX];
	size_t n = 0;

	if (fmt) {
		vsnprintf(msg, sizeof(msg), fmt, ap);
		n = strlen(msg);
		snprintf(msg + n, sizeof(msg) - n, ": %s", strerror(err));
	} else {
		snprintf(msg, sizeof(msg), "%s", strerror(err));
	}
	log_emit(pri, msg);
}

void log_warn(const char *fmt, ...)
{
	int saved_errno = errno;
	va_list ap;

	va_start(ap, fmt);
	log_vlog_errno(LOG_WARNING, saved_errno, fmt, ap);
	va_end(ap);
	errno = saved_errno;
}

void log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vlog(LOG_WARNING, fmt, ap);
	va_end(ap);
}

void log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vlog(LOG_INFO, fmt, ap);
	va_end(ap);
}

void log_debug(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vlog(LOG_DEBUG, fmt, ap);
	va_end(ap);
}

/* Log "fatal: message[: strerror(err)]" at LOG_CRIT; err 0 omits errno. */
LOG_PRINTF(2, 0)
static void log_vfatal(int err, const char *fmt, va_list ap)
{
	char msg[LOG_MSG_MAX];
	char line[LOG_MSG_MAX + 64];

	if (fmt)
		vsnprintf(msg, sizeof(msg), fmt, ap);
	else
		msg[0] = '\0';
	if (err && fmt)
		snprintf(line, sizeof(line), "fatal: %s: %s", msg, strerror(err));
	else if (err)
		snprintf(line, sizeof(line), "fatal: %s", strerror(err));
	else
		snprintf(line, sizeof(line), "fatal: %s", msg);
	log_emit(LOG_CRIT, line);
}

void fatal(const char *fmt, ...)
{
	int saved_errno = errno;
	va_list ap;

	va_start(ap, fmt);
	log_vfatal(saved_errno, fmt, ap);
	va_end(ap);
	exit(1);
}

void fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vfatal(0, fmt, ap);
	va_end(ap);
	exit(1);
}
