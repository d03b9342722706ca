/*
 * metrics.h: the Prometheus text exposition (format 0.0.4) of the daemon's
 * metrics, made from the status maps every worker answers IPC_STATUS_REQ
 * with (the same maps exfeedctl status shows) and from /proc.  The
 * supervisor renders it for /metrics (via the gateway: IPC_GATHER) and
 * exfeedctl metrics; doc/metrics.md lists every metric.
 *
 * A struct metrics collects samples by family in any order and renders
 * each family once (HELP, TYPE, then its samples), families in the order
 * they were first added.  Everything read from a status map is checked for
 * its type: a map that lacks a key or holds something else yields fewer
 * samples, never a fault (the supervisor renders this and must not crash).
 */
#ifndef EXFEEDD_METRICS_H
#define EXFEEDD_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <msgpack.h>

struct strbuf;

enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM, METRIC_UNTYPED };

struct metric_label {
	const char	*name;		/* [a-zA-Z_][a-zA-Z0-9_]* */
	const char	*value;		/* any UTF-8: escaped when rendered */
};

struct metrics;

struct metrics *metrics_new(void);
void	 metrics_free(struct metrics *);
/*
 * One sample of family name (a valid metric name, or it is refused: -1).
 * The first sample of a family fixes its type and help; a later sample
 * of another type is refused (-1).  0 on success, -1 out of memory.
 */
int	 metrics_add(struct metrics *, const char *name, enum metric_type, const char *help,
	    const struct metric_label *, size_t nlabels, double value);
/*
 * One histogram: nb upper bounds le[] (seconds, increasing) and nb + 1
 * per-bucket counts (not cumulative: the last is the samples above le[nb
 * - 1]), the sum of the samples (seconds).  Rendered as name_bucket with
 * cumulative counts and le="+Inf", name_sum and name_count.
 */
int	 metrics_hist(struct metrics *, const char *name, const char *help,
	    const struct metric_label *, size_t nlabels, const double *le,
	    const uint64_t *counts, size_t nb, double sum);
/* Append the exposition to sb.  0, or -1 out of memory. */
int	 metrics_render(const struct metrics *, struct strbuf *);
/* Families refused (bad names, type clashes) since metrics_new. */
size_t	 metrics_refused(const struct metrics *);

/*
 * The samples of the supervisor's worker list: an array of the maps
 * exfeedctl status shows ({role, instance, pid, state, restarts, detail:
 * {..., role: the role's status map}}).
 */
void	 metrics_workers(struct metrics *, const msgpack_object *workers);
/*
 * CPU time, resident memory and start time of pid from /proc, labelled
 * role and instance.  0, or -1 when /proc/PID/stat cannot be read.
 */
int	 metrics_process(struct metrics *, const char *role, int instance, pid_t);
/*
 * What the gateway's `ops` message needs from the same worker list, as
 * one map: {accounts: {state: n} summed over the account workers,
 * committed: the writer's events committed, latency_us: its event→commit
 * histogram map (hist.h), gateway: the gateway's status map}; absent
 * pieces are left out.
 */
void	 metrics_summary_pack(msgpack_packer *, const msgpack_object *workers);

#endif
