/*
 * log.h: the logging interface every exfeedd process shares.
 * Four verbs: log_debug/log_info, log_warn[x] (continue), fatal[x] (exit),
 * and assert() for impossible states.  The *x variants do not append errno.
 */
#ifndef EXFEEDD_LOG_H
#define EXFEEDD_LOG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

enum log_level { LOG_LVL_DEBUG = 0, LOG_LVL_INFO, LOG_LVL_WARN, LOG_LVL_ERROR };

/* Where log lines go: stderr (foreground), syslog, or an append-only file. */
enum log_target { LOG_TO_STDERR = 0, LOG_TO_SYSLOG, LOG_TO_FILE };

void	 log_init(const char *ident);
void	 log_set_role(const char *role, int instance);
void	 log_set_level(enum log_level);
enum log_level log_get_level(void);
int	 log_open(enum log_target, const char *path, int facility);
/*
 * Whether a syslog daemon takes datagrams on LOG_SYSLOG_SOCKET: syslog(3)
 * drops lines silently when none does.  1 or 0.
 */
#define LOG_SYSLOG_SOCKET	"/dev/log"
int	 log_syslog_listening(void);
int	 log_reopen(void);
int	 log_fd(void);
int	 log_level_parse(const char *, enum log_level *);
const char *log_level_name(enum log_level);

void	 log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_error(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 fatal(int, const char *, ...) __attribute__((format(printf, 2, 3), noreturn));
void	 fatalx(int, const char *, ...) __attribute__((format(printf, 2, 3), noreturn));

/*
 * Rate-limited warnings for things a peer can cause at line rate (malformed
 * frames, bad clients): at most `burst` lines per `interval_ms`, then one
 * summary line with the number suppressed.
 */
struct log_ratelimit {
	uint32_t	 interval_ms;
	uint32_t	 burst;
	uint64_t	 window_start_ms;
	uint32_t	 printed;
	uint64_t	 suppressed;
};
#define LOG_RATELIMIT_INIT(ms, n)	{ (ms), (n), 0, 0, 0 }
int	 log_ratelimit_allow(struct log_ratelimit *, uint64_t now_ms, uint64_t *suppressed);
void	 log_warnx_rl(struct log_ratelimit *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));

/*
 * Text a peer sent, fit for a log line: at most inlen bytes of in, every run
 * of LOG_TOKEN_MIN or more letters and digits (a listen key, an API key, a
 * signature an exchange may echo in its error message) replaced by "<redacted>",
 * control bytes by '?'.  out is always NUL-terminated.
 */
#define LOG_TOKEN_MIN	24
void	 log_redact_tokens(const char *in, size_t inlen, char *out, size_t outlen);

uint64_t monotonic_ms(void);

#endif
