/*
 * book_test.c: the local order book (src/book.c).  Each FACTS §3 rule on
 * its own, exact decimal order, the proven range and the level bound; then
 * a random walk of a Binance-like market (update ids, U/u/pu, levels moving
 * across the mid) delivered with drops, duplicates and reordering, with
 * snapshots at random ids, checked after every step against a reference
 * book replayed update by update; and a printed speed loop.
 */
#include <criterion/criterion.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "book.h"

TestSuite(book, .timeout = 60);

/* ------------------------------------------------------------ helpers */

/*
 * Levels from "b:price:qty a:price:qty ..." (bids and asks in any order in
 * the text; kept bids first, in text order).
 */
static struct ev_level *
parse_levels(const char *spec, size_t *nb, size_t *na)
{
	struct ev_level *lv;
	char buf[1024], *tok, *save = NULL, side, p[EV_DEC], q[EV_DEC];
	size_t cap = 64, n = 0, pass;

	lv = calloc(cap, sizeof(*lv));
	cr_assert_not_null(lv);
	*nb = *na = 0;
	for (pass = 0; pass < 2; pass++) {
		snprintf(buf, sizeof(buf), "%s", spec);
		for (tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
			cr_assert_eq(sscanf(tok, "%c:%39[^:]:%39s", &side, p, q), 3, "bad spec %s", tok);
			if ((side == 'b') != (pass == 0))
				continue;
			cr_assert_lt(n, cap);
			snprintf(lv[n].price, EV_DEC, "%s", p);
			snprintf(lv[n].qty, EV_DEC, "%s", q);
			n++;
			if (pass == 0)
				(*nb)++;
			else
				(*na)++;
		}
	}
	return lv;
}

static struct bm_depth_diff
mkdiff(int64_t U, int64_t u, int64_t pu, const char *spec)
{
	struct bm_depth_diff d;

	memset(&d, 0, sizeof(d));
	snprintf(d.symbol, sizeof(d.symbol), "BTCUSDT");
	d.first_update_id = U;
	d.final_update_id = u;
	d.prev_final_update_id = pu;
	d.event_time = 1000 + u;
	d.time = 900 + u;
	d.levels = parse_levels(spec, &d.nbids, &d.nasks);
	return d;
}

/* Feed one diff and free it. */
static enum book_rc
feed(struct book *b, int64_t U, int64_t u, int64_t pu, const char *spec)
{
	struct bm_depth_diff d = mkdiff(U, u, pu, spec);
	enum book_rc rc;

	rc = book_diff(b, &d);
	free(d.levels);
	return rc;
}

static enum book_rc
snap(struct book *b, int64_t L, int limit, const char *spec)
{
	struct bm_depth_snapshot s;
	enum book_rc rc;

	memset(&s, 0, sizeof(s));
	s.last_update_id = L;
	s.event_time = 5000 + L;
	s.time = 4000 + L;
	s.levels = parse_levels(spec, &s.nbids, &s.nasks);
	rc = book_snapshot(b, &s, limit);
	free(s.levels);
	return rc;
}

/*
 * The top n as text "b:p:q ... a:p:q ..." (best first), or "-1".
 */
static char *
top_text(struct book *b, int n)
{
	static char out[8192];
	struct event ev;
	size_t o = 0, i;

	memset(&ev, 0xa5, sizeof(ev));
	if (book_top(b, n, &ev, NULL) == -1)
		return "-1";
	cr_assert_eq(ev.type, EV_BOOK);
	cr_assert_str_eq(ev.exchange, "binance-futures");
	cr_assert_str_eq(ev.u.book.symbol, "BTCUSDT");
	cr_assert_eq(ev.u.book.depth, n);
	cr_assert_eq(ev.u.book.last_update_id, book_last_update_id(b));
	out[0] = '\0';
	for (i = 0; i < (size_t)ev.u.book.nbids + ev.u.book.nasks; i++)
		o += snprintf(out + o, sizeof(out) - o, "%s%c:%s:%s", i ? " " : "",
		    i < ev.u.book.nbids ? 'b' : 'a', ev.u.book.levels[i].price,
		    ev.u.book.levels[i].qty);
	free(ev.u.book.levels);
	return out;
}

static struct book_stats
stats(struct book *b)
{
	struct book_stats st;

	book_get_stats(b, &st);
	return st;
}

/* A synced book at L=100 from a limit-1000 snapshot (both sides whole). */
static struct book *
synced_book(void)
{
	struct book *b = book_new("BTCUSDT", 16);

	cr_assert_not_null(b);
	cr_assert_eq(snap(b, 100, 1000, "b:100.0:1 b:99.5:2 b:99:3 a:100.5:4 a:101:5 a:102:6"),
	    BOOK_OK);
	cr_assert_eq(feed(b, 95, 101, 94, "b:100.0:1.5"), BOOK_OK);
	cr_assert(book_synced(b));
	cr_assert_eq(book_last_update_id(b), 101);
	return b;
}

/* ---------------------------------------------------------- the rules */

Test(book, unsynced_buffers_and_has_no_top)
{
	struct book *b = book_new("BTCUSDT", 4);

	cr_assert_not(book_synced(b));
	cr_assert_eq(book_last_update_id(b), 0);
	cr_assert_eq(feed(b, 10, 12, 9, "b:1:1"), BOOK_OK);
	cr_assert_eq(stats(b).nbuffered, 1);
	cr_assert_str_eq(top_text(b, 1), "-1");
	book_free(b);
}


Test(book, top_carries_the_last_diff_or_snapshot)
{
	struct book *b = book_new("BTCUSDT", 4);
	struct event ev;

	cr_assert_eq(snap(b, 100, 1000, "b:1:1 a:2:1"), BOOK_OK);
	cr_assert_eq(book_top(b, 3, &ev, NULL), 0);
	cr_assert_eq(ev.u.book.last_update_id, 100);
	cr_assert_eq(ev.u.book.time, 4100);
	cr_assert_eq(ev.event_time, 5100);
	cr_assert_eq(ev.u.book.nbids, 1);
	cr_assert_eq(ev.u.book.nasks, 1);
	free(ev.u.book.levels);
	cr_assert_eq(feed(b, 99, 104, 98, "a:3:1"), BOOK_OK);
	cr_assert_eq(book_top(b, 3, &ev, NULL), 0);
	cr_assert_eq(ev.u.book.last_update_id, 104);
	cr_assert_eq(ev.u.book.time, 1004);
	cr_assert_eq(ev.event_time, 1104);
	free(ev.u.book.levels);
	cr_assert_eq(book_top(b, 0, &ev, NULL), -1);
	cr_assert_eq(book_top(b, EV_BOOK_LEVELS_MAX + 1, &ev, NULL), -1);
	book_free(b);
}

