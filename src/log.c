/*
 * log.c: log lines for every exfeedd process, to stderr, syslog or a file.
 * Each line names the process role so one file can hold the whole daemon;
 * the file is opened O_APPEND so concurrent writers never interleave lines.
 */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static struct {
	const char	*ident;
	char		 role[48];
	enum log_level	 level;
	enum log_target	 target;
	char		 path[4096];
	int		 fd;
	int		 facility;
} lg = { "exfeedd", "", LOG_LVL_INFO, LOG_TO_STDERR, "", 2, LOG_DAEMON };

static const char *const level_names[] = { "debug", "info", "warn", "error" };

uint64_t
monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void
log_init(const char *ident)
{
	lg.ident = ident;
}

void
log_set_role(const char *role, int instance)
{
	if (role == NULL)
		lg.role[0] = '\0';
	else if (instance >= 0)
		snprintf(lg.role, sizeof(lg.role), "%s %d", role, instance);
	else
		snprintf(lg.role, sizeof(lg.role), "%s", role);
}

void
log_set_level(enum log_level l)
{
	lg.level = l;
}

enum log_level
log_get_level(void)
{
	return lg.level;
}

const char *
log_level_name(enum log_level l)
{
	return level_names[l];
}

int
log_level_parse(const char *s, enum log_level *out)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	return -1;
}

int
log_fd(void)
{
	return lg.target == LOG_TO_SYSLOG ? -1 : lg.fd;
}

static int
log_open_file(const char *path)
{
	struct stat st;
	int fd;

	/*
	 * Never through a symlink, and never a file with other names: the
	 * directory may be the workers' user's, and a root start writes the
	 * file and hands it to that user (supervisor.c).  ELOOP, EMLINK.
	 */
	if ((fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640)) == -1)
		return -1;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink > 1) {
		close(fd);
		errno = EMLINK;
		return -1;
	}
	return fd;
}

/* Switch the target.  On failure the previous target stays in use. */
int
log_open(enum log_target target, const char *path, int facility)
{
	int fd = 2;

	if (target == LOG_TO_FILE) {
		if ((fd = log_open_file(path)) == -1)
			return -1;
	}
	if (lg.target == LOG_TO_FILE && lg.fd > 2)
		close(lg.fd);
	if (lg.target == LOG_TO_SYSLOG && target != LOG_TO_SYSLOG)
		closelog();
	lg.target = target;
	lg.fd = fd;
	lg.facility = facility;
	snprintf(lg.path, sizeof(lg.path), "%s", path ? path : "");
	if (target == LOG_TO_SYSLOG)
		openlog(lg.ident, LOG_PID | LOG_NDELAY, facility);
	return 0;
}

/* USR1: reopen the file so logrotate can move the old one away. */
int
log_reopen(void)
{
	int fd;

	if (lg.target != LOG_TO_FILE)
		return 0;
	if ((fd = log_open_file(lg.path)) == -1)
		return -1;
	if (lg.fd > 2)
		close(lg.fd);
	lg.fd = fd;
	return 0;
}

static void
log_vwrite(enum log_level lvl, int errnum, const char *fmt, va_list ap)
{
	static const int prio[] = { LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR };
	char msg[2048], line[2300];
	struct timespec ts;
	struct tm tm;
	int n;

	if (lvl < lg.level)
		return;
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n < 0)
		return;
	if (errnum && (size_t)n < sizeof(msg))
		snprintf(msg + n, sizeof(msg) - (size_t)n, ": %s", strerror(errnum));

	if (lg.target == LOG_TO_SYSLOG) {
		if (lg.role[0])
			syslog(prio[lvl], "%s: %s", lg.role, msg);
		else
			syslog(prio[lvl], "%s", msg);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = snprintf(line, sizeof(line),
	    "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s[%ld]: %s%s%s: %s\n",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
	    tm.tm_sec, ts.tv_nsec / 1000000, lg.ident, (long)getpid(),
	    lg.role, lg.role[0] ? ": " : "", level_names[lvl], msg);
	if (n > (int)sizeof(line) - 1) {
		n = sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	/* One write per line: O_APPEND keeps concurrent processes' lines whole. */
	if (write(lg.fd, line, (size_t)n) == -1) {
		/* nowhere left to report it */
	}
}

#define LOG_FN(name, lvl, witherr)				\
void								\
name(const char *fmt, ...)					\
{								\
	int saved = errno;					\
	va_list ap;						\
	va_start(ap, fmt);					\
	log_vwrite(lvl, (witherr) ? saved : 0, fmt, ap);	\
	va_end(ap);						\
	errno = saved;						\
}

LOG_FN(log_debug, LOG_LVL_DEBUG, 0)
LOG_FN(log_info, LOG_LVL_INFO, 0)
LOG_FN(log_warn, LOG_LVL_WARN, 1)
LOG_FN(log_warnx, LOG_LVL_WARN, 0)
LOG_FN(log_error, LOG_LVL_ERROR, 0)

void
fatal(int status, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LVL_ERROR, saved, fmt, ap);
	va_end(ap);
	exit(status);
}

void
fatalx(int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LVL_ERROR, 0, fmt, ap);
	va_end(ap);
	exit(status);
}

int
log_ratelimit_allow(struct log_ratelimit *rl, uint64_t now_ms, uint64_t *suppressed)
{
	*suppressed = 0;
	if (rl->window_start_ms == 0 || now_ms - rl->window_start_ms >= rl->interval_ms) {
		*suppressed = rl->suppressed;
		rl->window_start_ms = now_ms;
		rl->printed = 0;
		rl->suppressed = 0;
	}
	if (rl->printed < rl->burst) {
		rl->printed++;
		return 1;
	}
	rl->suppressed++;
	return 0;
}

void
log_warnx_rl(struct log_ratelimit *rl, const char *fmt, ...)
{
	uint64_t suppressed;
	va_list ap;

	if (!log_ratelimit_allow(rl, monotonic_ms(), &suppressed))
		return;
	if (suppressed)
		log_warnx("(%llu similar messages suppressed)", (unsigned long long)suppressed);
	va_start(ap, fmt);
	log_vwrite(LOG_LVL_WARN, 0, fmt, ap);
	va_end(ap);
}

int
log_syslog_listening(void)
{
	struct sockaddr_un sun;
	int fd, ok;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", LOG_SYSLOG_SOCKET);
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return 0;
	ok = connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0;
	close(fd);
	return ok;
}

static int
log_token_char(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

void
log_redact_tokens(const char *in, size_t inlen, char *out, size_t outlen)
{
	static const char mark[] = "<redacted>";
	size_t i = 0, o = 0, run;

	if (outlen == 0)
		return;
	while (i < inlen && in[i] != '\0' && o + 1 < outlen) {
		for (run = 0; i + run < inlen && log_token_char((unsigned char)in[i + run]); run++)
			;
		if (run >= LOG_TOKEN_MIN) {
			if (o + sizeof(mark) > outlen)
				break;
			memcpy(out + o, mark, sizeof(mark) - 1);
			o += sizeof(mark) - 1;
			i += run;
			continue;
		}
		/* a short run, or one other byte, as it is */
		if (run == 0)
			run = 1;
		for (size_t k = 0; k < run && o + 1 < outlen; k++, i++)
			out[o++] = (unsigned char)in[i] < 0x20 || in[i] == 0x7f ? '?' : in[i];
	}
	out[o] = '\0';
}
