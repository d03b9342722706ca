/*
 * binance_market.h: Binance USDⓈ-M futures public market data, JSON → events
 * (FACTS §3: routes, stream names, payloads; REST /fapi/v1/klines,
 * /fapi/v1/depth, /fapi/v1/exchangeInfo).
 *
 * Read with jtok (jtok.h: what jansson's json_loadb accepts, exact 64-bit
 * integers, case-sensitive keys, no key twice), without building a tree;
 * a text of more than 2,097,152 values and keys is refused as not JSON.
 * Nothing here does I/O or keeps state between calls (the tokenizer's
 * arrays are reused from call to call, nothing else): a funding change
 * (EV_FUNDING) and the local order book are the market worker's.  Not
 * thread-safe.  One bad value costs only its own event: each event is
 * built and checked (ev_validate) alone; one that fails is dropped and
 * counted in struct bf_drops (binance_futures.h).
 *
 * Market events carry account_id = user_id = 0, exchange "binance-futures",
 * event_time = E, recv_us = the caller's.
 */
#ifndef EXFEEDD_BINANCE_MARKET_H
#define EXFEEDD_BINANCE_MARKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "binance_futures.h"
#include "event.h"

/* Stream kinds the market worker can subscribe to (FACTS §3). */
enum bm_kind {
	BM_KLINE,		/* <s>@kline_<i> */
	BM_MARK_PRICE,		/* <s>@markPrice[@1s] */
	BM_TICKER,		/* <s>@ticker */
	BM_MINI_TICKER,		/* <s>@miniTicker */
	BM_TRADE,		/* <s>@trade (undocumented for USDⓈ-M, served on /public) */
	BM_AGG_TRADE,		/* <s>@aggTrade */
	BM_DEPTH,		/* <s>@depth[@500ms|@100ms], diffs for a local book */
	BM_PARTIAL_DEPTH,	/* <s>@depth<5|10|20>[@500ms|@100ms] */
	BM_BOOK_TICKER,		/* <s>@bookTicker */
	BM_FORCE_ORDER,		/* <s>@forceOrder */
	BM_KIND_MAX
};

enum bm_route { BM_ROUTE_PUBLIC, BM_ROUTE_MARKET };

/* The 15 USDⓈ-M kline intervals (FACTS §3), in ascending length: "1m" .. "1M". */
extern const char *const bm_intervals[15];
/*
 * An interval's index in bm_intervals, or -1 (case matters: "1M" is a
 * month, "1m" a minute).
 */
int	 bm_interval_index(const char *);
/*
 * The open time (ms, UTC) of the candle of interval index iv that holds
 * time t_ms, and of the one after it (months are calendar months, weeks
 * start on Monday 00:00 UTC, as Binance's candles do; every other interval,
 * 3d included, is a grid from 1970-01-01 00:00 UTC, as tools/exsim makes
 * it).  Any int64 time; results past the int64 range are clamped to it.
 * -1 for an iv outside 0..14.
 */
int64_t	 bm_candle_open(int iv, int64_t t_ms);
int64_t	 bm_candle_next(int iv, int64_t open_ms);

/*
 * The route that serves a kind (FACTS §3: /public for depth, partial
 * depth, bookTicker, trade; /market for the rest).  A stream on the wrong
 * route is acknowledged by the exchange but never delivers.
 */
enum bm_route bm_kind_route(enum bm_kind);

/*
 * A stream name, lower-case symbol: bm_stream_name(BM_KLINE, "BTCUSDT",
 * "1m", out) → "btcusdt@kline_1m"; speed is the suffix for kinds that take
 * one ("1s" for markPrice; "100ms"/"500ms" for depth kinds; "" default);
 * for BM_PARTIAL_DEPTH levels is 5, 10 or 20, else ignored.  The length
 * written, or -1 if it does not fit.
 */
int	 bm_stream_name(enum bm_kind, const char *symbol, const char *interval_or_speed,
	    int levels, char *out, size_t outlen);

/*
 * A depth diff (depthUpdate on <s>@depth…): the local book's input.
 * Prices and quantities canonical decimals (ev_decimal); a quantity of 0
 * removes the level.
 */
struct bm_depth_diff {
	char		 symbol[EV_SYM];
	int64_t		 event_time;		/* E */
	int64_t		 time;			/* T */
	int64_t		 first_update_id;	/* U */
	int64_t		 final_update_id;	/* u */
	int64_t		 prev_final_update_id;	/* pu */
	size_t		 nbids, nasks;
	struct ev_level	*levels;		/* nbids then nasks, in frame order, malloc'd */
};
/*
 * Release a diff bm_frame_parse filled: its levels array is kept for the
 * next diff (one array, of at most 1024 levels), or freed.
 */
void	 bm_depth_diff_free(struct bm_depth_diff *);

/* What one frame was. */
enum bm_frame_kind {
	BMF_EVENTS,		/* market events, emitted */
	BMF_DEPTH_DIFF,		/* *diff filled (caller frees) */
	BMF_ANSWER,		/* {"result":…,"id":N}: *answer_id; result null = ok */
	BMF_ERROR,		/* {"error":{"code","msg"},"id":N|null} or {"code","msg"}: answer_id (-1 if none), error_code, why = msg */
};

