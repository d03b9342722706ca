/* exsim.h: shared types and prototypes of exsim, the Binance USDⓈ-M futures
 * exchange simulator. Each .c file owns one concern; its prototypes are
 * grouped below under the file's name. */
#ifndef EXSIM_H
#define EXSIM_H

#ifdef HAVE_CONFIG_H
#include "autoconf.h" /* AC_CONFIG_HEADERS of the top configure.ac */
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <ev.h>
#include <libwebsockets.h>

/* Decimals (prices, quantities, balances) are int64 counts of 1e-8 so that
 * sums are exact and replaying the printed strings reproduces the truth. */
typedef int64_t fx_t;
#define FX_ONE 100000000LL

#define EX_NSYM 5
#define EX_MAX_SYMBOLS 2000 /* --symbols upper bound */
#define EX_NASSET 2 /* USDT, BNB */
#define EX_KEY_LEN 64
#define EX_MAX_STREAMS 1024
#define EX_MAX_OPEN_ORDERS 24
#define EX_MAX_OPEN_ALGOS 8
#define EX_TICK_MS 100 /* one market tick per 100 simulated ms */
#define EX_MAINT_RATE 400000LL /* maintenance margin rate, 0.4% of notional */
/* Liquidation orders take ids from their own counter, beyond 2^53 as on the
 * exchange (a captured liquidation frame has this very id); every other
 * order keeps the regular counter. Both only grow. */
/* Order ids count per symbol, as on the exchange (orderId paging relies on
 * it). ETHUSDT's are past 2^53, like the ids public reports show for it
 * (8389765612825190229; a liquidation at 8389766079988521101). */
#define EX_BIG_OID_BASE 8389765600000000000LL

enum ex_side { SIDE_BUY, SIDE_SELL };
enum ex_ps { PS_BOTH, PS_LONG, PS_SHORT };
enum ex_otype { OT_LIMIT, OT_MARKET, OT_STOP, OT_STOP_MARKET, OT_TAKE_PROFIT,
	OT_TAKE_PROFIT_MARKET, OT_TRAILING_STOP_MARKET, OT_LIQUIDATION };
enum ex_tif { TIF_GTC, TIF_IOC, TIF_FOK, TIF_GTX, TIF_GTD };
enum ex_ostatus { OS_NEW, OS_PARTIALLY_FILLED, OS_FILLED, OS_CANCELED, OS_EXPIRED,
	OS_EXPIRED_IN_MATCH };
enum ex_exec { EX_NEW, EX_TRADE, EX_CANCELED, EX_EXPIRED, EX_AMENDMENT, EX_CALCULATED };
enum ex_stp { STP_NONE, STP_EXPIRE_TAKER, STP_EXPIRE_MAKER, STP_EXPIRE_BOTH };
enum ex_algo_status { AS_NEW, AS_CANCELED, AS_TRIGGERING, AS_TRIGGERED, AS_FINISHED,
	AS_REJECTED, AS_EXPIRED };

/* User data event types; the bit (1 << type) is the events allow-list mask. */
enum ex_uev { UEV_ORDER_TRADE_UPDATE, UEV_TRADE_LITE, UEV_ACCOUNT_UPDATE, UEV_MARGIN_CALL,
	UEV_ACCOUNT_CONFIG_UPDATE, UEV_ALGO_UPDATE, UEV_LISTEN_KEY_EXPIRED, UEV_FAULT, UEV_N };
#define UEV_ALL_MASK ((1u << UEV_N) - 1)

/* Market stream kinds per symbol. The route a stream is served on is fixed
 * (FACTS §3); a subscription on the wrong route is acknowledged but dead. */
enum ex_mst { MST_AGGTRADE, MST_MARKPRICE, MST_MARKPRICE_1S, MST_TICKER, MST_MINITICKER,
	MST_FORCEORDER, MST_KLINE0, MST_KLINE_LAST = MST_KLINE0 + 14, MST_TRADE, MST_BOOKTICKER,
	MST_DEPTH, MST_DEPTH_100, MST_DEPTH_500, MST_DEPTH5, MST_DEPTH5_100, MST_DEPTH5_500,
	MST_DEPTH10, MST_DEPTH10_100, MST_DEPTH10_500, MST_DEPTH20, MST_DEPTH20_100,
	MST_DEPTH20_500, MST_PER_SYMBOL };