Test(book, stale_diffs_are_dropped)
{
	struct book *b = synced_book();
	const char *top = "b:100.0:1.5 b:99.5:2 b:99:3 a:100.5:4 a:101:5 a:102:6";

	cr_assert_str_eq(top_text(b, 3), top);
	/* older than the book, and the same diff again */
	cr_assert_eq(feed(b, 96, 100, 95, "b:100.0:9"), BOOK_STALE);
	cr_assert_eq(feed(b, 95, 101, 94, "b:100.0:9"), BOOK_STALE);
	cr_assert_eq(stats(b).stale, 2);
	cr_assert_eq(stats(b).breaks, 0);
	cr_assert(book_synced(b));
	cr_assert_str_eq(top_text(b, 3), top);
	cr_assert_eq(feed(b, 102, 103, 101, "a:100.5:0"), BOOK_OK);
	cr_assert_str_eq(top_text(b, 2), "b:100.0:1.5 b:99.5:2 a:101:5 a:102:6");
	book_free(b);

	/* waiting at a snapshot: u < lastUpdateId is covered by it */
	b = book_new("BTCUSDT", 4);
	cr_assert_eq(snap(b, 100, 1000, "b:1:1 a:2:1"), BOOK_OK);
	cr_assert_eq(feed(b, 90, 99, 89, "b:1:5"), BOOK_STALE);
	cr_assert_eq(book_last_update_id(b), 100);
	cr_assert_str_eq(top_text(b, 1), "b:1:1 a:2:1");
	book_free(b);
}

Test(book, first_event_rule_boundaries_live)
{
	struct book *b;

	/* U == lastUpdateId */
	b = book_new("BTCUSDT", 4);
	cr_assert_eq(snap(b, 100, 1000, "b:1:1 a:2:1"), BOOK_OK);
	cr_assert_eq(feed(b, 100, 105, 99, "b:1:7"), BOOK_OK);
	cr_assert_eq(book_last_update_id(b), 105);
	cr_assert_str_eq(top_text(b, 1), "b:1:7 a:2:1");
	book_free(b);
	/* u == lastUpdateId, then the pu chain */
	b = book_new("BTCUSDT", 4);
	cr_assert_eq(snap(b, 100, 1000, "b:1:1 a:2:1"), BOOK_OK);
	cr_assert_eq(feed(b, 95, 100, 94, "b:1:7"), BOOK_OK);
	cr_assert_eq(feed(b, 101, 103, 100, "a:2:3"), BOOK_OK);
	cr_assert_eq(book_last_update_id(b), 103);
	cr_assert_str_eq(top_text(b, 1), "b:1:7 a:2:3");
	book_free(b);
	/* U == lastUpdateId + 1: updates were missed (even with pu == L: FACTS step 5 is U <= L) */
	b = book_new("BTCUSDT", 4);
	cr_assert_eq(snap(b, 100, 1000, "b:1:1 a:2:1"), BOOK_OK);
	cr_assert_eq(feed(b, 101, 105, 100, "b:1:7"), BOOK_BREAK);
	cr_assert_not(book_synced(b));
	cr_assert_not_null(strstr(book_break_reason(b), "lastUpdateId"));
	cr_assert_eq(stats(b).nbuffered, 1);
	cr_assert_eq(stats(b).breaks, 1);
	cr_assert_str_eq(top_text(b, 1), "-1");
	/* the kept diff connects to a newer snapshot */
	cr_assert_eq(snap(b, 103, 1000, "b:1:2 a:2:1"), BOOK_OK);
	cr_assert_eq(book_last_update_id(b), 105);
	cr_assert_str_eq(top_text(b, 1), "b:1:7 a:2:1");
	book_free(b);
	/* u == lastUpdateId - 1 */
	b = book_new("BTCUSDT", 4);
	cr_assert_eq(snap(b, 100, 1000, "b:1:1 a:2:1"), BOOK_OK);
	cr_assert_eq(feed(b, 95, 99, 94, "b:1:7"), BOOK_STALE);
	cr_assert(book_synced(b));
	book_free(b);
}

Test(book, first_event_rule_boundaries_buffered)
{
	struct book *b;

	/* u < L dropped, U <= L <= u first, then the chain */
	b = book_new("BTCUSDT", 8);
	cr_assert_eq(feed(b, 90, 99, 89, "b:1:9"), BOOK_OK);
	cr_assert_eq(feed(b, 100, 105, 99, "b:1:2"), BOOK_OK);
	cr_assert_eq(feed(b, 106, 110, 105, "a:2:4"), BOOK_OK);
	cr_assert_eq(snap(b, 100, 1000, "b:1:1 a:2:1"), BOOK_OK);
	cr_assert(book_synced(b));
	cr_assert_eq(book_last_update_id(b), 110);
	cr_assert_eq(stats(b).stale, 1);
	cr_assert_eq(stats(b).applied, 2);
	cr_assert_eq(stats(b).nbuffered, 0);
	cr_assert_str_eq(top_text(b, 1), "b:1:2 a:2:4");
	book_free(b);
	/* u == L */
	b = book_new("BTCUSDT", 8);
	cr_assert_eq(feed(b, 95, 100, 94, "b:1:2"), BOOK_OK);
	cr_assert_eq(feed(b, 101, 104, 100, "b:1:3"), BOOK_OK);
	cr_assert_eq(snap(b, 100, 1000, "b:1:1 a:2:1"), BOOK_OK);
	cr_assert_eq(book_last_update_id(b), 104);
	cr_assert_str_eq(top_text(b, 1), "b:1:3 a:2:1");
	book_free(b);
	/* the first one left starts after L */
	b = book_new("BTCUSDT", 8);
	cr_assert_eq(feed(b, 90, 99, 89, "b:1:9"), BOOK_OK);
	cr_assert_eq(feed(b, 101, 105, 99, "b:1:2"), BOOK_OK);
	cr_assert_eq(snap(b, 100, 1000, "b:1:1 a:2:1"), BOOK_BREAK);
	cr_assert_not(book_synced(b));
	cr_assert_eq(stats(b).nbuffered, 1);
	cr_assert_eq(stats(b).breaks, 1);
	book_free(b);
}

Test(book, pu_gap_breaks_once)
{
	struct book *b = synced_book();

	cr_assert_eq(feed(b, 103, 110, 102, "b:99:9"), BOOK_BREAK);
	cr_assert_not(book_synced(b));
	cr_assert_not_null(strstr(book_break_reason(b), "pu"));
	cr_assert_eq(book_last_update_id(b), 0);
	cr_assert_str_eq(top_text(b, 1), "-1");
	cr_assert_eq(stats(b).breaks, 1);
	cr_assert_eq(stats(b).nbids, 0);
	cr_assert_eq(stats(b).nbuffered, 1);
	/* what follows is buffered, not another break */
	cr_assert_eq(feed(b, 111, 112, 110, "a:101:0"), BOOK_OK);
	cr_assert_eq(stats(b).breaks, 1);
	cr_assert_eq(snap(b, 105, 1000, "b:100:1 b:99:3 a:101:5"), BOOK_OK);
	cr_assert_eq(book_last_update_id(b), 112);
	cr_assert_str_eq(top_text(b, 2), "b:100:1 b:99:9");
	book_free(b);
}

Test(book, zero_quantity_removes)
{
	struct book *b = synced_book();

	cr_assert_eq(feed(b, 102, 102, 101, "b:99.5:0 a:101:0.000"), BOOK_OK);
	cr_assert_str_eq(top_text(b, 3), "b:100.0:1.5 b:99:3 a:100.5:4 a:102:6");
	cr_assert_eq(stats(b).nbids, 2);
	cr_assert_eq(stats(b).nasks, 2);
	book_free(b);
}

