/*
 * budget.c: the host-wide budgets of one exchange IP (budget.h): the file
 * every account worker maps, its making and replacing, its robust lock, and
 * the arithmetic of the minute, the block, the in-flight slots and the
 * five-minute connection window, on times passed in.
 */
#include "autoconf.h"

#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "budget.h"

#define MINUTE_MS	60000
#define WS_WINDOW_S	300
/* Stop when the exchange's count for our IP comes this close to the limit. */
#define SEEN_MARGIN_PCT	95
#define BUDGET_MAGIC	0x54474442u	/* "BDGT" */
#define BUDGET_VERSION	3
#define OPEN_TRIES	8

/*
 * The file's head keeps this layout in every version, so that a daemon
 * re-initialising the file of another version or boot can carry a running
 * block over.  magic, version, size and boot_id never change once the file
 * has its name; blocked_until_ms, like everything after the head, is read
 * and written under the file's lock.
 */
struct budget_head {
	uint32_t	 magic;
	uint32_t	 version;
	uint64_t	 size;			/* sizeof(struct budget_file), its maker's */
	char		 boot_id[40];		/* the kernel's boot_id when it was made */
	int64_t		 blocked_until_ms;	/* Retry-After or ban: no REST till then */
};
_Static_assert(sizeof(struct budget_head) == 64, "the head keeps its layout");

/* After the head, the layout changes with the version. */
struct budget_file {
	struct budget_head	 head;
	pthread_mutex_t		 mtx;
	int64_t			 window_ms;	/* start of the current minute */
	int64_t			 used;		/* weight taken on the host this minute */
	int64_t			 seen;		/* the exchange's count for the IP */
	struct {
		int64_t		 sec;		/* the second this bucket counts */
		int64_t		 n;		/* connection attempts in it */
	}			 ws[WS_WINDOW_S];
	struct {
		int32_t		 pid;		/* the slot's worker, 0 none */
		int32_t		 n;		/* its REST requests in flight */
		int64_t		 urgent_until_ms; /* it has urgent requests waiting */
		int64_t		 keys_weight_1m; /* its listen keys' weight a minute */
	}			 slot[BUDGET_SLOTS];
	uint64_t		 weight_spent;
	uint64_t		 rest_refused;
	uint64_t		 blocks;
	uint64_t		 connects;
	uint64_t		 connects_refused;
	uint64_t		 lock_recoveries;
};

struct budget_host {
	struct budget_file	*f;
	char			*path;
	struct budget_limits	 lim;
	int			 slot;
	pid_t			 pid;
	uint64_t		 own_weight_spent;
	uint64_t		 own_requests;
	uint64_t		 reopens;
};

/* ---------------------------------------------------------------- the lock */

static int64_t
minute_of(int64_t ms)
{
	int64_t r = ms % MINUTE_MS;

	return ms - (r < 0 ? r + MINUTE_MS : r);
}

/*
 * A process that died holding the lock may have left an update half done.
 * Every update only adds to counts or starts a new window, so a torn one
 * at worst over-counts for a minute; make sure nothing is left negative or
 * off the minute.
 */
static void
budget_repair(struct budget_file *f)
{
	f->window_ms = minute_of(f->window_ms);
	if (f->used < 0)
		f->used = 0;
	if (f->seen < 0)
		f->seen = 0;
	for (int i = 0; i < WS_WINDOW_S; i++)
		if (f->ws[i].n < 0)
			f->ws[i].n = 0;
	for (int i = 0; i < BUDGET_SLOTS; i++)
		if (f->slot[i].n < 0)
			f->slot[i].n = 0;
}

/*
 * 0 with the lock held, or -1 if it is unusable (ENOTRECOVERABLE: some
 * process unlocked it after its owner died without making it consistent;
 * we never do).
 */
static int
file_lock(struct budget_file *f)
{
	int r;

	if ((r = pthread_mutex_lock(&f->mtx)) == EOWNERDEAD) {
		budget_repair(f);
		f->lock_recoveries++;
		pthread_mutex_consistent(&f->mtx);
		return 0;
	}
	return r == 0 ? 0 : -1;
}

static struct budget_file *file_open(const char *, int *, char *, size_t);