/* All-market streams follow the per-symbol ones in the stream id space. */
enum ex_mglobal { MG_MARKPRICE_ARR, MG_MARKPRICE_ARR_1S, MG_MINITICKER_ARR, MG_TICKER_ARR,
	MG_FORCEORDER_ARR, MG_BOOKTICKER_ALL, MG_N };
#define EX_NSTREAM_IDS (ex_nsym * MST_PER_SYMBOL + MG_N)

enum ex_route { ROUTE_PRIVATE, ROUTE_MARKET, ROUTE_PUBLIC, ROUTE_LEGACY };

struct ex_symbol {
	char name[20], lname[20];
	int price_dec, qty_dec;
	fx_t tick, step, start_price, typical_qty;
};

struct jbuf {
	char *p;
	size_t len, cap;
};

struct ex_position {
	fx_t amt, entry, realized, iw;
	bool isolated, touched, margin_called;
	int64_t update_ms;
};

struct ex_order {
	int64_t id, time_ms, update_ms, gtd_ms, last_trade_id;
	char cid[40];
	uint8_t sym, side, type, orig_type, tif, status, exec, ps, stp;
	bool reduce, close_pos, maker_last;
	fx_t qty, price, stop, avg, cum_qty, cum_quote, last_qty, last_price, last_fee,
	    last_rp, bid_notional, ask_notional;
	uint8_t fee_asset;
};

struct ex_algo {
	int64_t aid, actual_oid, create_ms, update_ms, trigger_ms;
	char caid[40], rm[48];
	uint8_t sym, side, type, tif, status, ps;
	bool reduce, close_pos;
	fx_t qty, trigger, price, avg, filled;
};

struct ex_fill {
	int64_t tid, oid, time_ms;
	uint8_t sym, side, ps, fee_asset;
	bool maker;
	fx_t qty, price, fee, rp;
};

struct ex_balance {
	fx_t wb, cw;
	int64_t update_ms;
};

enum ex_lk_state { LK_NONE, LK_ACTIVE, LK_EXPIRED, LK_CLOSED };

struct ex_sub;

struct ex_account {
	int id;
	char api_key[EX_KEY_LEN + 1], secret[EX_KEY_LEN + 1];
	bool revoked, hedge, multi_assets, bnb_fees;
	char listen_key[EX_KEY_LEN + 1];
	enum ex_lk_state lk_state;
	uint32_t lk_gen; /* bumped when the key changes, expires or closes */
	int64_t lk_expire_ms;
	uint64_t key_rng; /* own stream so client key requests never shift activity */
	int leverage[EX_NSYM];
	struct ex_balance bal[EX_NASSET];
	struct ex_position pos[EX_NSYM][3];
	struct ex_order *orders; /* ascending id; terminal ones pruned past the history cap */
	size_t norders, orders_cap;
	int64_t open_ids[EX_MAX_OPEN_ORDERS];
	int nopen;
	struct ex_algo *algos;
	size_t nalgos, algos_cap;
	int64_t open_aids[EX_MAX_OPEN_ALGOS];
	int nopen_algos;
	struct ex_fill *fills;
	size_t nfills, fills_cap;
	struct ex_sub *subs; /* live stream subscriptions on this account's key */
	uint64_t events_sent[UEV_N], events_made[UEV_N];
	uint64_t rejected; /* requests refused with -2015 since the key was revoked */
};

struct ex_sub {
	struct ex_conn *conn;
	struct ex_account *acct;
	char key[EX_KEY_LEN + 1];
	uint32_t mask, gen;
	bool expired_sent;
	struct ex_sub *anext, *aprev;
};

struct ex_msub {
	char *name;
	int sid; /* deliverable stream id, -1 when acknowledged but never delivered */
};