Test(book, removing_an_absent_level_is_normal)
{
	struct book *b = synced_book();

	cr_assert_eq(feed(b, 102, 102, 101, "b:98:0 a:150:0 b:99.25:0 a:100.75:0"), BOOK_OK);
	cr_assert_str_eq(top_text(b, 3),
	    "b:100.0:1.5 b:99.5:2 b:99:3 a:100.5:4 a:101:5 a:102:6");
	cr_assert_eq(stats(b).breaks, 0);
	book_free(b);
}

Test(book, prices_compare_as_decimals)
{
	struct book *b = synced_book();

	/* "100" is "100.0": the level is replaced, its string the latest */
	cr_assert_eq(feed(b, 102, 102, 101, "b:100:2"), BOOK_OK);
	cr_assert_eq(stats(b).nbids, 3);
	cr_assert_eq(feed(b, 103, 103, 102, "b:99.50:0 b:99.05:1"), BOOK_OK);
	cr_assert_str_eq(top_text(b, 3), "b:100:2 b:99.05:1 b:99:3 a:100.5:4 a:101:5 a:102:6");
	book_free(b);

	b = book_new("BTCUSDT", 4);
	cr_assert_eq(snap(b, 1, 1000,
	    "b:10:1 b:9.5:1 b:0.001:1 b:0.0001:1 a:10.01:1 a:10.1:1 a:100:1"), BOOK_OK);
	cr_assert_eq(feed(b, 1, 2, 0, "b:09.500:3 a:10.010:2 b:0.00010:0"), BOOK_OK);
	cr_assert_str_eq(top_text(b, 3),
	    "b:10:1 b:09.500:3 b:0.001:1 a:10.010:2 a:10.1:1 a:100:1");
	/* out of order in decimal terms: refused */
	cr_assert_eq(snap(b, 10, 1000, "b:9.5:1 b:10:1 a:11:1"), BOOK_BREAK);
	cr_assert_not(book_synced(b));
	cr_assert_eq(snap(b, 10, 1000, "b:9.5:1 a:11:1 a:10.99:1"), BOOK_BREAK);
	cr_assert_eq(snap(b, 10, 1000, "b:9.5:1 b:9.50:1 a:11:1"), BOOK_BREAK);
	cr_assert_eq(stats(b).malformed, 3);
	book_free(b);
}

Test(book, snapshot_older_than_buffered_diffs)
{
	struct book *b = book_new("BTCUSDT", 8);

	cr_assert_eq(feed(b, 200, 205, 199, "b:1:1"), BOOK_OK);
	cr_assert_eq(feed(b, 206, 210, 205, "b:1:2"), BOOK_OK);
	cr_assert_eq(snap(b, 150, 1000, "b:1:5 a:2:1"), BOOK_BREAK);
	cr_assert_not(book_synced(b));
	cr_assert_eq(stats(b).nbuffered, 2);
	cr_assert_eq(stats(b).breaks, 1);
	cr_assert_eq(snap(b, 207, 1000, "b:1:5 a:2:1"), BOOK_OK);
	cr_assert_eq(book_last_update_id(b), 210);
	cr_assert_eq(stats(b).stale, 1);
	cr_assert_str_eq(top_text(b, 1), "b:1:2 a:2:1");
	book_free(b);
}

Test(book, snapshot_newer_than_buffered_diffs_waits)
{
	struct book *b = book_new("BTCUSDT", 8);

	cr_assert_eq(feed(b, 100, 105, 99, "b:1:1"), BOOK_OK);
	cr_assert_eq(feed(b, 106, 110, 105, "b:1:2"), BOOK_OK);
	cr_assert_eq(snap(b, 120, 1000, "b:1:5 a:2:1"), BOOK_OK);
	cr_assert(book_synced(b));
	cr_assert_eq(book_last_update_id(b), 120);
	cr_assert_eq(stats(b).nbuffered, 0);
	cr_assert_eq(stats(b).stale, 2);
	cr_assert_str_eq(top_text(b, 1), "b:1:5 a:2:1");
	cr_assert_eq(feed(b, 111, 115, 110, "b:1:3"), BOOK_STALE);
	cr_assert_eq(feed(b, 116, 125, 115, "a:2:9"), BOOK_OK);
	cr_assert_eq(feed(b, 126, 130, 125, "b:1:4"), BOOK_OK);
	cr_assert_str_eq(top_text(b, 1), "b:1:4 a:2:9");
	cr_assert_eq(stats(b).breaks, 0);
	book_free(b);
}

Test(book, gap_inside_the_buffer_keeps_the_rest)
{
	struct book *b = book_new("BTCUSDT", 8);

	cr_assert_eq(feed(b, 100, 105, 99, "b:1:1"), BOOK_OK);
	cr_assert_eq(feed(b, 110, 115, 108, "b:1:2"), BOOK_OK);
	cr_assert_eq(feed(b, 116, 120, 115, "b:1:3"), BOOK_OK);
	cr_assert_eq(snap(b, 102, 1000, "b:1:5 a:2:1"), BOOK_BREAK);
	cr_assert_eq(stats(b).nbuffered, 2);
	cr_assert_eq(snap(b, 117, 1000, "b:1:5 a:2:1"), BOOK_OK);
	cr_assert_eq(book_last_update_id(b), 120);
	cr_assert_str_eq(top_text(b, 1), "b:1:3 a:2:1");
	book_free(b);
}

Test(book, buffer_overflow_breaks)
{
	struct book *b = book_new("BTCUSDT", 3);

	cr_assert_eq(feed(b, 1, 2, 0, "b:1:1"), BOOK_OK);
	cr_assert_eq(feed(b, 3, 4, 2, "b:1:1"), BOOK_OK);
	cr_assert_eq(feed(b, 5, 6, 4, "b:1:1"), BOOK_OK);
	cr_assert_eq(feed(b, 7, 8, 6, "b:1:8"), BOOK_BREAK);
	cr_assert_not_null(strstr(book_break_reason(b), "buffer"));
	cr_assert_eq(stats(b).nbuffered, 1);
	cr_assert_eq(stats(b).breaks, 1);
	cr_assert_eq(feed(b, 9, 10, 8, "a:2:8"), BOOK_OK);
	cr_assert_eq(snap(b, 7, 1000, "b:1:5 a:2:1"), BOOK_OK);
	cr_assert_eq(book_last_update_id(b), 10);
	cr_assert_str_eq(top_text(b, 1), "b:1:8 a:2:8");
	book_free(b);
}

Test(book, crossing_diff_breaks)
{
	struct book *b = synced_book();

	cr_assert_eq(feed(b, 102, 102, 101, "b:100.5:1"), BOOK_BREAK);
	cr_assert_not(book_synced(b));
	cr_assert_eq(stats(b).crossed, 1);
	cr_assert_eq(stats(b).nbuffered, 0);
	book_free(b);
	/* crossed only half-way through the diff is fine */
	b = synced_book();
	cr_assert_eq(feed(b, 102, 102, 101, "b:100.5:1 a:100.5:0"), BOOK_OK);
	cr_assert_str_eq(top_text(b, 1), "b:100.5:1 a:101:5");
	book_free(b);
}