/* Claim our slot in the file, locked: no request of ours in flight yet. */
static void
budget_claim(struct budget_host *h)
{
	h->f->slot[h->slot].pid = (int32_t)h->pid;
	h->f->slot[h->slot].n = 0;
	h->f->slot[h->slot].urgent_until_ms = 0;
	h->f->slot[h->slot].keys_weight_1m = 0;
}

/*
 * Lock h's file: 0, or -1 if it cannot be had.  A file whose lock is
 * unusable is opened again by path, which replaces it (file_open), so one
 * bad file does not refuse every request until the worker restarts; the
 * requests we had in flight are forgotten with it.
 */
static int
budget_lock(struct budget_host *h)
{
	struct budget_file *f;
	char err[256];
	int how;

	if (file_lock(h->f) == 0)
		return 0;
	if ((f = file_open(h->path, &how, err, sizeof(err))) == NULL || file_lock(f) == -1) {
		if (f)
			munmap(f, sizeof(*f));
		return -1;
	}
	munmap(h->f, sizeof(*h->f));
	h->f = f;
	h->reopens++;
	budget_claim(h);
	return 0;
}

static void
budget_unlock(struct budget_host *h)
{
	pthread_mutex_unlock(&h->f->mtx);
}

void
budget_test_hold_lock(struct budget_host *h)
{
	budget_lock(h);
}

/* ---------------------------------------------------------- the arithmetic */

/*
 * Move to now's minute.  Only forward: a worker whose now was read a moment
 * before another's rolled the window counts in the newer minute rather than
 * resetting it back; a clock stepped back by more than a minute starts over.
 */
static void
budget_roll(struct budget_file *f, int64_t now_ms)
{
	int64_t win = minute_of(now_ms);

	if (win > f->window_ms || win < f->window_ms - MINUTE_MS) {
		f->window_ms = win;
		f->used = 0;
		f->seen = 0;
	}
}

static int
pid_alive(int32_t pid)
{
	/* A zombie still counts until its parent reaps it; EPERM means it lives. */
	return pid > 0 && (kill((pid_t)pid, 0) == 0 || errno != ESRCH);
}

/* REST requests in flight on the host; a dead worker's slot is cleared. */
static int
budget_inflight(struct budget_host *h)
{
	struct budget_file *f = h->f;
	int n = 0;

	for (int i = 0; i < BUDGET_SLOTS; i++) {
		if (f->slot[i].n <= 0)
			continue;
		if (i != h->slot && !pid_alive(f->slot[i].pid)) {
			f->slot[i].pid = 0;
			f->slot[i].n = 0;
			continue;
		}
		n += f->slot[i].n;
	}
	return n;
}

/* Locked: does another live worker have urgent requests waiting at now_ms? */
static int
budget_other_urgent(struct budget_host *h, int64_t now_ms, int64_t *until_ms)
{
	struct budget_file *f = h->f;

	for (int i = 0; i < BUDGET_SLOTS; i++)
		if (i != h->slot && f->slot[i].urgent_until_ms > now_ms) {
			if (!pid_alive(f->slot[i].pid)) {
				f->slot[i].urgent_until_ms = 0;
				continue;
			}
			*until_ms = f->slot[i].urgent_until_ms;
			return 1;
		}
	return 0;
}

/*
 * Locked: the weight a minute the host's live workers need for their listen
 * keys (budget_rest_keys), at most three quarters of the limit, so that
 * resyncs still move when the keys alone would take the whole minute.
 */
static int64_t
budget_keys_demand(struct budget_host *h)
{
	struct budget_file *f = h->f;
	int64_t n = 0, cap = h->lim.weight_1m - h->lim.weight_1m / 4;

	for (int i = 0; i < BUDGET_SLOTS; i++) {
		if (f->slot[i].keys_weight_1m <= 0)
			continue;
		if (i != h->slot && !pid_alive(f->slot[i].pid)) {
			f->slot[i].keys_weight_1m = 0;
			continue;
		}
		n += f->slot[i].keys_weight_1m;
	}
	return n < cap ? n : cap;
}