struct ex_conn {
	struct lws *wsi;
	uint64_t id;
	enum ex_route route;
	bool combined;
	/* send queue: records of [u32 len][u32 flags][LWS_PRE][payload], 8-aligned */
	unsigned char *q;
	size_t q_head, q_tail, q_cap;
	size_t q_msgs;
	struct ex_sub **subs;
	int nsubs;
	struct ex_msub *streams;
	int nstreams;
	int64_t opened_ms, next_ping_ms, pong_wait_ms; /* pong_wait_ms: oldest unanswered ping, 0 if none */
	bool ping_due, closing, stalled, no_ping, ignore_pong, kill_now;
	int close_code;
	char close_reason[96];
	char *rx;
	size_t rx_len, rx_cap;
	int64_t rx_win_ms;
	int rx_win_count;
	uint64_t sent_msgs, rx_msgs; /* data frames written; messages (pongs too) received */
	uint64_t n_subscribe, n_unsubscribe; /* requests (not names) handled */
	struct ex_conn *next, *prev;
};

struct ex_stats {
	uint64_t user_events[UEV_N], user_events_made[UEV_N], market_events[MST_PER_SYMBOL + MG_N];
	uint64_t conns_open, conns_total, conns_closed, conns_dropped_slow, conns_rx_limited,
	    conns_pong_timeout, conns_cut_24h, conns_rejected;
	uint64_t conn_attempts, conn_attempts_refused; /* WebSocket handshakes; over --conn-attempts */
	uint64_t rest_requests, rest_weight, lk_post, lk_put, lk_delete, n429, n418, bans, bad_pages;
	uint64_t ws_msgs_in, bytes_queued, actions;
	/* market frames queued to connections: one per subscribed connection,
	 * where market_events counts each event once */
	uint64_t market_frames, market_bytes;
	uint64_t zero_trades; /* zero-priced trade frames made (FACTS §3) */
};

struct ex_config {
	const char *listen_host;
	int listen_port;
	const char *tls_cert, *tls_key;
	int accounts;
	double rate;
	uint64_t seed;
	double time_scale;
	bool legacy_routes, paused;
	int weight_limit;
	size_t history;
	size_t max_queue_bytes;
	int symbols; /* market symbols, >= EX_NSYM */
	int book_history_s; /* seconds of book changes kept for /sim/book */
	int conn_attempts; /* WebSocket handshakes per IP per 5 min (scaled), 0: no limit */
	int bench_seconds, bench_conns;
	double bench_rate;
};

struct exsim {
	struct ex_config cfg;
	struct ev_loop *loop;
	struct lws_context *ctx;
	struct lws_vhost *vhost;
	int port;
	struct ex_account **accts;
	int naccts;
	struct ex_conn *conns;
	uint64_t next_conn_id;
	struct ex_stats st;
	struct jbuf scratch; /* one serialisation buffer reused for every event */
	bool paused;
	int stall_next; /* connections still to be accepted stalled */
	uint64_t fault_rng;
	/* fault bad_page: the next bad_page_left signed requests to bad_page_path
	 * (of bad_page_account's key, if not 0)
	 * are answered 200 with bad_page_body (a page a client cannot use) */
	char bad_page_path[64];
	char *bad_page_body;
	int bad_page_left;
	int bad_page_account; /* 0: any account */
	/* the journal of signed requests (GET /sim/requests): the newest
	 * EX_JOURNAL, each with the exchange time it arrived */
	struct ex_journal_entry {
		int64_t t;
		int account;
		char path[40];
		char symbol[24];
		int64_t start_time, end_time; /* -1 when not given */
	} *journal;
	uint64_t njournal; /* ever recorded; the ring holds the last EX_JOURNAL */
};
#define EX_JOURNAL 65536

extern struct exsim ex;
extern struct ex_symbol *ex_symbols; /* ex_nsym market symbols, the first EX_NSYM real */
extern int ex_nsym;
extern const struct ex_symbol ex_settling_symbol;
extern const char *const ex_assets[EX_NASSET];