Test(book, malformed_levels_break)
{
	static const char *bad[] = { "b:-1:1", "b:abc:1", "b:0:1", "b:0.000:1", "b:1:x", "b:1.:1",
	    "a:.5:1", "a:1:-2", "a:1:1e3", "a:1:1.2.3" };
	struct book *b;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		b = synced_book();
		cr_assert_eq(feed(b, 102, 102, 101, bad[i]), BOOK_BREAK, "%s", bad[i]);
		cr_assert_eq(stats(b).malformed, 1);
		cr_assert_not(book_synced(b));
		book_free(b);
	}
	b = synced_book();
	cr_assert_eq(feed(b, 103, 102, 101, "b:1:1"), BOOK_BREAK);	/* U > u */
	book_free(b);
	b = book_new("BTCUSDT", 4);
	cr_assert_eq(snap(b, 1, 1000, "b:1:0 a:2:1"), BOOK_BREAK);	/* 0 in a snapshot */
	cr_assert_eq(snap(b, 1, 1000, "b:2:1 b:1:1 a:1.5:1"), BOOK_BREAK);	/* crossed */
	cr_assert_eq(snap(b, 1, 1000, "b:2:1 b:1:1 a:2:1"), BOOK_BREAK);	/* locked */
	cr_assert_eq(stats(b).malformed, 3);
	cr_assert_eq(snap(b, 1, 1000, "b:2:1 b:1:1 a:2.5:1"), BOOK_OK);
	book_free(b);
}

Test(book, snapshot_while_synced)
{
	struct book *b = synced_book();

	cr_assert_eq(snap(b, 90, 1000, "b:1:1 a:2:1"), BOOK_STALE);
	cr_assert_eq(snap(b, 101, 1000, "b:1:1 a:2:1"), BOOK_STALE);
	cr_assert_eq(book_last_update_id(b), 101);
	cr_assert_str_eq(top_text(b, 1), "b:100.0:1.5 a:100.5:4");
	cr_assert_eq(snap(b, 150, 1000, "b:1:1 a:2:1"), BOOK_OK);
	cr_assert_eq(book_last_update_id(b), 150);
	cr_assert_str_eq(top_text(b, 3), "b:1:1 a:2:1");
	cr_assert_eq(feed(b, 140, 149, 139, "b:1:3"), BOOK_STALE);
	cr_assert_eq(feed(b, 150, 152, 149, "b:1:4"), BOOK_OK);
	cr_assert_str_eq(top_text(b, 1), "b:1:4 a:2:1");
	cr_assert_eq(stats(b).breaks, 0);
	book_free(b);
}

Test(book, unsync_starts_buffering)
{
	struct book *b = synced_book();

	book_unsync(b);
	cr_assert_not(book_synced(b));
	cr_assert_eq(stats(b).breaks, 0);
	cr_assert_eq(feed(b, 102, 104, 101, "b:99:1"), BOOK_OK);
	cr_assert_eq(stats(b).nbuffered, 1);
	cr_assert_eq(snap(b, 103, 1000, "b:99:2 a:100:1"), BOOK_OK);
	cr_assert_str_eq(top_text(b, 1), "b:99:1 a:100:1");
	book_free(b);
}

Test(book, proven_range_of_a_full_snapshot)
{
	struct book *b = book_new("BTCUSDT", 4);

	/* limit 5: 5 bids is a cut side, 3 asks the whole side */
	cr_assert_eq(snap(b, 10, 5, "b:100:1 b:99:1 b:98:1 b:97:1 b:96:1 a:101:1 a:102:1 a:103:1"),
	    BOOK_OK);
	cr_assert_str_eq(top_text(b, 5),
	    "b:100:1 b:99:1 b:98:1 b:97:1 b:96:1 a:101:1 a:102:1 a:103:1");
	cr_assert_eq(feed(b, 10, 11, 9, "b:100:0"), BOOK_OK);
	cr_assert_str_eq(top_text(b, 5), "-1");
	cr_assert_str_eq(top_text(b, 4), "b:99:1 b:98:1 b:97:1 b:96:1 a:101:1 a:102:1 a:103:1");
	/* below the range: what lies between 95 and 96 was never seen */
	cr_assert_eq(feed(b, 12, 12, 11, "b:95:1"), BOOK_OK);
	cr_assert_eq(stats(b).outside, 1);
	cr_assert_str_eq(top_text(b, 5), "-1");
	cr_assert_eq(feed(b, 13, 13, 12, "b:100.5:2 a:150:1"), BOOK_OK);
	cr_assert_str_eq(top_text(b, 5),
	    "b:100.5:2 b:99:1 b:98:1 b:97:1 b:96:1 a:101:1 a:102:1 a:103:1 a:150:1");
	/* the range's edge itself is known */
	cr_assert_eq(feed(b, 14, 14, 13, "b:96:3"), BOOK_OK);
	cr_assert_str_eq(top_text(b, 5),
	    "b:100.5:2 b:99:1 b:98:1 b:97:1 b:96:3 a:101:1 a:102:1 a:103:1 a:150:1");
	book_free(b);
	/* an unknown limit: both sides are cut */
	b = book_new("BTCUSDT", 4);
	cr_assert_eq(snap(b, 10, 0, "b:100:1 a:101:1"), BOOK_OK);
	cr_assert_str_eq(top_text(b, 1), "b:100:1 a:101:1");
	cr_assert_str_eq(top_text(b, 2), "-1");
	book_free(b);
}

Test(book, level_bound_trims_the_worst)
{
	struct book *b = book_new("BTCUSDT", 4);

	book_max_levels(b, 4);
	cr_assert_eq(snap(b, 10, 1000, "b:10:1 b:9:1 b:8:1 a:11:1"), BOOK_OK);
	cr_assert_eq(feed(b, 10, 11, 9, "b:9.5:1"), BOOK_OK);
	cr_assert_str_eq(top_text(b, 5), "b:10:1 b:9.5:1 b:9:1 b:8:1 a:11:1");
	cr_assert_eq(feed(b, 12, 12, 11, "b:9.75:1"), BOOK_OK);
	cr_assert_eq(stats(b).trimmed, 1);
	cr_assert_eq(stats(b).nbids, 4);
	cr_assert_str_eq(top_text(b, 4), "b:10:1 b:9.75:1 b:9.5:1 b:9:1 a:11:1");
	cr_assert_str_eq(top_text(b, 5), "-1");
	cr_assert_eq(feed(b, 13, 13, 12, "b:8.5:1"), BOOK_OK);	/* below the new range */
	cr_assert_eq(stats(b).outside, 1);
	cr_assert_eq(feed(b, 14, 14, 13, "b:9.1:1"), BOOK_OK);
	cr_assert_eq(stats(b).trimmed, 2);
	cr_assert_str_eq(top_text(b, 4), "b:10:1 b:9.75:1 b:9.5:1 b:9.1:1 a:11:1");
	cr_assert_eq(feed(b, 15, 15, 14, "b:9.05:1"), BOOK_OK);	/* below it again */
	cr_assert_eq(stats(b).outside, 2);
	cr_assert_str_eq(top_text(b, 4), "b:10:1 b:9.75:1 b:9.5:1 b:9.1:1 a:11:1");
	book_free(b);
	/* a whole side at the bound, and a new worst level: that one is left out */
	b = book_new("BTCUSDT", 4);
	book_max_levels(b, 2);
	cr_assert_eq(snap(b, 10, 1000, "b:10:1 b:9:1 a:11:1"), BOOK_OK);
	cr_assert_str_eq(top_text(b, 3), "b:10:1 b:9:1 a:11:1");
	cr_assert_eq(feed(b, 10, 11, 9, "b:8:1"), BOOK_OK);
	cr_assert_eq(stats(b).trimmed, 1);
	cr_assert_str_eq(top_text(b, 2), "b:10:1 b:9:1 a:11:1");
	cr_assert_str_eq(top_text(b, 3), "-1");
	book_free(b);
	/* a snapshot longer than the bound keeps its best */
	b = book_new("BTCUSDT", 4);
	book_max_levels(b, 2);
	cr_assert_eq(snap(b, 10, 1000, "b:10:1 b:9:1 b:8:1 a:11:1"), BOOK_OK);
	cr_assert_str_eq(top_text(b, 2), "b:10:1 b:9:1 a:11:1");
	cr_assert_str_eq(top_text(b, 3), "-1");
	book_free(b);
}