/* Locked: may a request of `weight` (deferred: after urgent ones) go now?  0, or -1, *wait_ms. */
static int
budget_rest_check(struct budget_host *h, int64_t weight, int64_t reserve, int deferred,
    int64_t now_ms, int64_t *wait_ms)
{
	int64_t until;

	struct budget_file *f = h->f;
	int64_t limit = h->lim.weight_1m;
	int fits;

	budget_roll(f, now_ms);
	if (f->head.blocked_until_ms > now_ms) {
		*wait_ms = f->head.blocked_until_ms - now_ms;
		return -1;
	}
	if (f->slot[h->slot].pid != h->pid) {
		/* A newer worker of our instance has the slot: it speaks for the instance now. */
		*wait_ms = 1000;
		return -1;
	}
	if (reserve > 0) {
		int64_t keys = budget_keys_demand(h);

		if (keys > reserve)
			reserve = keys;
	}
	/* The reserve comes off both counts: else the exchange's, nearer, takes it back. */
	fits = f->used + weight <= limit - reserve &&
	    (f->seen + weight + reserve) * 100 <= limit * SEEN_MARGIN_PCT;
	/* One too heavy for any minute would wait for ever: it goes alone at a minute's start. */
	if (!fits && !(f->used == 0 && f->seen == 0)) {
		*wait_ms = f->window_ms + MINUTE_MS - now_ms + 1;
		return -1;
	}
	if (budget_inflight(h) >= h->lim.inflight) {
		*wait_ms = BUDGET_INFLIGHT_WAIT_MS;
		return -1;
	}
	if (deferred && budget_other_urgent(h, now_ms, &until)) {
		*wait_ms = until - now_ms < BUDGET_DEFER_WAIT_MS ? until - now_ms :
		    BUDGET_DEFER_WAIT_MS;
		return -1;
	}
	*wait_ms = 0;
	return 0;
}

static int
rest_take(struct budget_host *h, int64_t weight, int64_t reserve, int deferred, int64_t now_ms,
    int64_t *wait_ms)
{
	struct budget_file *f;

	if (budget_lock(h) == -1) {
		*wait_ms = 1000;
		return -1;
	}
	f = h->f;
	if (budget_rest_check(h, weight, reserve, deferred, now_ms, wait_ms) == -1) {
		f->rest_refused++;
		budget_unlock(h);
		return -1;
	}
	f->used += weight;
	f->seen += weight;	/* until a response tells us the exchange's figure */
	f->slot[h->slot].n++;
	f->weight_spent += (uint64_t)weight;
	budget_unlock(h);
	h->own_weight_spent += (uint64_t)weight;
	h->own_requests++;
	return 0;
}

int
budget_rest_take(struct budget_host *h, int64_t weight, int64_t reserve, int64_t now_ms,
    int64_t *wait_ms)
{
	return rest_take(h, weight, reserve, 0, now_ms, wait_ms);
}

int
budget_rest_take_deferred(struct budget_host *h, int64_t weight, int64_t reserve, int64_t now_ms,
    int64_t *wait_ms)
{
	return rest_take(h, weight, reserve, 1, now_ms, wait_ms);
}

void
budget_rest_urgent(struct budget_host *h, int64_t until_ms)
{
	if (budget_lock(h) == -1)
		return;
	if (h->f->slot[h->slot].pid == h->pid)
		h->f->slot[h->slot].urgent_until_ms = until_ms;
	budget_unlock(h);
}

void
budget_rest_keys(struct budget_host *h, int64_t weight_1m)
{
	if (budget_lock(h) == -1)
		return;
	if (h->f->slot[h->slot].pid == h->pid)
		h->f->slot[h->slot].keys_weight_1m = weight_1m > 0 ? weight_1m : 0;
	budget_unlock(h);
}

int
budget_rest_room(struct budget_host *h, int64_t weight, int64_t reserve, int64_t now_ms,
    int64_t *wait_ms)
{
	int r;

	if (budget_lock(h) == -1) {
		*wait_ms = 1000;
		return -1;
	}
	r = budget_rest_check(h, weight, reserve, 0, now_ms, wait_ms);
	budget_unlock(h);
	return r;
}

void
budget_rest_done(struct budget_host *h)
{
	struct budget_file *f;

	if (budget_lock(h) == -1)
		return;
	f = h->f;
	if (f->slot[h->slot].pid == h->pid && f->slot[h->slot].n > 0)
		f->slot[h->slot].n--;
	budget_unlock(h);
}

