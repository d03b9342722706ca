/*
 * event.h: the normalized, exchange-agnostic event.
 *
 * An exchange adapter turns one frame (or one REST snapshot row) into one or
 * more events; account workers send them to the writer over the data plane
 * (ipc.h: IPC_DP_*), the writer upserts them and keeps them in event_log.
 * Decimal values stay the exchange's decimal strings: they go to PostgreSQL
 * numeric columns unchanged, so nothing is ever rounded through a double.
 *
 * Every event has a deterministic id (ev_make_id): the same exchange fact,
 * whether received live, again after a reconnect overlap, or fetched by a
 * REST resync, gets the same id, so event_log dedupes it.
 */
#ifndef EXFEEDD_EVENT_H
#define EXFEEDD_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#define EV_DEC		40	/* decimal string, NUL included */
#define EV_SYM		32	/* symbol or asset */
#define EV_WORD		24	/* enum-like exchange words: BUY, GTC, LIMIT, ... */
#define EV_CID		48	/* client order id */
#define EV_ID		112	/* event id */

enum ev_type {
	EV_TYPE_NONE = 0,
	EV_ORDER,		/* order state (ORDER_TRADE_UPDATE, REST order) */
	EV_FILL,		/* one trade (x=TRADE, TRADE_LITE, REST userTrades) */
	EV_ALGO,		/* conditional order state (ALGO_UPDATE, REST openAlgoOrders) */
	EV_POSITION,		/* one position (ACCOUNT_UPDATE a.P[], REST positionRisk) */
	EV_BALANCE,		/* one asset balance (ACCOUNT_UPDATE a.B[], REST balance) */
	EV_MARGIN_CALL,		/* one position at risk (MARGIN_CALL p[]) */
	EV_CONFIG,		/* leverage of a symbol, or multi-assets mode */
	EV_UNKNOWN,		/* an event type we do not model: kept raw */
	EV_GAP,			/* an account's gap opened or healed (DESIGN §3.4): not an exchange fact */
	/*
	 * Market data (public streams, FACTS §3; account_id = user_id = 0).
	 * Not kept in event_log: the writer upserts closed klines into
	 * `klines`, publishes every market event to its websocket.* topic
	 * (key = symbol) and acks it.
	 */
	EV_KLINE,		/* <s>@kline_<i> k{}, or a REST /fapi/v1/klines row */
	EV_MARK_PRICE,		/* markPriceUpdate */
	EV_FUNDING,		/* funding rate or next funding time changed (from markPriceUpdate) */
	EV_TICKER,		/* 24hrTicker, or 24hrMiniTicker with EVF_MINI */
	EV_TRADE,		/* trade, or aggTrade with EVF_AGG; zero-priced trades never become one */
	EV_BOOK,		/* top-N of a local order book, or a partial depth frame with EVF_PARTIAL */
	EV_BOOK_TICKER,		/* bookTicker */
	EV_LIQUIDATION,		/* forceOrder o{} */
	EV_TYPE_MAX
};

/* Flags. */
#define EVF_RESYNC	0x01	/* produced by a REST resync, not the stream */
#define EVF_LITE	0x02	/* EV_FILL from TRADE_LITE: fee, pnl, position side unknown */
#define EVF_MINI	0x04	/* EV_TICKER from 24hrMiniTicker: only c o h l v q (+ times) */
#define EVF_AGG		0x08	/* EV_TRADE from aggTrade: trade_id is the agg id a, f..l the trades */
#define EVF_PARTIAL	0x10	/* EV_BOOK straight from a <s>@depth<N> frame, not a local book */

/* Is this a market data type (EV_KLINE .. EV_LIQUIDATION)? */
#define EV_IS_MARKET(t)	((t) >= EV_KLINE && (t) < EV_TYPE_MAX)