/* util.c */
uint64_t rng_next(uint64_t *s);
uint64_t rng_below(uint64_t *s, uint64_t n);
int64_t ex_now_ms(void);
int64_t ex_scaled_ms(int64_t exchange_ms);
void jb_reset(struct jbuf *jb);
void jb_free(struct jbuf *jb);
void jb_reserve(struct jbuf *jb, size_t more);
void jb_raw(struct jbuf *jb, const char *s, size_t n);
void jb_puts(struct jbuf *jb, const char *s);
void jb_printf(struct jbuf *jb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void jb_open(struct jbuf *jb, char c);
void jb_close(struct jbuf *jb, char c);
void jb_key(struct jbuf *jb, const char *k);
void jb_str(struct jbuf *jb, const char *s);
void jb_int(struct jbuf *jb, int64_t v);
void jb_fx(struct jbuf *jb, fx_t v, int dec);
void jb_kstr(struct jbuf *jb, const char *k, const char *v);
void jb_kint(struct jbuf *jb, const char *k, int64_t v);
void jb_kbool(struct jbuf *jb, const char *k, bool v);
void jb_kfx(struct jbuf *jb, const char *k, fx_t v, int dec);
void jb_kfx0(struct jbuf *jb, const char *k, fx_t v, int dec);
void jb_kopen(struct jbuf *jb, const char *k, char c);
int fx_fmt(char *out, size_t outlen, fx_t v, int dec);
fx_t fx_mul(fx_t a, fx_t b);
fx_t fx_div(fx_t a, fx_t b);
fx_t fx_round(fx_t v, fx_t unit);
fx_t fx_abs(fx_t v);
void hex_key(uint64_t *rng, char *out, int n, bool alnum);

/* names.c */
const char *name_side(int s);
const char *name_ps(int ps);
const char *name_otype(int t);
const char *name_tif(int t);
const char *name_ostatus(int s);
const char *name_exec(int x);
const char *name_stp(int v);
const char *name_algo_status(int s);
const char *name_uev(int e);
int uev_from_name(const char *s, size_t n);
int symbols_init(int n, uint64_t seed);
int sym_index(const char *name);
int msym_index(const char *name);
int sym_index_lower(const char *lname, size_t n);

/* account.c */
struct ex_account *acct_add(const char *api_key, const char *secret);
struct ex_account *acct_by_id(int id);
struct ex_account *acct_by_api_key(const char *key);
struct ex_account *acct_by_listen_key(const char *key);
const char *acct_listen_key_create(struct ex_account *a);
int acct_listen_key_keepalive(struct ex_account *a, const char *key);
int acct_listen_key_close(struct ex_account *a, const char *key);
void acct_listen_key_expire(struct ex_account *a);
void acct_tick(int64_t now_ms);
struct ex_order *acct_order(struct ex_account *a, int64_t id);
struct ex_algo *acct_algo(struct ex_account *a, int64_t aid);
fx_t acct_unrealized(const struct ex_account *a, int sym, int ps);
fx_t acct_maint(const struct ex_account *a, int sym, int ps);
fx_t acct_liq_price(const struct ex_account *a, int sym, int ps);

/* engine.c */
void engine_init(void);
void engine_start(void);
int engine_step(void);
int64_t engine_price(int sym);
void engine_drift(int sym, uint64_t *r);

/* uevents.c */
void uev_order(struct ex_account *a, const struct ex_order *o, int64_t now_ms);
void uev_trade_lite(struct ex_account *a, const struct ex_order *o, int64_t now_ms);
void uev_account(struct ex_account *a, const char *reason, const fx_t *bc, const bool *assets,
    const int (*pos)[2], int npos, int64_t now_ms);
void uev_margin_call(struct ex_account *a, const int (*pos)[2], int npos, int64_t now_ms);
void uev_config_leverage(struct ex_account *a, int sym, int64_t now_ms);
void uev_config_multi_assets(struct ex_account *a, int64_t now_ms);
void uev_algo(struct ex_account *a, const struct ex_algo *g, int64_t now_ms);
void uev_listen_key_expired(struct ex_sub *s, int64_t now_ms);
void uev_json_order(struct jbuf *jb, const struct ex_order *o);
void uev_json_algo(struct jbuf *jb, const struct ex_algo *g);
struct algo_keys {
	const char *algo_type, *order_type, *symbol, *side, *pos_side, *tif, *qty, *status,
	    *actual_oid;
};
extern const struct algo_keys algo_keys_event, algo_keys_rest;
void uev_json_algo_core(struct jbuf *jb, const struct ex_algo *g, const struct algo_keys *k);
void uev_json_position(struct jbuf *jb, const struct ex_account *a, int sym, int ps);

/* ws.c */
void ws_init(void);
int ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
    size_t len);