void
budget_rest_seen(struct budget_host *h, int64_t used_1m, int64_t now_ms)
{
	if (budget_lock(h) == -1)
		return;
	budget_roll(h->f, now_ms);
	if (used_1m > h->f->seen)
		h->f->seen = used_1m;
	budget_unlock(h);
}

void
budget_rest_block(struct budget_host *h, int64_t until_ms)
{
	if (budget_lock(h) == -1)
		return;
	if (until_ms > h->f->head.blocked_until_ms) {
		h->f->head.blocked_until_ms = until_ms;
		h->f->blocks++;
	}
	budget_unlock(h);
}

int64_t
budget_rest_blocked_until(struct budget_host *h, int64_t now_ms)
{
	int64_t until;

	if (budget_lock(h) == -1)
		return 0;
	until = h->f->head.blocked_until_ms;
	budget_unlock(h);
	return until > now_ms ? until : 0;
}

/* Attempts in the five minutes to sec; buckets from a stepped-back clock's future count too. */
static int64_t
budget_ws_window(const struct budget_file *f, int64_t sec)
{
	int64_t n = 0;

	for (int i = 0; i < WS_WINDOW_S; i++)
		if (f->ws[i].sec > sec - WS_WINDOW_S)
			n += f->ws[i].n;
	return n;
}

int
budget_ws_take(struct budget_host *h, int64_t reserve, int64_t now_ms, int64_t *wait_ms)
{
	struct budget_file *f;
	int64_t sec = now_ms / 1000, oldest = sec;
	int b = (int)(sec % WS_WINDOW_S);

	if (budget_lock(h) == -1) {
		*wait_ms = 1000;
		return -1;
	}
	f = h->f;
	if (budget_ws_window(f, sec) + (reserve > 0 ? reserve : 0) >= h->lim.connects_5m) {
		/* Wait until the oldest second still in the window falls out of it. */
		for (int i = 0; i < WS_WINDOW_S; i++)
			if (f->ws[i].n > 0 && f->ws[i].sec > sec - WS_WINDOW_S &&
			    f->ws[i].sec < oldest)
				oldest = f->ws[i].sec;
		*wait_ms = (oldest + WS_WINDOW_S) * 1000 - now_ms;
		if (*wait_ms < 1)
			*wait_ms = 1;
		f->connects_refused++;
		budget_unlock(h);
		return -1;
	}
	/* A bucket is reused only going forward; a stale now counts in the newer second. */
	if (f->ws[b].sec < sec) {
		f->ws[b].sec = sec;
		f->ws[b].n = 0;
	}
	f->ws[b].n++;
	f->connects++;
	budget_unlock(h);
	*wait_ms = 0;
	return 0;
}

void
budget_stats(struct budget_host *h, int64_t now_ms, struct budget_stats *st)
{
	struct budget_file *f;

	memset(st, 0, sizeof(*st));
	if (budget_lock(h) == 0) {
		f = h->f;
		if (minute_of(now_ms) <= f->window_ms) {
			st->minute_used = f->used;
			st->minute_seen = f->seen;
		}
		if (f->head.blocked_until_ms > now_ms)
			st->blocked_until_ms = f->head.blocked_until_ms;
		st->connects_5m = budget_ws_window(f, now_ms / 1000);
		st->inflight = budget_inflight(h);
		st->weight_spent = f->weight_spent;
		st->rest_refused = f->rest_refused;
		st->blocks = f->blocks;
		st->connects = f->connects;
		st->connects_refused = f->connects_refused;
		st->lock_recoveries = f->lock_recoveries;
		budget_unlock(h);
	}
	st->own_weight_spent = h->own_weight_spent;
	st->own_requests = h->own_requests;
	st->own_reopens = h->reopens;
}

/* ------------------------------------------------------------------ the file */

static int
limits_ok(const struct budget_limits *lim)
{
	return lim->weight_1m >= 1 && lim->connects_5m >= 1 && lim->inflight >= 1;
}