struct ev_order {
	int64_t		 order_id;
	char		 symbol[EV_SYM];
	char		 client_id[EV_CID];
	char		 side[EV_WORD];		/* S */
	char		 position_side[EV_WORD];/* ps */
	char		 type[EV_WORD];		/* o */
	char		 orig_type[EV_WORD];	/* ot */
	char		 tif[EV_WORD];		/* f */
	char		 exec_type[EV_WORD];	/* x; "RESYNC" for REST rows */
	char		 status[EV_WORD];	/* X */
	char		 price[EV_DEC];		/* p */
	char		 avg_price[EV_DEC];	/* ap */
	char		 stop_price[EV_DEC];	/* sp */
	char		 orig_qty[EV_DEC];	/* q */
	char		 filled_qty[EV_DEC];	/* z, cumulative */
	bool		 reduce_only;		/* R */
	bool		 close_position;	/* cp */
	int64_t		 update_time;		/* o.T, REST updateTime */
};

struct ev_fill {
	int64_t		 trade_id;		/* t */
	int64_t		 order_id;		/* i */
	char		 symbol[EV_SYM];
	char		 side[EV_WORD];
	char		 position_side[EV_WORD];/* "" when EVF_LITE */
	char		 price[EV_DEC];		/* L */
	char		 qty[EV_DEC];		/* l */
	char		 fee[EV_DEC];		/* n; "" when EVF_LITE */
	char		 fee_asset[EV_SYM];	/* N; "" when EVF_LITE */
	char		 realized_pnl[EV_DEC];	/* rp; "" when EVF_LITE */
	bool		 maker;			/* m */
	int64_t		 time;			/* T */
};

struct ev_algo {
	int64_t		 algo_id;		/* aid */
	char		 client_id[EV_CID];	/* caid */
	char		 algo_type[EV_WORD];	/* at */
	char		 type[EV_WORD];		/* o */
	char		 symbol[EV_SYM];
	char		 side[EV_WORD];
	char		 position_side[EV_WORD];
	char		 tif[EV_WORD];
	char		 qty[EV_DEC];		/* q */
	char		 status[EV_WORD];	/* X */
	char		 actual_order_id[EV_WORD];/* ai */
	char		 avg_price[EV_DEC];	/* ap */
	char		 filled_qty[EV_DEC];	/* aq; "" when unknown */
	char		 trigger_price[EV_DEC];	/* tp */
	char		 price[EV_DEC];		/* p */
	bool		 reduce_only;		/* R */
	bool		 close_position;	/* cp */
	char		 reject_reason[64];	/* rm; "" when unknown (REST rows carry none) */
	int64_t		 update_time;		/* T */
};

struct ev_position {
	char		 symbol[EV_SYM];
	char		 position_side[EV_WORD];
	char		 amount[EV_DEC];	/* pa */
	char		 entry_price[EV_DEC];	/* ep */
	char		 breakeven_price[EV_DEC];/* bep */
	char		 unrealized_pnl[EV_DEC];/* up */
	char		 margin_type[EV_WORD];	/* mt, lower case: cross / isolated */
	char		 isolated_wallet[EV_DEC];/* iw */
	char		 margin_asset[EV_SYM];	/* ma */
	int64_t		 update_time;		/* T, REST updateTime */
};

struct ev_balance {
	char		 asset[EV_SYM];
	char		 wallet[EV_DEC];	/* wb */
	char		 cross_wallet[EV_DEC];	/* cw */
	char		 change[EV_DEC];	/* bc */
	char		 reason[EV_WORD];	/* a.m; "RESYNC" for REST rows */
	int64_t		 update_time;
};

struct ev_margin_call {
	char		 cross_wallet[EV_DEC];	/* cw; "" when absent (isolated calls, FACTS §1.3) */
	char		 symbol[EV_SYM];	/* "" if p[] is empty */
	char		 position_side[EV_WORD];
	char		 amount[EV_DEC];
	char		 margin_type[EV_WORD];
	char		 isolated_wallet[EV_DEC];
	char		 mark_price[EV_DEC];
	char		 unrealized_pnl[EV_DEC];
	char		 maint_margin[EV_DEC];
};

struct ev_config {
	char		 symbol[EV_SYM];	/* "" for the account-wide multi-assets mode */
	int		 leverage;		/* -1: not part of this change */
	int		 multi_assets;		/* -1 not part, 0 off, 1 on */
	int64_t		 update_time;
};

struct ev_unknown {
	char		 name[EV_CID];		/* the exchange's event type (e) */
	char		*raw;			/* the whole frame, malloc'd, owned */
};

