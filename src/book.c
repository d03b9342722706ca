/*
 * book.c: the local order book (book.h): exact decimal price order, the
 * two sorted sides, the snapshot/diff state machine of FACTS §3, and top N.
 */
#include "autoconf.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "book.h"

/*
 * A price's position in the decimal order, found once per level: its
 * integer digits without leading zeros (io, il) and its fraction without
 * trailing zeros (fo, fl).  Two such views compare exactly.
 */
struct pkey {
	uint8_t		 io, il, fo, fl;
};

struct lvl {
	char		 price[EV_DEC];
	char		 qty[EV_DEC];
	struct pkey	 k;
};
/* book_top copies a level's price and qty as one ev_level. */
_Static_assert(offsetof(struct lvl, price) == offsetof(struct ev_level, price) &&
    offsetof(struct lvl, qty) == offsetof(struct ev_level, qty) &&
    sizeof(struct ev_level) <= sizeof(struct lvl), "struct lvl starts as an ev_level");

/*
 * One side, worst level first and best last: bids by ascending price, asks
 * by descending price (sgn -1), so the busy top is the array's end.
 * bounded: the side is known only at bound and better.
 */
struct side {
	struct lvl	*v;
	size_t		 n, cap;
	int		 sgn;
	bool		 bounded;
	struct lvl	 bound;
};

enum book_state { ST_UNSYNCED, ST_WAITING, ST_SYNCED };

struct book {
	char		 symbol[EV_SYM];
	enum book_state	 state;
	int64_t		 last_u;		/* last diff's u, or the snapshot's L */
	int64_t		 last_e;		/* its E */
	int64_t		 last_t;		/* its T */
	struct side	 bids, asks;
	size_t		 max_levels;
	struct bm_depth_diff *buf;
	size_t		 nbuf, max_buffered;
	const char	*reason;
	struct book_stats st;
	struct lvl	*sc;			/* the diff at hand, parsed (diff_parse) */
	bool		*sz;			/* its zero quantities */
	size_t		 scap;
};

/*
 * Parse a canonical unsigned decimal (digits, optionally '.' and digits)
 * that fits EV_DEC.  0 with *k and *zero set, or -1.
 */
static int
dec_key(const char *s, struct pkey *k, bool *zero)
{
	size_t i = 0, ip, fo, n;

	n = strnlen(s, EV_DEC);
	if (n == 0 || n >= EV_DEC)
		return -1;
	while (i < n && s[i] == '0')
		i++;
	ip = i;
	while (i < n && s[i] >= '0' && s[i] <= '9')
		i++;
	if (i == 0)		/* no integer digit at all */
		return -1;
	k->io = ip;
	k->il = i - ip;
	fo = i;
	if (i < n) {
		if (s[i] != '.' || i + 1 == n)
			return -1;
		fo = ++i;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i != n)
			return -1;
	}
	k->fo = fo;
	while (n > fo && s[n - 1] == '0')
		n--;
	k->fl = n > fo ? n - fo : 0;
	*zero = k->il == 0 && k->fl == 0;
	return 0;
}

/* memcmp for a few digits: a loop beats the call at these lengths. */
static inline int
digcmp(const char *a, const char *b, size_t n)
{
	for (; n > 0; n--, a++, b++)
		if (*a != *b)
			return *a < *b ? -1 : 1;
	return 0;
}

/* <0, 0, >0 as price a is below, equal to, above price b. */
static inline int
pcmp(const struct lvl *a, const struct lvl *b)
{
	size_t fl;
	int c;

	if (a->k.il != b->k.il)
		return a->k.il < b->k.il ? -1 : 1;
	if ((c = digcmp(a->price + a->k.io, b->price + b->k.io, a->k.il)) != 0)
		return c;
	fl = a->k.fl < b->k.fl ? a->k.fl : b->k.fl;
	if ((c = digcmp(a->price + a->k.fo, b->price + b->k.fo, fl)) != 0)
		return c;
	/* no trailing zeros: the longer fraction is the larger */
	return (a->k.fl > b->k.fl) - (a->k.fl < b->k.fl);
}