/* ------------------------------------------------------ the random walk */

#define W_TICKS		3000	/* the price window, in ticks of 0.01 */
#define W_BASE		100000	/* tick 0 is 1000.00 */
#define NEAR		300	/* levels are set within this many ticks of the mid */
#define NSEEDS		24
#define NSTEPS		1500

struct rlvl {
	char		 q[EV_DEC];	/* "" when absent */
	char		 p[EV_DEC];	/* the string it was last set with */
};

/* A whole book by tick: the exchange's (now) or the reference (replayed). */
struct rbook {
	struct rlvl	 bid[W_TICKS], ask[W_TICKS];
};

/* One update id: one level set or removed. */
struct upd {
	int64_t		 id;
	int		 ask, tick;
	char		 q[EV_DEC], p[EV_DEC];
};

/* A snapshot as delivered, and what its range is in ticks. */
struct tsnap {
	struct bm_depth_snapshot s;
	int		 limit;
	bool		 bb, ba;	/* bounded sides */
	int		 bound_b, bound_a;
};

/* What the book must answer: the FACTS §3 rules over ids only. */
struct spec {
	int		 st;		/* 0 unsynced, 1 waiting, 2 synced */
	int64_t		 last;
	const struct bm_depth_diff **buf;
	size_t		 nb, max;
};

struct walk {
	uint64_t	 rng;
	struct rbook	*gen, *ref;
	struct upd	*log;
	size_t		 nlog, caplog, replayed;
	int64_t		 id, pu, ref_id;
	int		 mid;
	struct bm_depth_diff *all;	/* every diff made, kept for duplicates */
	size_t		 nall, capall;
	size_t		*net;		/* indices in flight, oldest first */
	size_t		 nnet;
	/* the caller's side */
	int		 depth;
	bool		 small_cap;
	bool		 want_snap, snap_taken;
	int		 snap_wait;
	struct tsnap	 fresh, old, cur;
	bool		 have_old;
	struct spec	 sp;
	struct book	*b;
	uint64_t	 breaks_seen;
};

/* Totals over all seeds: the walk must have met every case. */
static struct {
	uint64_t	 applied, stale, gaps, snap_breaks, overflows, waiting, unprovable,
			 checks, snapshots, trimmed_ok, validated;
} tot;

static uint64_t
rnd(struct walk *w)
{
	w->rng ^= w->rng >> 12;
	w->rng ^= w->rng << 25;
	w->rng ^= w->rng >> 27;
	return (w->rng * 2685821657736338717ULL) >> 11;
}

/* The tick's price, written one of the ways that mean the same number. */
static void
price_str(struct walk *w, int tick, char *out)
{
	int v = W_BASE + tick, ip = v / 100, fp = v % 100;

	switch (rnd(w) % 4) {
	case 2:
		snprintf(out, EV_DEC, "%d.%02d00", ip, fp);
		break;
	case 3:
		if (fp == 0)
			snprintf(out, EV_DEC, "%d", ip);
		else if (fp % 10 == 0)
			snprintf(out, EV_DEC, "%d.%d", ip, fp / 10);
		else
			snprintf(out, EV_DEC, "%d.%02d", ip, fp);
		break;
	default:
		snprintf(out, EV_DEC, "%d.%02d", ip, fp);
	}
}

static void
rbook_set(struct rbook *r, const struct upd *u)
{
	struct rlvl *l = u->ask ? &r->ask[u->tick] : &r->bid[u->tick];
	const char *q;

	for (q = u->q; *q == '0' || *q == '.'; q++)
		;
	if (*q == '\0')
		l->q[0] = '\0';
	else {
		snprintf(l->q, EV_DEC, "%s", u->q);
		snprintf(l->p, EV_DEC, "%s", u->p);
	}
}

/* One update id on the exchange: logged and applied to the exchange's book. */
static void
gen_update(struct walk *w)
{
	struct upd *u;
	uint64_t r = rnd(w) % 100, d;
	bool zero = false;

	if (w->nlog == w->caplog) {
		w->caplog = w->caplog ? w->caplog * 2 : 4096;
		w->log = realloc(w->log, w->caplog * sizeof(*w->log));
		cr_assert_not_null(w->log);
	}
	u = &w->log[w->nlog++];
	w->id += 1 + (rnd(w) % 5 == 0 ? rnd(w) % 3 : 0);
	u->id = w->id;
	if (r < 4 && w->mid + NEAR + 10 < W_TICKS) {
		/* the market moves up: the best ask goes, the mid takes its place */
		u->ask = 1;
		u->tick = w->mid + 1;
		zero = true;
		w->mid++;
	} else if (r < 8 && w->mid - NEAR - 10 > 0) {
		u->ask = 0;
		u->tick = w->mid - 1;
		zero = true;
		w->mid--;
	} else if (r < 92) {
		d = rnd(w) % NEAR;
		d = 1 + d * (rnd(w) % NEAR) / NEAR;	/* most near the top */
		u->ask = rnd(w) & 1;
		u->tick = u->ask ? w->mid + (int)d : w->mid - (int)d;
		zero = r >= 70;
	} else {
		/* anywhere: a far level goes, or an absent one is removed */
		u->tick = rnd(w) % W_TICKS;
		u->ask = w->gen->ask[u->tick].q[0] != '\0' ||
		    (w->gen->bid[u->tick].q[0] == '\0' && u->tick > w->mid);
		zero = true;
	}
	if (zero)
		snprintf(u->q, EV_DEC, "%s", rnd(w) & 1 ? "0" : "0.000");
	else {
		d = 1 + rnd(w) % 5000;
		snprintf(u->q, EV_DEC, "%d.%03d", (int)(d / 1000), (int)(d % 1000));
	}
	price_str(w, u->tick, u->p);
	rbook_set(w->gen, u);
}