/* Market data.  Field letters are Binance's (FACTS §3); "" = absent. */
#define EV_INTERVAL	4	/* "1m" .. "12h", "1d", "3d", "1w", "1M"; NUL included */

struct ev_kline {
	char		 symbol[EV_SYM];
	char		 interval[EV_INTERVAL];	/* i; case matters: 1m minute, 1M month */
	int64_t		 open_time;		/* t, ms */
	int64_t		 close_time;		/* T, ms (open_time + interval - 1) */
	int64_t		 first_trade_id;	/* f; -1 when none/unknown (REST rows) */
	int64_t		 last_trade_id;		/* L; -1 when none/unknown */
	char		 open[EV_DEC];		/* o */
	char		 high[EV_DEC];		/* h */
	char		 low[EV_DEC];		/* l */
	char		 close[EV_DEC];		/* c */
	char		 volume[EV_DEC];	/* v, base asset */
	char		 quote_volume[EV_DEC];	/* q */
	char		 taker_buy_volume[EV_DEC];	/* V */
	char		 taker_buy_quote_volume[EV_DEC];/* Q */
	int64_t		 trades;		/* n */
	bool		 closed;		/* x; REST rows: close_time < the server's time */
};

struct ev_mark_price {
	char		 symbol[EV_SYM];
	char		 mark_price[EV_DEC];	/* p */
	char		 mark_price_avg[EV_DEC];/* ap (since 2026-03-16); "" when absent */
	char		 index_price[EV_DEC];	/* i */
	char		 settle_price[EV_DEC];	/* P, estimated settle price */
	char		 funding_rate[EV_DEC];	/* r; "" for delivery contracts */
	int64_t		 next_funding_time;	/* T, ms; 0 when absent */
};

struct ev_funding {
	char		 symbol[EV_SYM];
	char		 funding_rate[EV_DEC];	/* r */
	int64_t		 next_funding_time;	/* T, ms */
	char		 mark_price[EV_DEC];	/* p, at the change */
};

struct ev_ticker {
	char		 symbol[EV_SYM];
	char		 price_change[EV_DEC];	/* p; "" with EVF_MINI */
	char		 price_change_pct[EV_DEC];	/* P; "" with EVF_MINI */
	char		 weighted_avg_price[EV_DEC];	/* w; "" with EVF_MINI */
	char		 last_price[EV_DEC];	/* c */
	char		 last_qty[EV_DEC];	/* Q; "" with EVF_MINI */
	char		 open[EV_DEC];		/* o */
	char		 high[EV_DEC];		/* h */
	char		 low[EV_DEC];		/* l */
	char		 volume[EV_DEC];	/* v */
	char		 quote_volume[EV_DEC];	/* q */
	int64_t		 open_time;		/* O; 0 with EVF_MINI */
	int64_t		 close_time;		/* C; 0 with EVF_MINI */
	int64_t		 first_trade_id;	/* F; -1 with EVF_MINI */
	int64_t		 last_trade_id;		/* L; -1 with EVF_MINI */
	int64_t		 trades;		/* n; -1 with EVF_MINI */
};

struct ev_trade {
	char		 symbol[EV_SYM];
	int64_t		 trade_id;		/* t; with EVF_AGG the aggregate id a */
	int64_t		 first_trade_id;	/* f with EVF_AGG, else = trade_id */
	int64_t		 last_trade_id;		/* l with EVF_AGG, else = trade_id */
	char		 price[EV_DEC];		/* p, never zero */
	char		 qty[EV_DEC];		/* q (aggTrade: includes RPI orders) */
	char		 normal_qty[EV_DEC];	/* nq (aggTrade, excludes RPI); "" when absent */
	char		 order_type[EV_WORD];	/* X (trade: MARKET, ...); "" when absent */
	bool		 buyer_maker;		/* m */
	int64_t		 time;			/* T, trade time ms */
};

struct ev_level {
	char		 price[EV_DEC];
	char		 qty[EV_DEC];		/* > 0 */
};

#define EV_BOOK_LEVELS_MAX	1000	/* per side; the REST snapshot's largest limit */

/*
 * Order book top-N: bids best (highest) first, then asks best (lowest)
 * first, in one malloc'd array of nbids + nasks levels, owned by the event
 * (ev_clear frees it).  A valid book is never crossed: best bid < best ask,
 * and prices strictly monotonic on each side.
 */