void ws_enqueue(struct ex_conn *c, const char *stream, const char *data, size_t len);
void ws_deliver_user(struct ex_account *a, int uev, const char *data, size_t len);
void ws_deliver_stream(int sid, const char *stream, const char *data, size_t len);
bool ws_stream_has_subs(int sid);
void ws_close(struct ex_conn *c, int code, const char *reason, bool abrupt);
void ws_tick(int64_t now_ms);
void ws_sub_unlink(struct ex_sub *s);
void ws_conns_json(struct jbuf *jb);

/* streams.c */
int streams_parse(const char *name, size_t n, enum ex_route *route);
int streams_name(int sid, char *out, size_t outlen);
bool streams_route_ok(int sid, enum ex_route conn_route);

/* market.c */
void market_init(void);
void market_tick(void);
void market_public_trade(int sym, fx_t price, fx_t qty, bool buyer_maker, int64_t now_ms);
void market_force_order(int sym, int side, fx_t price, fx_t qty, int64_t now_ms);
void market_json_depth(struct jbuf *jb, int sym, int limit);
fx_t market_mark(int sym);
int market_interval(const char *name);
int64_t market_kline_ms(int64_t now_ms);
void market_json_klines(struct jbuf *jb, int sym, int iv, int64_t start, int64_t end, int limit);
int market_json_book_at(struct jbuf *jb, int sym, int64_t u, int limit, const char **why);
int market_depth_gap(int sym);
void market_gaps_json(struct jbuf *jb);

/* http.c */
int http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
    size_t len);

/* rest.c: requests are parsed by http.c into ex_req; replies go into ex_resp. */
struct ex_param {
	char *name, *value;
};
struct ex_req {
	int method; /* LWSHUMETH_* */
	char path[256];
	char ip[64];
	char api_key[128];
	bool has_api_key;
	char *query; /* raw-ish query (decoded fragments joined with &) */
	char *body;
	size_t body_len;
	struct ex_param params[64];
	int nparams;
};
struct ex_resp {
	int status;
	struct jbuf body;
	struct {
		char name[40], value[80];
	} hdr[6];
	int nhdr;
	const char *ctype;
};
void rest_handle(struct ex_req *rq, struct ex_resp *rs);
void rest_klines(struct ex_req *rq, struct ex_resp *rs, int def_limit, int max_limit);
const char *req_param(const struct ex_req *rq, const char *name);
void resp_header(struct ex_resp *rs, const char *name, const char *value);
void resp_error(struct ex_resp *rs, int status, int code, const char *msg);

/* ratelimit.c */
int rl_charge(const char *ip, int weight, struct ex_resp *rs);
void rl_storm(int64_t until_ms);
void rl_reset(void);
void rl_json(struct jbuf *jb);

/* sign.c */
int sign_check(const struct ex_account *a, const char *total, const char *sig);
void sign_hmac_hex(const char *secret, const char *msg, size_t msglen, char out[65]);

/* sim.c */
void sim_handle(struct ex_req *rq, struct ex_resp *rs);
void sim_journal(const struct ex_req *rq, const struct ex_account *a);

/* fault.c */
void fault_handle(const char *body, size_t len, struct ex_resp *rs);

/* bench.c */
int bench_run(const char *argv0);

#endif
