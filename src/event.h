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
	EV_TYPE_MAX
};

/* Flags. */
#define EVF_RESYNC	0x01	/* produced by a REST resync, not the stream */
#define EVF_LITE	0x02	/* EV_FILL from TRADE_LITE: fee, pnl, position side unknown */

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
	char		 filled_qty[EV_DEC];	/* aq */
	char		 trigger_price[EV_DEC];	/* tp */
	char		 price[EV_DEC];		/* p */
	bool		 reduce_only;		/* R */
	bool		 close_position;	/* cp */
	char		 reject_reason[64];	/* rm */
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
	char		 cross_wallet[EV_DEC];	/* cw */
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
	} u;
};

const char	*ev_type_name(unsigned);	/* "order", "fill", ... */
/* Fill ev->id from the type and payload (deterministic; see above). */
void		 ev_make_id(struct event *);
/* Release what an event owns (unknown.raw); the struct itself is the caller's. */
void		 ev_clear(struct event *);

/* msgpack codec: one event is one map.  Unpack validates every field. */
void		 ev_pack(msgpack_packer *, const struct event *);
int		 ev_unpack(const msgpack_object *, struct event *, const char **err);
/* JSON form of the normalized event (event_log.payload, Kafka json format); malloc'd. */
char		*ev_to_json(const struct event *);

#endif