/* The exchange's book now, as GET /fapi/v1/depth?limit=… would give it. */
static void
take_snapshot(struct walk *w, struct tsnap *t)
{
	static const int limits[] = { 20, 50, 100, 500, 1000 };
	struct ev_level *lv;
	size_t n = 0;
	int tick, nb = 0, na = 0;

	free(t->s.levels);
	memset(t, 0, sizeof(*t));
	t->limit = limits[rnd(w) % 5];
	lv = calloc(2 * t->limit, sizeof(*lv));
	cr_assert_not_null(lv);
	for (tick = W_TICKS - 1; tick >= 0 && nb < t->limit; tick--)
		if (w->gen->bid[tick].q[0]) {
			snprintf(lv[n].price, EV_DEC, "%s", w->gen->bid[tick].p);
			snprintf(lv[n++].qty, EV_DEC, "%s", w->gen->bid[tick].q);
			nb++;
			t->bound_b = tick;
		}
	for (tick = 0; tick < W_TICKS && na < t->limit; tick++)
		if (w->gen->ask[tick].q[0]) {
			snprintf(lv[n].price, EV_DEC, "%s", w->gen->ask[tick].p);
			snprintf(lv[n++].qty, EV_DEC, "%s", w->gen->ask[tick].q);
			na++;
			t->bound_a = tick;
		}
	t->bb = nb == t->limit;
	t->ba = na == t->limit;
	t->s.last_update_id = w->id;
	t->s.event_time = 2000000 + w->id;
	t->s.time = 1900000 + w->id;
	t->s.nbids = nb;
	t->s.nasks = na;
	t->s.levels = lv;
}

static void
tsnap_copy(struct tsnap *dst, const struct tsnap *src)
{
	size_t n = src->s.nbids + src->s.nasks;

	free(dst->s.levels);
	*dst = *src;
	dst->s.levels = malloc((n ? n : 1) * sizeof(*dst->s.levels));
	cr_assert_not_null(dst->s.levels);
	memcpy(dst->s.levels, src->s.levels, n * sizeof(*dst->s.levels));
}

/*
 * One diff: 1..6 update ids, each price once with its final quantity (the
 * later update wins), bids then asks.  A requested snapshot is taken
 * between two of its updates.
 */
static void
gen_diff(struct walk *w)
{
	struct bm_depth_diff *d;
	size_t k = 1 + rnd(w) % 6, first = w->nlog, i, j, n = 0, take = rnd(w) % k;
	int pass;

	for (i = 0; i < k; i++) {
		gen_update(w);
		if (w->want_snap && !w->snap_taken && i == take) {
			take_snapshot(w, &w->fresh);
			w->snap_taken = true;
		}
	}
	/* never moved: the spec's buffer points into it */
	cr_assert_lt(w->nall, w->capall);
	d = &w->all[w->nall++];
	memset(d, 0, sizeof(*d));
	snprintf(d->symbol, sizeof(d->symbol), "BTCUSDT");
	d->levels = calloc(k, sizeof(*d->levels));
	cr_assert_not_null(d->levels);
	for (pass = 0; pass < 2; pass++)
		for (i = first; i < w->nlog; i++) {
			const struct upd *u = &w->log[i];

			if (u->ask != pass)
				continue;
			/* only the last update of a price on this side makes it */
			for (j = i + 1; j < w->nlog; j++)
				if (w->log[j].ask == u->ask && w->log[j].tick == u->tick)
					break;
			if (j < w->nlog)
				continue;
			snprintf(d->levels[n].price, EV_DEC, "%s", u->p);
			snprintf(d->levels[n].qty, EV_DEC, "%s", u->q);
			n++;
			if (pass == 0)
				d->nbids++;
			else
				d->nasks++;
		}
	d->first_update_id = w->log[first].id;
	d->final_update_id = w->id;
	d->prev_final_update_id = w->pu;
	d->event_time = 1000000 + w->id;
	d->time = 900000 + w->id;
	w->pu = w->id;
	w->net[w->nnet++] = w->nall - 1;
}

static enum book_rc
spec_step(struct spec *sp, const struct bm_depth_diff *d)
{
	if (sp->st == 1) {
		if (d->final_update_id < sp->last)
			return BOOK_STALE;
		if (d->first_update_id > sp->last)
			return BOOK_BREAK;
	} else if (d->prev_final_update_id != sp->last)
		return d->final_update_id <= sp->last ? BOOK_STALE : BOOK_BREAK;
	sp->st = 2;
	sp->last = d->final_update_id;
	return BOOK_OK;
}

static enum book_rc
spec_diff(struct spec *sp, const struct bm_depth_diff *d)
{
	enum book_rc rc;

	if (sp->st == 0) {
		rc = BOOK_OK;
		if (sp->nb == sp->max) {
			sp->nb = 0;
			rc = BOOK_BREAK;
			tot.overflows++;
		}
		sp->buf[sp->nb++] = d;
		return rc;
	}
	if ((rc = spec_step(sp, d)) == BOOK_BREAK) {
		sp->st = 0;
		sp->last = 0;
		sp->buf[0] = d;
		sp->nb = 1;
	}
	return rc;
}

static enum book_rc
spec_snapshot(struct spec *sp, int64_t L)
{
	size_t i;

	if (sp->st != 0) {
		if (L <= sp->last)
			return BOOK_STALE;
		sp->st = 1;
		sp->last = L;
		return BOOK_OK;
	}
	sp->st = 1;
	sp->last = L;
	for (i = 0; i < sp->nb; i++)
		if (spec_step(sp, sp->buf[i]) == BOOK_BREAK) {
			memmove(sp->buf, sp->buf + i, (sp->nb - i) * sizeof(*sp->buf));
			sp->nb -= i;
			sp->st = 0;
			sp->last = 0;
			tot.snap_breaks++;
			return BOOK_BREAK;
		}
	sp->nb = 0;
	return BOOK_OK;
}

static void
request_snapshot(struct walk *w)
{
	if (w->want_snap)
		return;
	w->want_snap = true;
	w->snap_taken = false;
	/* now and then the answer is slow enough for the buffer to fill */
	w->snap_wait = rnd(w) % 10 == 0 ? 20 + rnd(w) % 30 : (int)(rnd(w) % 4);
}

/*
 * The book against the reference replayed to the book's update id: the
 * same top N, level by level, or -1 exactly when the snapshot's range
 * cannot prove it.  A book that cannot is resynced, as the worker does.
 */