struct ev_book {
	char		 symbol[EV_SYM];
	int64_t		 last_update_id;	/* u of the last diff applied (or the snapshot's lastUpdateId) */
	int64_t		 time;			/* T of that diff, ms (0 for a bare snapshot) */
	uint16_t	 depth;			/* N asked for (the config's book depth, or the stream's 5/10/20) */
	uint16_t	 nbids, nasks;		/* <= depth, <= EV_BOOK_LEVELS_MAX */
	struct ev_level	*levels;		/* nbids + nasks, malloc'd, owned */
};

struct ev_book_ticker {
	char		 symbol[EV_SYM];
	int64_t		 update_id;		/* u */
	char		 bid_price[EV_DEC];	/* b */
	char		 bid_qty[EV_DEC];	/* B */
	char		 ask_price[EV_DEC];	/* a */
	char		 ask_qty[EV_DEC];	/* A */
	int64_t		 time;			/* T, ms */
};

struct ev_liquidation {
	char		 symbol[EV_SYM];	/* o.s */
	char		 side[EV_WORD];		/* o.S */
	char		 order_type[EV_WORD];	/* o.o */
	char		 tif[EV_WORD];		/* o.f */
	char		 orig_qty[EV_DEC];	/* o.q */
	char		 price[EV_DEC];		/* o.p */
	char		 avg_price[EV_DEC];	/* o.ap */
	char		 status[EV_WORD];	/* o.X */
	char		 last_qty[EV_DEC];	/* o.l */
	char		 filled_qty[EV_DEC];	/* o.z */
	int64_t		 time;			/* o.T, ms */
};

/*
 * A gap in an account's stream (DESIGN §3.4).  open: from `since` (the
 * newest exchange time seen before it, ms) events may be missing; `at_us`
 * is when it opened (CLOCK_REALTIME µs).  heal: a resync that began at
 * `at_us` fetched everything from `since` up to `until` (exchange ms); it
 * clears the account's open gaps that opened before it began and start at
 * or after `since`.  The writer records both in account_gaps, in the
 * transaction that commits what came before them on the data plane.
 */
struct ev_gap {
	bool		 heal;
	int64_t		 since;
	int64_t		 at_us;
	int64_t		 until;			/* heal only; 0 for open */
	char		 reason[EV_CID];	/* open: why ("connection lost", ...); heal: "" */
};

struct event {
	uint64_t	 seq;			/* per sending worker, set when queued */
	uint8_t		 type;			/* enum ev_type */
	uint8_t		 flags;			/* EVF_* */
	int64_t		 account_id;
	int64_t		 user_id;
	char		 exchange[EV_WORD];	/* "binance-futures" */
	int64_t		 event_time;		/* E, exchange ms (REST: snapshot time) */
	int64_t		 recv_us;		/* CLOCK_REALTIME µs when the frame arrived */
	char		 id[EV_ID];
	union {
		struct ev_order		order;
		struct ev_fill		fill;
		struct ev_algo		algo;
		struct ev_position	position;
		struct ev_balance	balance;
		struct ev_margin_call	margin_call;
		struct ev_config	config;
		struct ev_unknown	unknown;
		struct ev_gap		gap;
		struct ev_kline		kline;
		struct ev_mark_price	mark_price;
		struct ev_funding	funding;
		struct ev_ticker	ticker;
		struct ev_trade		trade;
		struct ev_book		book;
		struct ev_book_ticker	book_ticker;
		struct ev_liquidation	liquidation;
	} u;
};

const char	*ev_type_name(unsigned);	/* "order", "fill", ... */
/* Fill ev->id from the type and payload (deterministic; see above). */
void		 ev_make_id(struct event *);
/* Release what an event owns (unknown.raw, book.levels); the struct itself is the caller's. */
void		 ev_clear(struct event *);
/*
 * Copy text into dst[size], cut on a UTF-8 character boundary when it does
 * not fit; returns 1 if it was cut, 0 if whole.  For free text (client ids,
 * reasons, names), never for keys.
 */
