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
	if (book_top(b, n, &ev) == -1)
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
	cr_assert_eq(book_top(b, 3, &ev), 0);
	cr_assert_eq(ev.u.book.last_update_id, 100);
	cr_assert_eq(ev.u.book.time, 4100);
	cr_assert_eq(ev.event_time, 5100);
	cr_assert_eq(ev.u.book.nbids, 1);
	cr_assert_eq(ev.u.book.nasks, 1);
	free(ev.u.book.levels);
	cr_assert_eq(feed(b, 99, 104, 98, "a:3:1"), BOOK_OK);
	cr_assert_eq(book_top(b, 3, &ev), 0);
	cr_assert_eq(ev.u.book.last_update_id, 104);
	cr_assert_eq(ev.u.book.time, 1004);
	cr_assert_eq(ev.event_time, 1104);
	free(ev.u.book.levels);
	cr_assert_eq(book_top(b, 0, &ev), -1);
	cr_assert_eq(book_top(b, EV_BOOK_LEVELS_MAX + 1, &ev), -1);
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