struct bm_frame {
	enum bm_frame_kind kind;
	char		 stream[64];		/* the combined envelope's stream name, "" for raw */
	int64_t		 answer_id;
	int		 error_code;
	char		 why[160];
	int		 nevents;		/* BMF_EVENTS: how many were emitted */
	struct bm_depth_diff diff;		/* BMF_DEPTH_DIFF */
};

/*
 * Parse one frame from a market connection, combined
 * ({"stream":"<name>","data":<object or array>}) or raw, and emit its
 * events: kline → EV_KLINE; markPriceUpdate → EV_MARK_PRICE (one per
 * element for !markPrice@arr); 24hrTicker / 24hrMiniTicker → EV_TICKER
 * (EVF_MINI); trade → EV_TRADE, aggTrade → EV_TRADE with EVF_AGG (a trade
 * with a zero price is a "spent" id, FACTS §3: dropped and counted in
 * drops->zero_price, not an error); depthUpdate on a partial stream
 * (named <s>@depth5/10/20…, or with no envelope and a caller's hint) →
 * EV_BOOK with EVF_PARTIAL, on a diff stream → BMF_DEPTH_DIFF;
 * bookTicker → EV_BOOK_TICKER; forceOrder → EV_LIQUIDATION.
 * partial_hint: for raw frames, whether depthUpdate is partial (the
 * stream's name decides in the envelope); a raw partial frame's depth is
 * the smallest of 5, 10 and 20 that holds both sides.  A partial book's
 * levels are put best first (Binance's example lists bids lowest first);
 * a price twice on a side, a crossed book, a quantity of 0 or more levels
 * than the stream's N drop it.  An array payload's elements are events
 * each: one that is not an object, has no known "e" or is a depthUpdate is
 * dropped and counted alone.
 * 0 with *f filled, or -1 with *err (not JSON, not an object or array,
 * no/unknown "e", bad envelope, a malformed answer, or a depth diff that
 * cannot be read whole: any of its fields or levels, more than 5000 levels
 * a side, u below U): the frame is counted as malformed.  f->stream is
 * kept on -1 when the envelope named one.
 */
struct bm_drops {
	struct bf_drops	 d;
	unsigned	 zero_price;
};
int	 bm_frame_parse(const char *buf, size_t len, int64_t recv_us, bool partial_hint,
	    ev_emit_fn, void *arg, struct bm_frame *f, struct bm_drops *drops, const char **err);

/*
 * GET /fapi/v1/klines body (an array of arrays: [t, o, h, l, c, v, T, q, n,
 * V, Q, ignore]) → one EV_KLINE per row, flagged EVF_RESYNC, closed =
 * (T < now_ms), first/last trade ids -1, event_time = T + 1 for closed
 * rows and now_ms for the open one.  A row that cannot be read (fewer than
 * 11 members, a wrong type, T before t) is dropped and counted alone.
 * Returns the number of rows emitted, or -1 with *err if the body is not
 * such an array, has more than 1500 rows (Binance's largest limit), or
 * symbol or interval is not one.
 */
int	 bm_klines_parse(const char *body, size_t len, const char *symbol, const char *interval,
	    int64_t now_ms, int64_t recv_us, ev_emit_fn, void *arg, struct bf_drops *,
	    const char **err);
/*
 * Weight of GET /fapi/v1/klines by limit (Binance "Kline/Candlestick
 * Data": [1,100) 1, [100,500) 2, [500,1000] 5, > 1000 10); -1 for a limit
 * outside Binance's 1 to 1500.
 */
int	 bm_klines_weight(int limit);

/*
 * GET /fapi/v1/depth body → snapshot: lastUpdateId, E and T (0 when
 * absent), bids and asks put best first.  0, or -1 with *err (and nothing
 * allocated) if anything is wrong: no lastUpdateId, a level that is not a
 * [price, quantity] pair of decimal strings, a price not positive, a
 * quantity not positive, a price twice on a side, more than 1000 levels
 * a side, a crossed book.
 */
struct bm_depth_snapshot {
	int64_t		 last_update_id;
	int64_t		 event_time, time;
	size_t		 nbids, nasks;
	struct ev_level	*levels;		/* nbids (best first) then nasks (best first) */
};
int	 bm_depth_snapshot_parse(const char *body, size_t len, struct bm_depth_snapshot *,
	    const char **err);
void	 bm_depth_snapshot_free(struct bm_depth_snapshot *);
/*
 * Weight of GET /fapi/v1/depth by limit (Binance "Order Book": 5, 10, 20,
 * 50 → 2; 100 → 5; 500 → 10; 1000 → 20); limit must be one of
 * 5 10 20 50 100 500 1000, else -1.
 */
int	 bm_depth_weight(int limit);

/*
 * GET /fapi/v1/exchangeInfo body → the symbols whose status is TRADING
 * (every contract type), as a malloc'd array of malloc'd upper-case names.
 * Rows that cannot be read (not an object, no status, a symbol that is
 * not one, a symbol listed twice) are skipped and counted in *drops (may
 * be NULL).  Returns the count, or -1 with *err (and *symbols NULL).
 */
int	 bm_exchange_info_symbols(const char *body, size_t len, char ***symbols,
	    struct bf_drops *drops, const char **err);
void	 bm_symbols_free(char **, int n);

#endif