static void
check(struct walk *w)
{
	static struct ev_level into[2 * EV_BOOK_LEVELS_MAX];
	const char *err = NULL;
	struct event ev;
	struct book_stats st;
	const struct rlvl *want[2][EV_BOOK_LEVELS_MAX];
	int nw[2] = { 0, 0 }, tick, rc, i, s;
	bool exp_ok = true;
	int64_t x;

	if (!book_synced(w->b)) {
		cr_assert_eq(w->sp.st, 0);
		cr_assert_eq(book_top(w->b, w->depth, &ev, NULL), -1);
		return;
	}
	cr_assert_neq(w->sp.st, 0);
	x = book_last_update_id(w->b);
	cr_assert_eq(x, w->sp.last);
	cr_assert_geq(x, w->ref_id, "the book went back from %" PRId64 " to %" PRId64, w->ref_id, x);
	while (w->replayed < w->nlog && w->log[w->replayed].id <= x)
		rbook_set(w->ref, &w->log[w->replayed++]);
	w->ref_id = x;
	if (w->sp.st == 1)
		tot.waiting++;
	for (tick = W_TICKS - 1; tick >= 0 && nw[0] < w->depth; tick--)
		if (w->ref->bid[tick].q[0] && (!w->cur.bb || tick >= w->cur.bound_b))
			want[0][nw[0]++] = &w->ref->bid[tick];
	for (tick = 0; tick < W_TICKS && nw[1] < w->depth; tick++)
		if (w->ref->ask[tick].q[0] && (!w->cur.ba || tick <= w->cur.bound_a))
			want[1][nw[1]++] = &w->ref->ask[tick];
	if ((w->cur.bb && nw[0] < w->depth) || (w->cur.ba && nw[1] < w->depth))
		exp_ok = false;
	memset(&ev, 0, sizeof(ev));
	/* into a caller's array, as the market worker takes its tops */
	memset(into, 0xa5, sizeof(into));
	rc = book_top(w->b, w->depth, &ev, into);
	book_get_stats(w->b, &st);
	tot.checks++;
	if (rc == -1) {
		cr_assert(!exp_ok || (w->small_cap && st.trimmed > 0),
		    "top %d refused at u=%" PRId64 " though the range proves it", w->depth, x);
		tot.unprovable++;
		book_unsync(w->b);
		w->sp.st = 0;
		w->sp.last = 0;
		w->sp.nb = 0;
		request_snapshot(w);
		return;
	}
	cr_assert(exp_ok, "top %d given at u=%" PRId64 " beyond the snapshot's range", w->depth, x);
	if (w->small_cap && st.trimmed > 0)
		tot.trimmed_ok++;
	cr_assert_eq(ev.u.book.last_update_id, x);
	cr_assert_eq(ev.u.book.depth, w->depth);
	cr_assert_eq(ev.u.book.nbids, nw[0], "u=%" PRId64 ": %d bids, want %d", x, ev.u.book.nbids, nw[0]);
	cr_assert_eq(ev.u.book.nasks, nw[1], "u=%" PRId64 ": %d asks, want %d", x, ev.u.book.nasks, nw[1]);
	for (s = 0; s < 2; s++)
		for (i = 0; i < nw[s]; i++) {
			const struct ev_level *l = &ev.u.book.levels[s ? nw[0] + i : i];

			cr_assert_str_eq(l->price, want[s][i]->p, "u=%" PRId64 " %s %d", x,
			    s ? "ask" : "bid", i);
			cr_assert_str_eq(l->qty, want[s][i]->q, "u=%" PRId64 " %s %d (%s)", x,
			    s ? "ask" : "bid", i, l->price);
		}
	if (nw[0] > 0 && nw[1] > 0)
		cr_assert_lt(strtod(ev.u.book.levels[0].price, NULL),
		    strtod(ev.u.book.levels[nw[0]].price, NULL), "crossed at u=%" PRId64, x);
	cr_assert(!book_crossed(w->b));
	/* Published without ev_validate (market.c's publish_cb): every top must pass it. */
	cr_assert_eq(ev.u.book.levels, into);
	ev.recv_us = 1;
	ev_make_id(&ev);
	cr_assert_eq(ev_validate(&ev, &err), 0, "top %d at u=%" PRId64 ": %s", w->depth, x, err);
	tot.validated++;
}

static void
deliver(struct walk *w, size_t idx, bool must_break)
{
	enum book_rc want, rc;

	want = spec_diff(&w->sp, &w->all[idx]);
	rc = book_diff(w->b, &w->all[idx]);
	cr_assert_eq(rc, want, "diff U=%" PRId64 " u=%" PRId64 " pu=%" PRId64 ": %d, want %d (%s)",
	    w->all[idx].first_update_id, w->all[idx].final_update_id,
	    w->all[idx].prev_final_update_id, rc, want, book_break_reason(w->b));
	if (must_break) {
		cr_assert_eq(rc, BOOK_BREAK, "a gap went unnoticed");
		tot.gaps++;
	}
	if (rc == BOOK_BREAK) {
		w->breaks_seen++;
		request_snapshot(w);
	}
	if (rc == BOOK_OK && w->sp.st == 2)
		tot.applied++;
	if (rc == BOOK_STALE)
		tot.stale++;
	check(w);
}

static void
deliver_snapshot(struct walk *w)
{
	const struct tsnap *t = &w->fresh;
	enum book_rc want, rc;

	if (w->have_old && rnd(w) % 10 == 0)
		t = &w->old;	/* a stale answer: older than what was buffered */
	want = spec_snapshot(&w->sp, t->s.last_update_id);
	rc = book_snapshot(w->b, &t->s, t->limit);
	cr_assert_eq(rc, want, "snapshot L=%" PRId64 ": %d, want %d", t->s.last_update_id, rc, want);
	tot.snapshots++;
	w->want_snap = false;
	if (rc == BOOK_OK)
		w->cur = *t;		/* only the range is used */
	if (rc == BOOK_BREAK) {
		w->breaks_seen++;
		request_snapshot(w);
	}
	if (t == &w->fresh && rnd(w) % 4 == 0) {
		tsnap_copy(&w->old, &w->fresh);
		w->have_old = true;
	}
	check(w);
}

static void
walk_seed(uint64_t seed)
{
	struct walk *w;
	struct book_stats st;
	size_t i, idx, nd, step;
	bool must_break = false;
	int64_t drop_last = 0;
	uint64_t r;

	w = calloc(1, sizeof(*w));
	cr_assert_not_null(w);
	w->rng = seed * 0x9e3779b97f4a7c15ULL + 1;
	w->gen = calloc(1, sizeof(*w->gen));
	w->ref = calloc(1, sizeof(*w->ref));
	w->net = calloc(NSTEPS * 4 + 400, sizeof(*w->net));
	w->capall = 300 + NSTEPS;
	w->all = calloc(w->capall, sizeof(*w->all));
	cr_assert(w->gen && w->ref && w->net && w->all);
	w->mid = W_TICKS / 2;
	w->id = 1000 * seed;
	w->pu = w->id;
	w->depth = (int[]){ 5, 10, 20 }[rnd(w) % 3];
	w->sp.max = 4 + rnd(w) % 30;
	w->sp.buf = calloc(w->sp.max, sizeof(*w->sp.buf));
	w->b = book_new("BTCUSDT", w->sp.max);
	cr_assert(w->sp.buf && w->b);
	if (seed % 4 == 3) {
		w->small_cap = true;
		book_max_levels(w->b, 40 + rnd(w) % 40);
	}
	/* the market before we connect */
	for (i = 0; i < 300; i++)
		gen_diff(w);
	w->nnet = 0;
	request_snapshot(w);
	for (step = 0; step < NSTEPS; step++) {
		gen_diff(w);
		nd = w->nnet > 6 ? 2 : rnd(w) % 3;
		while (nd-- > 0 && w->nnet > 0) {
			idx = w->net[0];
			memmove(w->net, w->net + 1, --w->nnet * sizeof(*w->net));
			/* faults while buffering too: the spec says what they cost */
			r = rnd(w) % 1000;
			if (r < 15) {
				/* lost: the next diff to reach this same synced book must break it */
				if (w->sp.st == 2) {
					must_break = true;
					drop_last = w->sp.last;
				}
				continue;
			}
			if (must_break && (w->sp.st != 2 || w->sp.last != drop_last))
				must_break = false;	/* resynced since: no longer a gap */
			if (r < 30 && w->nnet > 0) {
				/* the next one overtakes it */
				size_t idx2 = w->net[0];

				memmove(w->net, w->net + 1, --w->nnet * sizeof(*w->net));
				deliver(w, idx2, w->sp.st == 2);
				deliver(w, idx, false);
				must_break = false;
				continue;
			}
			deliver(w, idx, must_break);
			must_break = false;
			if (r < 45)
				deliver(w, idx, false);		/* twice */
		}
		if (w->want_snap && w->snap_taken && w->snap_wait-- <= 0)
			deliver_snapshot(w);
	}
	book_get_stats(w->b, &st);
	cr_assert_eq(st.breaks, w->breaks_seen);
	cr_assert_eq(st.crossed, 0);
	cr_assert_eq(st.malformed, 0);
	book_free(w->b);
	for (i = 0; i < w->nall; i++)
		free(w->all[i].levels);
	free(w->all);
	free(w->log);
	free(w->net);
	free(w->sp.buf);
	free(w->fresh.s.levels);
	free(w->old.s.levels);
	free(w->gen);
	free(w->ref);
	free(w);
}