int		 ev_copy_text(char *dst, size_t size, const char *src, size_t len);
/*
 * An exchange decimal in the one form every process and PostgreSQL take:
 * -?digits(.digits)?.  Accepts what exchanges write ("5.", ".5", "-.5",
 * "0.010") and writes the canonical form ("5", "0.5", "-0.5", "0.010":
 * only a bare point is completed, trailing zeros are kept).  0, or -1 if s
 * is not a plain decimal or does not fit dst[size].
 */
int		 ev_decimal(char *dst, size_t size, const char *s, size_t len);

/*
 * The one validation every producer and consumer of events shares (DESIGN
 * §3.6): the exchange parsers run it on each event they build, the data
 * plane sender before it queues one, the writer's decoder after it decodes
 * one.  Checks the type and flags, that every text is valid UTF-8 without
 * NUL, every decimal canonical (ev_decimal), integers within the codec's
 * bounds, that the keys the writer upserts on are present, and that
 * symbols are symbols (ev_symbol_ok).  0, or -1 with *err (a static message
 * naming the field).
 */
int		 ev_validate(const struct event *, const char **err);
/*
 * Whether s[0..len) can be an exchange symbol: not empty; ASCII letters,
 * digits, '_', '-', '.', or any byte of a multi-byte UTF-8 character
 * (Binance lists symbols such as "1000PEPEUSDT", "BTCUSDT_250926" and
 * Chinese-named ones).  Never '&', '=', '%', spaces or controls, so a symbol
 * cannot change the meaning of a query string it is put into.
 */
int		 ev_symbol_ok(const char *s, size_t len);
/* Whether s is one of Binance's 15 kline intervals ("1m" .. "1M", FACTS §3). */
int		 ev_interval_ok(const char *s);

/*
 * msgpack codec: one event is one map.  Unpack decodes and then runs
 * ev_validate.  On failure ev->seq still holds the event's sequence number
 * when the map had a readable one (else 0), so that a receiver can skip
 * exactly that event.
 */
void		 ev_pack(msgpack_packer *, const struct event *);
int		 ev_unpack(const msgpack_object *, struct event *, const char **err);
/*
 * The time an event's id is made of (ms): an order's, algo order's,
 * position's, balance's or config's update time, a margin call's or unknown
 * event's event time; a fill's trade time (its id has none; the stream's T
 * and REST userTrades' time are the same).  Market data: a kline's open
 * time, a trade's, book's, book ticker's or liquidation's time (T), the
 * event time of the others.  0 falls back to event_time.
 * ev_fact_day is its UTC day, days since 1970-01-01 (floor; any int64 time),
 * event_log's partition key (sql/004), so it must be the same for every copy
 * of one event id; the writer stores a day no date holds as +-infinity, as
 * exfeedd_fact_day does.
 */
int64_t		 ev_fact_time(const struct event *);
/* The symbol of a market event (its Kafka key, the gateway's routing), "" for any other type. */
const char	*ev_market_symbol(const struct event *);
int64_t		 ev_fact_day(const struct event *);
/* JSON form of the normalized event (event_log.payload, Kafka json format); malloc'd. */
char		*ev_to_json(const struct event *);
/*
 * The same, appended to out (its buffer reused: no allocation once it is
 * large enough).  0, or -1: no JSON form (unknown type) or out of memory
 * (out->oom set); out then holds a partial object the caller discards.
 */
struct strbuf;
int		 ev_json_put(struct strbuf *out, const struct event *);
/*
 * The same with options: EV_JSON_ISO_TIMES prints every time in ms
 * (event_time, update_time, trade_time, open_time, ...) as an ISO-8601 UTC
 * string with milliseconds (ev_iso8601; a time of 0, "absent", as null),
 * EV_JSON_NO_RECV leaves recv_us out (the gateway's messages, gw_msg.h).
 */
#define EV_JSON_ISO_TIMES	0x01
#define EV_JSON_NO_RECV		0x02
int		 ev_json_put_opt(struct strbuf *out, const struct event *, int opts);
/*
 * ms since the epoch → "YYYY-MM-DDTHH:MM:SS.mmmZ" in out[25] (24 bytes and
 * a NUL); times before year 0000 or after 9999 are clamped to those years.
 */
void		 ev_iso8601(int64_t ms, char out[25]);

#endif