/* <0 when a is a worse level than b on side s. */
static inline int
order(const struct side *s, const struct lvl *a, const struct lvl *b)
{
	return s->sgn * pcmp(a, b);
}

/*
 * A level from the wire → *l; *zero when its quantity is 0.  -1 if the
 * price is not a positive decimal or the quantity not a decimal.
 */
static int
lvl_make(const struct ev_level *in, struct lvl *l, bool *zero)
{
	struct pkey qk;
	bool pzero;

	if (dec_key(in->price, &l->k, &pzero) == -1 || pzero)
		return -1;
	if (dec_key(in->qty, &qk, zero) == -1)
		return -1;
	memcpy(l->price, in->price, strlen(in->price) + 1);
	memcpy(l->qty, in->qty, strlen(in->qty) + 1);
	return 0;
}

/* The index where x is or would go (first level not worse than x). */
static size_t
side_find(const struct side *s, const struct lvl *x, bool *found)
{
	size_t lo = 0, hi = s->n, mid;
	int c;

	/* most updates are at the top: try the best level first */
	if (s->n > 0) {
		c = order(s, &s->v[s->n - 1], x);
		if (c <= 0) {
			*found = c == 0;
			return c == 0 ? s->n - 1 : s->n;
		}
		hi = s->n - 1;
	}
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (order(s, &s->v[mid], x) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < s->n && order(s, &s->v[lo], x) == 0;
	return lo;
}

static int
side_grow(struct side *s, size_t max)
{
	size_t cap;
	struct lvl *v;

	cap = s->cap ? s->cap * 2 : 64;
	if (cap > max)
		cap = max;
	if ((v = realloc(s->v, cap * sizeof(*v))) == NULL)
		return -1;
	s->v = v;
	s->cap = cap;
	return 0;
}

static void
side_clear(struct side *s)
{
	s->n = 0;
	s->bounded = false;
}

/* Set one level (absolute quantity, 0 removes).  -1 only when out of memory. */
static int
side_set(struct book *b, struct side *s, const struct lvl *x, bool zero)
{
	size_t i;
	bool found;

	if (s->bounded && order(s, x, &s->bound) < 0) {
		if (!zero)
			b->st.outside++;
		return 0;
	}
	i = side_find(s, x, &found);
	if (found) {
		if (zero)
			memmove(&s->v[i], &s->v[i + 1], (s->n - i - 1) * sizeof(*s->v));
		else
			s->v[i] = *x;
		s->n -= zero;
		return 0;
	}
	if (zero)
		return 0;	/* removing an absent level is normal (FACTS §3) */
	if (s->n >= b->max_levels) {
		/* full: the worst level goes, and the range ends at the new worst */
		b->st.trimmed++;
		if (i > 0) {
			memmove(&s->v[0], &s->v[1], (i - 1) * sizeof(*s->v));
			s->v[i - 1] = *x;
		}
		s->bounded = true;
		s->bound = s->v[0];
		return 0;
	}
	if (s->n == s->cap && side_grow(s, b->max_levels) == -1)
		return -1;
	memmove(&s->v[i + 1], &s->v[i], (s->n - i) * sizeof(*s->v));
	s->v[i] = *x;
	s->n++;
	return 0;
}

bool
book_crossed(const struct book *b)
{
	return b->bids.n > 0 && b->asks.n > 0 &&
	    pcmp(&b->bids.v[b->bids.n - 1], &b->asks.v[b->asks.n - 1]) >= 0;
}

static void
buf_drop(struct book *b, size_t from, size_t to)
{
	size_t i;

	/* the copies own only their levels (buf_push) */
	for (i = from; i < to; i++) {
		free(b->buf[i].levels);
		b->buf[i].levels = NULL;
	}
}

static void
book_clear(struct book *b)
{
	side_clear(&b->bids);
	side_clear(&b->asks);
	b->state = ST_UNSYNCED;
	b->last_u = b->last_e = b->last_t = 0;
}

/*
 * Check and parse a diff's levels into b->sc/b->sz, once for both the
 * check and the applying.  0, -1 if it is malformed (a level, or U > u),
 * -2 when out of memory.
 */
static int
diff_parse(struct book *b, const struct bm_depth_diff *d)
{
	size_t i, n = d->nbids + d->nasks, cap;
	struct lvl *sc;
	bool *sz;

	if (d->first_update_id > d->final_update_id || (n > 0 && d->levels == NULL))
		return -1;
	if (n > b->scap) {
		cap = n < 64 ? 64 : n;
		if ((sc = realloc(b->sc, cap * sizeof(*sc))) == NULL)
			return -2;
		b->sc = sc;
		if ((sz = realloc(b->sz, cap * sizeof(*sz))) == NULL)
			return -2;
		b->sz = sz;
		b->scap = cap;
	}
	for (i = 0; i < n; i++)
		if (lvl_make(&d->levels[i], &b->sc[i], &b->sz[i]) == -1)
			return -1;
	return 0;
}

/*
 * Copy d to the end of the buffer (room is there).  -1 when out of memory.
 */
static int
buf_push(struct book *b, const struct bm_depth_diff *d)
{
	struct bm_depth_diff *c = &b->buf[b->nbuf];
	size_t n = d->nbids + d->nasks;

	*c = *d;
	c->levels = NULL;
	if (n > 0) {
		if ((c->levels = malloc(n * sizeof(*c->levels))) == NULL)
			return -1;
		memcpy(c->levels, d->levels, n * sizeof(*c->levels));
	}
	b->nbuf++;
	return 0;
}

/*
 * Apply a diff parsed into b->sc (diff_parse).  -1 (reason set) if it
 * crosses the book or memory ran out.
 */
static int
diff_apply(struct book *b, const struct bm_depth_diff *d)
{
	size_t i, n = d->nbids + d->nasks;

	for (i = 0; i < n; i++) {
		if (side_set(b, i < d->nbids ? &b->bids : &b->asks, &b->sc[i], b->sz[i]) == -1) {
			b->reason = "out of memory";
			return -1;
		}
	}
	if (book_crossed(b)) {
		b->st.crossed++;
		b->reason = "a diff would cross the book (best bid >= best ask)";
		return -1;
	}
	b->last_u = d->final_update_id;
	b->last_e = d->event_time;
	b->last_t = d->time;
	b->state = ST_SYNCED;
	b->st.applied++;
	return 0;
}

/*
 * One diff, parsed into b->sc, against a WAITING or SYNCED book (the rules
 * in book.h).  On
 * BOOK_BREAK, *keep says whether the diff may start a new buffer (a gap: it
 * is good, only what came before it is missing).
 */
static enum book_rc
book_step(struct book *b, const struct bm_depth_diff *d, bool *keep)
{
	*keep = true;
	if (b->state == ST_WAITING) {
		if (d->final_update_id < b->last_u) {
			b->st.stale++;
			return BOOK_STALE;
		}
		if (d->first_update_id > b->last_u) {
			b->reason = "the first diff after the snapshot starts after its lastUpdateId";
			return BOOK_BREAK;
		}
	} else if (d->prev_final_update_id != b->last_u) {
		if (d->final_update_id <= b->last_u) {
			b->st.stale++;
			return BOOK_STALE;
		}
		b->reason = "gap: pu is not the previous diff's u";
		return BOOK_BREAK;
	}
	if (diff_apply(b, d) == -1) {
		*keep = false;
		return BOOK_BREAK;
	}
	return BOOK_OK;
}

struct book *
book_new(const char *symbol, size_t max_buffered)
{
	struct book *b;

	if (max_buffered < 1)
		max_buffered = 1;
	if ((b = calloc(1, sizeof(*b))) == NULL)
		return NULL;
	if ((b->buf = calloc(max_buffered, sizeof(*b->buf))) == NULL) {
		free(b);
		return NULL;
	}
	ev_copy_text(b->symbol, sizeof(b->symbol), symbol, strlen(symbol));
	b->max_buffered = max_buffered;
	b->max_levels = BOOK_LEVELS_MAX;
	b->bids.sgn = 1;
	b->asks.sgn = -1;
	b->reason = "";
	return b;
}

void
book_free(struct book *b)
{
	if (b == NULL)
		return;
	buf_drop(b, 0, b->nbuf);
	free(b->buf);
	free(b->sc);
	free(b->sz);
	free(b->bids.v);
	free(b->asks.v);
	free(b);
}

void
book_max_levels(struct book *b, size_t n)
{
	b->max_levels = n < 1 ? 1 : n;
}

enum book_rc
book_diff(struct book *b, const struct bm_depth_diff *d)
{
	enum book_rc rc;
	bool keep;
	int r;

	b->st.diffs++;
	if ((r = diff_parse(b, d)) < 0) {
		if (r == -1)
			b->st.malformed++;
		b->st.breaks++;
		b->reason = r == -1 ? "malformed diff (a level's price or quantity, or U > u)" :
		    "out of memory";
		buf_drop(b, 0, b->nbuf);
		b->nbuf = 0;
		book_clear(b);
		return BOOK_BREAK;
	}
	if (b->state == ST_UNSYNCED) {
		rc = BOOK_OK;
		if (b->nbuf == b->max_buffered) {
			buf_drop(b, 0, b->nbuf);
			b->nbuf = 0;
			b->st.breaks++;
			b->reason = "diff buffer full before a snapshot connected";
			rc = BOOK_BREAK;
		}
		if (buf_push(b, d) == -1) {
			if (rc != BOOK_BREAK)
				b->st.breaks++;
			b->reason = "out of memory";
			return BOOK_BREAK;
		}
		return rc;
	}
	rc = book_step(b, d, &keep);
	if (rc == BOOK_BREAK) {
		b->st.breaks++;
		book_clear(b);
		/* synced books buffer nothing: there is room */
		if (keep && buf_push(b, d) == -1)
			b->reason = "out of memory";
	}
	return rc;
}

/* Check a snapshot: levels good, quantities > 0, each side strictly in order, not crossed. */
static int
snapshot_ok(const struct bm_depth_snapshot *s)
{
	struct lvl prev, l;
	size_t i, n = s->nbids + s->nasks;
	bool zero;

	if (n > 0 && s->levels == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		if (lvl_make(&s->levels[i], &l, &zero) == -1 || zero)
			return -1;
		if (i > 0 && i != s->nbids) {
			/* bids descend, asks ascend */
			if (i < s->nbids ? pcmp(&l, &prev) >= 0 : pcmp(&l, &prev) <= 0)
				return -1;
		}
		if (i == s->nbids && i > 0) {
			struct lvl best;

			lvl_make(&s->levels[0], &best, &zero);
			if (pcmp(&best, &l) >= 0)
				return -1;	/* best bid >= best ask */
		}
		prev = l;
	}
	return 0;
}

/* Load one checked side of a snapshot: best first in, worst first kept. */
static int
side_load(struct book *b, struct side *s, const struct ev_level *in, size_t cnt, int limit)
{
	size_t k, j;
	bool zero;

	side_clear(s);
	k = cnt < b->max_levels ? cnt : b->max_levels;
	while (s->cap < k)
		if (side_grow(s, b->max_levels) == -1)
			return -1;
	for (j = 0; j < k; j++)
		lvl_make(&in[k - 1 - j], &s->v[j], &zero);
	s->n = k;
	/* a side shorter than the limit asked for is the whole side */
	s->bounded = k > 0 && (limit <= 0 || cnt >= (size_t)limit || cnt > k);
	if (cnt > k)
		b->st.trimmed += cnt - k;
	if (s->bounded)
		s->bound = s->v[0];
	return 0;
}

static int
book_load(struct book *b, const struct bm_depth_snapshot *s, int limit)
{
	book_clear(b);
	if (side_load(b, &b->bids, s->levels, s->nbids, limit) == -1 ||
	    side_load(b, &b->asks, s->levels + s->nbids, s->nasks, limit) == -1) {
		book_clear(b);
		b->reason = "out of memory";
		return -1;
	}
	b->state = ST_WAITING;
	b->last_u = s->last_update_id;
	b->last_e = s->event_time;
	b->last_t = s->time;
	return 0;
}

enum book_rc
book_snapshot(struct book *b, const struct bm_depth_snapshot *s, int snapshot_limit)
{
	enum book_rc rc;
	size_t i;
	bool keep;

	b->st.snapshots++;
	if (snapshot_ok(s) == -1) {
		b->st.malformed++;
		b->st.breaks++;
		b->reason = "malformed snapshot (a level, a side out of order, or crossed)";
		book_clear(b);
		return BOOK_BREAK;
	}
	if (b->state != ST_UNSYNCED) {
		if (s->last_update_id <= b->last_u)
			return BOOK_STALE;
		if (book_load(b, s, snapshot_limit) == -1) {
			b->st.breaks++;
			return BOOK_BREAK;
		}
		return BOOK_OK;
	}
	if (book_load(b, s, snapshot_limit) == -1) {
		b->st.breaks++;
		return BOOK_BREAK;
	}
	for (i = 0; i < b->nbuf; i++) {
		/* checked when it came: only memory can fail */
		if (diff_parse(b, &b->buf[i]) != 0) {
			b->reason = "out of memory";
			rc = BOOK_BREAK;
			keep = true;
		} else
			rc = book_step(b, &b->buf[i], &keep);
		if (rc != BOOK_BREAK)
			continue;
		/* keep what may still connect to a newer snapshot */
		if (!keep)
			i++;
		buf_drop(b, 0, i);
		memmove(b->buf, b->buf + i, (b->nbuf - i) * sizeof(*b->buf));
		b->nbuf -= i;
		b->st.breaks++;
		book_clear(b);
		return BOOK_BREAK;
	}
	buf_drop(b, 0, b->nbuf);
	b->nbuf = 0;
	return BOOK_OK;
}

void
book_unsync(struct book *b)
{
	book_clear(b);
}

bool
book_synced(const struct book *b)
{
	return b->state != ST_UNSYNCED;
}

int64_t
book_last_update_id(const struct book *b)
{
	return b->last_u;
}

const char *
book_break_reason(const struct book *b)
{
	return b->reason;
}

void
book_get_stats(const struct book *b, struct book_stats *st)
{
	*st = b->st;
	st->nbids = b->bids.n;
	st->nasks = b->asks.n;
	st->nbuffered = b->nbuf;
}

/* How many of the top n a side can give: n, all it has when whole, or -1. */
static int
side_top(const struct side *s, int n)
{
	if (s->n >= (size_t)n)
		return n;
	return s->bounded ? -1 : (int)s->n;
}

int
book_top(const struct book *b, int n, struct event *ev, struct ev_level *into)
{
	struct ev_book *bk = &ev->u.book;
	int nb, na, i;

	if (b->state == ST_UNSYNCED || n < 1 || n > EV_BOOK_LEVELS_MAX)
		return -1;
	if ((nb = side_top(&b->bids, n)) == -1 || (na = side_top(&b->asks, n)) == -1)
		return -1;
	memset(ev, 0, sizeof(*ev));
	ev->type = EV_BOOK;
	snprintf(ev->exchange, sizeof(ev->exchange), "binance-futures");
	ev->event_time = b->last_e;
	memcpy(bk->symbol, b->symbol, sizeof(bk->symbol));
	bk->last_update_id = b->last_u;
	bk->time = b->last_t;
	bk->depth = n;
	bk->nbids = nb;
	bk->nasks = na;
	if (into != NULL)
		bk->levels = into;
	else if (nb + na > 0 && (bk->levels = malloc((nb + na) * sizeof(*bk->levels))) == NULL)
		return -1;
	/* A level's two strings are an ev_level's: one copy each (a price and a
	 * qty are NUL-terminated within EV_DEC; the bytes after are copied too). */
	for (i = 0; i < nb; i++)
		memcpy(&bk->levels[i], &b->bids.v[b->bids.n - 1 - i], sizeof(struct ev_level));
	for (i = 0; i < na; i++)
		memcpy(&bk->levels[nb + i], &b->asks.v[b->asks.n - 1 - i], sizeof(struct ev_level));
	return 0;
}