Test(book, random_walk_matches_the_reference)
{
	uint64_t seed;

	memset(&tot, 0, sizeof(tot));
	for (seed = 1; seed <= NSEEDS; seed++)
		walk_seed(seed);
	fprintf(stderr, "book walk: %d seeds x %d steps: %" PRIu64 " checks, %" PRIu64
	    " applied, %" PRIu64 " stale, %" PRIu64 " gaps, %" PRIu64 " snapshots (%" PRIu64
	    " broke), %" PRIu64 " overflows, %" PRIu64 " waiting, %" PRIu64 " unprovable, %"
	    PRIu64 " exact after trimming, %" PRIu64 " tops through ev_validate\n", NSEEDS, NSTEPS,
	    tot.checks, tot.applied, tot.stale, tot.gaps, tot.snapshots, tot.snap_breaks,
	    tot.overflows, tot.waiting, tot.unprovable, tot.trimmed_ok, tot.validated);
	/* the walk met every case */
	cr_assert_gt(tot.applied, 10000);
	cr_assert_gt(tot.stale, 50);
	cr_assert_gt(tot.gaps, 50);
	cr_assert_gt(tot.snap_breaks, 5);
	cr_assert_gt(tot.overflows, 5);
	cr_assert_gt(tot.waiting, 50);
	cr_assert_gt(tot.unprovable, 20);
	cr_assert_gt(tot.trimmed_ok, 50);
	cr_assert_gt(tot.validated, 10000);
}

/* ------------------------------------------------------------- speed */

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);	/* CPU time: the host is shared */
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/*
 * Not a timed test: prints what one applied diff costs on a book of 1000
 * levels a side (3 levels a diff, within 100 ticks of the top, one in five
 * a removal), and what a top 20 costs.
 */
Test(book, speed)
{
	enum { NLEV = 1000, NDIFF = 200000, PER = 3 };
	struct bm_depth_snapshot s;
	struct bm_depth_diff *d;
	struct book *b;
	struct event ev;
	struct walk rw = { .rng = 42 };
	int64_t t0, t1, t2, t3, last;
	size_t i, j;

	memset(&s, 0, sizeof(s));
	s.last_update_id = 2;
	s.nbids = s.nasks = NLEV;
	s.levels = calloc(2 * NLEV, sizeof(*s.levels));
	d = calloc(NDIFF, sizeof(*d));
	cr_assert(s.levels && d);
	for (i = 0; i < NLEV; i++) {
		/* bids 50000.00 down, asks 50000.10 up, a tick of 0.10 */
		snprintf(s.levels[i].price, EV_DEC, "%d.%d0", (500000 - (int)i) / 10,
		    (500000 - (int)i) % 10);
		snprintf(s.levels[NLEV + i].price, EV_DEC, "%d.%d0", (500001 + (int)i) / 10,
		    (500001 + (int)i) % 10);
		snprintf(s.levels[i].qty, EV_DEC, "1.000");
		snprintf(s.levels[NLEV + i].qty, EV_DEC, "1.000");
	}
	for (i = 0; i < NDIFF; i++) {
		d[i].first_update_id = 2 + 2 * i;
		d[i].final_update_id = 3 + 2 * i;
		d[i].prev_final_update_id = i ? 1 + 2 * i : 1;
		d[i].levels = calloc(PER, sizeof(*d[i].levels));
		cr_assert_not_null(d[i].levels);
		d[i].nbids = rnd(&rw) % (PER + 1);	/* bids first, as a frame has them */
		d[i].nasks = PER - d[i].nbids;
		for (j = 0; j < PER; j++) {
			int ask = j >= d[i].nbids, off = rnd(&rw) % 100;
			int v = ask ? 500001 + off : 500000 - off;

			snprintf(d[i].levels[j].price, EV_DEC, "%d.%d0", v / 10, v % 10);
			if (rnd(&rw) % 5 == 0)
				snprintf(d[i].levels[j].qty, EV_DEC, "0");
			else
				snprintf(d[i].levels[j].qty, EV_DEC, "%d.%03d",
				    1 + (int)(rnd(&rw) % 10), (int)(rnd(&rw) % 1000));
		}
	}
	b = book_new("BTCUSDT", 16);
	cr_assert_eq(book_snapshot(b, &s, 1000), BOOK_OK);
	cr_assert_eq(book_diff(b, &d[0]), BOOK_OK);
	t0 = now_ns();
	for (i = 1; i < NDIFF; i++)
		if (book_diff(b, &d[i]) != BOOK_OK)
			cr_assert_fail("diff %zu: %s", i, book_break_reason(b));
	t1 = now_ns();
	/* the same work on diffs still in cache, as a parser's fresh output is */
	last = d[NDIFF - 1].final_update_id;
	for (i = 0; i < NDIFF; i++) {
		struct bm_depth_diff *h = &d[i % 512];

		h->prev_final_update_id = last;
		h->first_update_id = last + 1;
		h->final_update_id = last += 2;
		if (book_diff(b, h) != BOOK_OK)
			cr_assert_fail("hot diff %zu: %s", i, book_break_reason(b));
	}
	t3 = now_ns();
	cr_assert_eq(stats(b).breaks, 0);
	cr_assert_gt(stats(b).nbids, 900);
	cr_assert_gt(stats(b).nasks, 900);
	for (i = 0; i < 10000; i++) {
		cr_assert_eq(book_top(b, 20, &ev, NULL), 0);
		free(ev.u.book.levels);
	}
	t2 = now_ns();
	fprintf(stderr, "book speed (CPU time): %.0f ns per applied diff (%d levels each, ~%d "
	    "levels a side; %.0f ns when the diff is in cache), %.0f ns per top 20\n",
	    (double)(t1 - t0) / (NDIFF - 1), PER, NLEV, (double)(t3 - t1) / NDIFF,
	    (double)(t2 - t3) / 10000);
	book_free(b);
	for (i = 0; i < NDIFF; i++)
		free(d[i].levels);
	free(d);
	free(s.levels);
}