/* The kernel's id of this boot, or "" if it cannot be read. */
static void
boot_id_read(char *out, size_t outlen)
{
	ssize_t n = -1;
	int fd;

	memset(out, 0, outlen);
	if ((fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC)) != -1) {
		n = read(fd, out, outlen - 1);
		close(fd);
	}
	if (n <= 0) {
		memset(out, 0, outlen);
		return;
	}
	out[strcspn(out, "\n")] = '\0';
}

static struct budget_file *
file_map(int fd)
{
	void *p;

	p = mmap(NULL, sizeof(struct budget_file), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	return p == MAP_FAILED ? NULL : p;
}

/*
 * Make a new file beside path and give it path's name: by link(2) when
 * path is missing (-1 with EEXIST if another process made it first), or by
 * rename(2) over a file found unusable.  Returns the mapping, or NULL with
 * errno set and the reason in err.
 */
static struct budget_file *
file_make(const char *path, const char *boot_id, int64_t blocked_until_ms, int replace,
    char *err, size_t errlen)
{
	char tmp[PATH_MAX];
	struct budget_file *f = NULL;
	pthread_mutexattr_t ma;
	const char *what;
	int fd, saved;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid()) >= sizeof(tmp)) {
		snprintf(err, errlen, "%s: path too long", path);
		errno = ENAMETOOLONG;
		return NULL;
	}
	(void)unlink(tmp);	/* left by an earlier process of our pid that died here */
	what = "create";
	if ((fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600)) == -1)
		goto fail;
	what = "size";
	if (ftruncate(fd, (off_t)sizeof(*f)) == -1)
		goto fail;
	what = "map";
	if ((f = file_map(fd)) == NULL)
		goto fail;
	f->head.magic = BUDGET_MAGIC;
	f->head.version = BUDGET_VERSION;
	f->head.size = sizeof(*f);
	snprintf(f->head.boot_id, sizeof(f->head.boot_id), "%s", boot_id);
	f->head.blocked_until_ms = blocked_until_ms;
	/* Robust: a worker killed while holding the lock hands EOWNERDEAD to the next. */
	what = "initialise the lock of";
	if ((errno = pthread_mutexattr_init(&ma)) != 0)
		goto fail;
	if ((errno = pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED)) != 0 ||
	    (errno = pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST)) != 0 ||
	    (errno = pthread_mutex_init(&f->mtx, &ma)) != 0) {
		saved = errno;
		pthread_mutexattr_destroy(&ma);
		errno = saved;
		goto fail;
	}
	pthread_mutexattr_destroy(&ma);
	if (replace) {
		what = "rename";
		if (rename(tmp, path) == -1)
			goto fail;
	} else {
		what = "link";
		if (link(tmp, path) == -1)
			goto fail;
		(void)unlink(tmp);
	}
	close(fd);
	return f;
fail:
	saved = errno;
	snprintf(err, errlen, "%s: cannot %s %s: %s", path, what, tmp, strerror(saved));
	if (f)
		munmap(f, sizeof(*f));
	if (fd != -1) {
		close(fd);
		(void)unlink(tmp);
	}
	errno = saved;
	return NULL;
}

/*
 * May we use this mapped file's lock?  0, or -1 if it is unrecoverable.  A
 * lock left by a dead owner is made consistent here.  pthread_mutex_lock,
 * not trylock: glibc's trylock of an unrecoverable robust mutex leaves it
 * locked, and we only wait for a critical section to end.
 */
static int
file_probe(struct budget_file *f)
{
	if (file_lock(f) == -1)
		return -1;
	pthread_mutex_unlock(&f->mtx);
	return 0;
}

/* Open path's budget file and return its mapping; *how says what we found. */
static struct budget_file *
file_open(const char *path, int *how, char *err, size_t errlen)
{
	char boot_id[sizeof(((struct budget_head *)0)->boot_id)];
	struct budget_head head;
	struct budget_file *f;
	struct stat st, now;
	ssize_t n;
	int fd, ours;

	boot_id_read(boot_id, sizeof(boot_id));
	for (int tries = 0; tries < OPEN_TRIES; tries++) {
		if ((fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW)) == -1) {
			if (errno != ENOENT) {
				snprintf(err, errlen, "%s: %s", path, strerror(errno));
				return NULL;
			}
			if ((f = file_make(path, boot_id, 0, 0, err, errlen)) == NULL) {
				if (errno == EEXIST)
					continue;	/* another worker made it first */
				return NULL;
			}
			*how = BUDGET_OPEN_CREATED;
			return f;
		}
		memset(&head, 0, sizeof(head));
		if (fstat(fd, &st) == -1 || (n = pread(fd, &head, sizeof(head), 0)) == -1) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			close(fd);
			return NULL;
		}
		ours = n == (ssize_t)sizeof(head) && head.magic == BUDGET_MAGIC;
		if (ours && S_ISREG(st.st_mode) && st.st_size == (off_t)sizeof(*f) &&
		    head.version == BUDGET_VERSION && head.size == sizeof(*f) &&
		    memcmp(head.boot_id, boot_id, sizeof(boot_id)) == 0) {
			if ((f = file_map(fd)) == NULL) {
				snprintf(err, errlen, "%s: cannot map: %s", path, strerror(errno));
				close(fd);
				return NULL;
			}
			if (file_probe(f) == 0) {
				close(fd);
				*how = BUDGET_OPEN_KEPT;
				return f;
			}
			munmap(f, sizeof(*f));
		}
		/*
		 * Unusable: replace it by rename, so that a process still mapping
		 * it is never cut short.  One process at a time, under its flock;
		 * if the name already points elsewhere, another did it: open that.
		 */
		if (!S_ISREG(st.st_mode) || flock(fd, LOCK_EX) == -1) {
			snprintf(err, errlen, "%s: not a budget file we can lock", path);
			close(fd);
			return NULL;
		}
		if (stat(path, &now) == -1 || now.st_ino != st.st_ino || now.st_dev != st.st_dev) {
			close(fd);
			continue;
		}
		f = file_make(path, boot_id, ours ? head.blocked_until_ms : 0, 1, err, errlen);
		close(fd);
		if (f == NULL)
			return NULL;
		*how = BUDGET_OPEN_RESET;
		return f;
	}
	snprintf(err, errlen, "%s: replaced under us %d times; giving up", path, OPEN_TRIES);
	return NULL;
}

struct budget_host *
budget_open(const char *path, int slot, const struct budget_limits *lim, int *how, char *err,
    size_t errlen)
{
	struct budget_host *h;
	int how_;

	if (slot < 0 || slot >= BUDGET_SLOTS || !limits_ok(lim)) {
		snprintf(err, errlen, "%s: slot %d (0..%d) or a limit < 1", path, slot,
		    BUDGET_SLOTS - 1);
		return NULL;
	}
	if ((h = calloc(1, sizeof(*h))) == NULL || (h->path = strdup(path)) == NULL) {
		snprintf(err, errlen, "%s", strerror(errno));
		free(h);
		return NULL;
	}
	if ((h->f = file_open(path, &how_, err, errlen)) == NULL) {
		free(h->path);
		free(h);
		return NULL;
	}
	h->lim = *lim;
	h->slot = slot;
	h->pid = getpid();
	if (budget_lock(h) == 0) {
		budget_claim(h);
		budget_unlock(h);
	}
	if (how)
		*how = how_;
	return h;
}

void
budget_close(struct budget_host *h)
{
	if (h == NULL)
		return;
	if (budget_lock(h) == 0) {
		if (h->f->slot[h->slot].pid == h->pid) {
			h->f->slot[h->slot].pid = 0;
			h->f->slot[h->slot].n = 0;
			h->f->slot[h->slot].urgent_until_ms = 0;
			h->f->slot[h->slot].keys_weight_1m = 0;
		}
		budget_unlock(h);
	}
	munmap(h->f, sizeof(*h->f));
	free(h->path);
	free(h);
}

int
budget_set_limits(struct budget_host *h, const struct budget_limits *lim)
{
	if (!limits_ok(lim))
		return -1;
	h->lim = *lim;
	return 0;
}

int64_t
budget_retry_after_s(int status, int64_t retry_after_s)
{
	int64_t max = status == 418 ? 3 * 24 * 3600 : 300;

	if (retry_after_s <= 0)
		return 60;
	return retry_after_s > max ? max : retry_after_s;
}
