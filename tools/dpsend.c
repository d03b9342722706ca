/*
 * dpsend: a data-plane sender for tests and the bench.  It speaks to the
 * writer exactly as an account worker does (ipc.h framing, HELLO, EVENTS of
 * ev_pack'ed events with a per-sender seq), keeps every event until the
 * writer acks it, reconnects and resends the un-acked after a disconnect, and
 * reports acks and the event → ack latency.
 *
 *   dpsend -s SOCK [options] -f FILE     events from JSON lines (- for stdin)
 *   dpsend -s SOCK [options] -g N -k K   N generated events for accounts 1..K
 *                                        (--user-offset U: of users U+1..U+K;
 *                                        --time-base MS: times from MS, not now)
 *   dpsend -s SOCK [options] -M -g N -k K  N generated market events for K
 *                                        symbols (send with -r market)
 *   dpsend -s SOCK --bad                 send a malformed event; exit 0 if dropped
 *   dpsend --naive CONNINFO -f FILE|-g N the bench baseline: the writer's SQL,
 *                                        one transaction per event, no batching
 *   dpsend --ceiling CONNINFO -g N [-b B] the database's ingest ceiling for the
 *                                        same rows: per B events (5000), COPY
 *                                        into temporary staging tables and the
 *                                        writer's upserts FROM them, one
 *                                        transaction; the COPY text is made
 *                                        before the clock starts, so only the
 *                                        database's work is timed
 *
 * A JSON line is an event in its wire form (evcodec.c keys), with defaults
 * for what it leaves out: {"t":1,"a":1,"E":5,"d":{"i":7,"X":"NEW","T":5}}.
 * "n" is assigned here, "id" computed with ev_make_id, "r" is the send time.
 * A "!" member puts values no sender would send into the event after it is
 * built, past the validation, to test that the writer refuses that event
 * alone: {"!":{"price":"5."}} (an order's), "client_id" (an order's, bytes
 * given as \u00XX escapes are written raw), "leverage" (a config's, an
 * integer), "name" (an unknown event's).
 */
#include "autoconf.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <libpq-fe.h>

#include "event.h"
#include "ipc.h"
#include "log.h"
#include "mpack.h"
#include "writer_sql.h"
#include "clock.h"

static struct {
	const char	*sock;
	const char	*role;
	int64_t		 instance;
	size_t		 frame_events;
	size_t		 window;
	double		 timeout_s;
	double		 rate;		/* events/s, 0: as fast as acks allow */
	int		 verbose;

	struct event	*ev;
	size_t		 n, cap;
	int64_t		*lat_us;	/* per event, event → ack */
	size_t		 acked, sent;
	unsigned	 reconnects;

	int		 fd;
	uint32_t	 txseq, rxseq;
	unsigned char	*rbuf;
	size_t		 rlen, rcap;
} ds = { .role = "dpsend", .frame_events = 256, .window = 20000, .timeout_s = 60, .fd = -1 };

static void
die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("dpsend: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(2);
}

static struct event *
ev_next(void)
{
	if (ds.n == ds.cap) {
		ds.cap = ds.cap ? ds.cap * 2 : 1024;
		if ((ds.ev = realloc(ds.ev, ds.cap * sizeof(*ds.ev))) == NULL)
			die("out of memory");
	}
	memset(&ds.ev[ds.n], 0, sizeof(ds.ev[0]));
	return &ds.ev[ds.n++];
}

/* ------------------------------------------------------------ JSON input */

static void
pack_json(msgpack_packer *pk, const cJSON *j, const char *what)
{
	if (cJSON_IsString(j))
		mp_str(pk, j->valuestring);
	else if (cJSON_IsBool(j))
		cJSON_IsTrue(j) ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
	else if (cJSON_IsNull(j))
		msgpack_pack_nil(pk);
	else if (cJSON_IsArray(j)) {
		const cJSON *c;

		msgpack_pack_array(pk, (uint32_t)cJSON_GetArraySize(j));
		cJSON_ArrayForEach(c, j)
			pack_json(pk, c, what);
	}
	else if (cJSON_IsNumber(j)) {
		double d = j->valuedouble;

		if (d != (double)(int64_t)d)
			die("%s: %g is not an integer (decimals are strings)", what, d);
		msgpack_pack_int64(pk, (int64_t)d);
	} else
		die("%s: objects and arrays are not values of an event", what);
}

static int
has_key(const msgpack_object *m, const char *name)
{
	for (uint32_t i = 0; i < m->via.map.size; i++) {
		const msgpack_object *k = &m->via.map.ptr[i].key;

		if (strlen(name) == k->via.str.size && memcmp(name, k->via.str.ptr, k->via.str.size) == 0)
			return 1;
	}
	return 0;
}

/*
 * The map m with the keys of JSON object j put over it.  Keys m lacks go at
 * the end, so that ev_unpack names them (a typo in a test is an error).
 */
static void
overlay(msgpack_packer *pk, const msgpack_object *m, const cJSON *j, const char *what)
{
	uint32_t extra = 0;
	const cJSON *c;

	cJSON_ArrayForEach(c, j)
		extra += !has_key(m, c->string) && strcmp(c->string, "!") != 0;
	msgpack_pack_map(pk, m->via.map.size + extra);
	for (uint32_t i = 0; i < m->via.map.size; i++) {
		const msgpack_object *k = &m->via.map.ptr[i].key;
		char name[16];
		const cJSON *v;

		snprintf(name, sizeof(name), "%.*s", (int)k->via.str.size, k->via.str.ptr);
		msgpack_pack_object(pk, *k);
		v = cJSON_GetObjectItemCaseSensitive(j, name);
		if (v != NULL && cJSON_IsObject(v) && m->via.map.ptr[i].val.type == MSGPACK_OBJECT_MAP)
			overlay(pk, &m->via.map.ptr[i].val, v, what);
		else if (v != NULL)
			pack_json(pk, v, what);
		else
			msgpack_pack_object(pk, m->via.map.ptr[i].val);
	}
	cJSON_ArrayForEach(c, j) {
		if (has_key(m, c->string) || strcmp(c->string, "!") == 0)
			continue;
		mp_str(pk, c->string);
		if (cJSON_IsObject(c))
			msgpack_pack_map(pk, 0);
		else
			pack_json(pk, c, what);
	}
}

/* Text with \u00XX escapes as those raw bytes (invalid UTF-8 on purpose). */
static void
raw_bytes(char *dst, size_t size, const char *s)
{
	size_t n = 0;

	for (const unsigned char *p = (const unsigned char *)s; *p && n + 1 < size; p++) {
		if (p[0] == 0xc2 || p[0] == 0xc3) {	/* cJSON decoded \u0080-\u00ff as UTF-8 */
			dst[n++] = (char)(((p[0] & 0x03) << 6) | (p[1] & 0x3f));
			p++;
		} else
			dst[n++] = (char)*p;
	}
	dst[n] = '\0';
}

/* The "!" member: values past the validation, for the writer to refuse. */
static void
corrupt(struct event *ev, const cJSON *bad, const char *what)
{
	const cJSON *v;

	if (bad == NULL)
		return;
	if ((v = cJSON_GetObjectItemCaseSensitive(bad, "price")) && cJSON_IsString(v))
		snprintf(ev->u.order.price, sizeof(ev->u.order.price), "%s", v->valuestring);
	if ((v = cJSON_GetObjectItemCaseSensitive(bad, "client_id")) && cJSON_IsString(v))
		raw_bytes(ev->u.order.client_id, sizeof(ev->u.order.client_id), v->valuestring);
	if ((v = cJSON_GetObjectItemCaseSensitive(bad, "leverage")) && cJSON_IsNumber(v))
		ev->u.config.leverage = v->valueint;
	if ((v = cJSON_GetObjectItemCaseSensitive(bad, "name")) && cJSON_IsString(v))
		raw_bytes(ev->u.unknown.name, sizeof(ev->u.unknown.name), v->valuestring);
	(void)what;
}

static void
read_json(const char *path)
{
	FILE *fp = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	char *line = NULL, what[64];
	size_t linecap = 0;
	unsigned lineno = 0;

	if (fp == NULL)
		die("%s: %s", path, strerror(errno));
	while (getline(&line, &linecap, fp) > 0) {
		struct event tmpl, *ev;
		msgpack_sbuffer sb, sb2;
		msgpack_packer pk;
		msgpack_unpacked u, u2;
		const cJSON *t;
		cJSON *j;
		const char *err;

		lineno++;
		if (line[strspn(line, " \t\r\n")] == '\0' || line[0] == '#')
			continue;
		snprintf(what, sizeof(what), "%s:%u", path, lineno);
		if ((j = cJSON_Parse(line)) == NULL || !cJSON_IsObject(j))
			die("%s: not a JSON object", what);
		t = cJSON_GetObjectItemCaseSensitive(j, "t");
		if (!cJSON_IsNumber(t) || ev_type_name((unsigned)t->valueint) == NULL)
			die("%s: \"t\" must be an event type (event.h: 1 order .. 17 liquidation)", what);
		/* The defaults: a zero event of that type, with its wire form. */
		memset(&tmpl, 0, sizeof(tmpl));
		tmpl.type = (uint8_t)t->valueint;
		strcpy(tmpl.exchange, "binance-futures");
		strcpy(tmpl.id, "-");
		tmpl.seq = 1;
		tmpl.recv_us = clock_real_us();
		if (tmpl.type == EV_CONFIG)
			tmpl.u.config.leverage = tmpl.u.config.multi_assets = -1;
		msgpack_sbuffer_init(&sb);
		msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
		ev_pack(&pk, &tmpl);
		msgpack_unpacked_init(&u);
		msgpack_unpack_next(&u, sb.data, sb.size, NULL);
		msgpack_sbuffer_init(&sb2);
		msgpack_packer_init(&pk, &sb2, msgpack_sbuffer_write);
		overlay(&pk, &u.data, j, what);
		msgpack_unpacked_init(&u2);
		msgpack_unpack_next(&u2, sb2.data, sb2.size, NULL);
		ev = ev_next();
		if (ev_unpack(&u2.data, ev, &err) == -1)
			die("%s: %s", what, err);
		if (cJSON_GetObjectItemCaseSensitive(j, "id") == NULL)
			ev_make_id(ev);
		corrupt(ev, cJSON_GetObjectItemCaseSensitive(j, "!"), what);
		msgpack_unpacked_destroy(&u);
		msgpack_unpacked_destroy(&u2);
		msgpack_sbuffer_destroy(&sb);
		msgpack_sbuffer_destroy(&sb2);
		cJSON_Delete(j);
	}
	free(line);
	if (fp != stdin)
		fclose(fp);
}

/* -------------------------------------------------------- generated input */

/*
 * Order lifecycles as an account produces them: NEW, then a partial and a
 * full fill, each fill with its trade, position and balance updates.
 */
/* --user-offset: a generated event's user_id is its account id plus this. */
static int64_t user_offset;
/* -b was given: --ceiling's events per transaction, else 5,000 (not the frame default). */
static int frames_given;
/* --time-base MS: generated events' exchange times start here, not now (repeatable runs). */
static int64_t time_base;

static void
generate(size_t n, int64_t accounts, uint64_t seed)
{
	static const char *const symbols[] = { "BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT" };
	/* Runs with different seeds have distinct order and trade ids. */
	int64_t t0 = time_base ? time_base : clock_real_us() / 1000,
	    order_id = 1000000 + (int64_t)seed * 100000000,
	    trade_id = 5000000 + (int64_t)seed * 100000000;
	uint64_t r = seed + 1;

	while (ds.n < n) {
		int64_t acct, ts;
		const char *sym;
		struct event *ev;

		r = r * 6364136223846793005ull + 1442695040888963407ull;
		acct = (int64_t)((r >> 33) % (uint64_t)accounts) + 1;
		sym = symbols[(r >> 20) % 4];
		order_id++;
		for (int step = 0; step < 3 && ds.n < n; step++) {
			ts = t0 + (int64_t)ds.n;
			ev = ev_next();
			ev->type = EV_ORDER;
			ev->account_id = acct;
			ev->user_id = acct + user_offset;
			strcpy(ev->exchange, "binance-futures");
			ev->event_time = ts;
			ev->u.order.order_id = order_id;
			snprintf(ev->u.order.symbol, sizeof(ev->u.order.symbol), "%s", sym);
			snprintf(ev->u.order.client_id, sizeof(ev->u.order.client_id), "web_%" PRId64,
			    order_id);
			strcpy(ev->u.order.side, "BUY");
			strcpy(ev->u.order.position_side, "BOTH");
			strcpy(ev->u.order.type, "LIMIT");
			strcpy(ev->u.order.orig_type, "LIMIT");
			strcpy(ev->u.order.tif, "GTC");
			strcpy(ev->u.order.exec_type, step ? "TRADE" : "NEW");
			strcpy(ev->u.order.status, step == 0 ? "NEW" : step == 1 ?
			    "PARTIALLY_FILLED" : "FILLED");
			strcpy(ev->u.order.price, "65000.10");
			strcpy(ev->u.order.avg_price, step ? "65000.1" : "0");
			strcpy(ev->u.order.stop_price, "0");
			strcpy(ev->u.order.orig_qty, "0.010");
			strcpy(ev->u.order.filled_qty, step == 0 ? "0" : step == 1 ? "0.004" : "0.010");
			ev->u.order.update_time = ts;
			ev_make_id(ev);
			if (step == 0)
				continue;
			if (ds.n < n) {
				ev = ev_next();
				ev->type = EV_FILL;
				ev->account_id = acct;
				ev->user_id = acct + user_offset;
				strcpy(ev->exchange, "binance-futures");
				ev->event_time = ts;
				ev->u.fill.trade_id = ++trade_id;
				ev->u.fill.order_id = order_id;
				snprintf(ev->u.fill.symbol, sizeof(ev->u.fill.symbol), "%s", sym);
				strcpy(ev->u.fill.side, "BUY");
				strcpy(ev->u.fill.position_side, "BOTH");
				strcpy(ev->u.fill.price, "65000.10");
				strcpy(ev->u.fill.qty, step == 1 ? "0.004" : "0.006");
				strcpy(ev->u.fill.fee, "0.0104");
				strcpy(ev->u.fill.fee_asset, "USDT");
				strcpy(ev->u.fill.realized_pnl, "0");
				ev->u.fill.time = ts;
				ev_make_id(ev);
			}
			if (ds.n < n) {
				ev = ev_next();
				ev->type = EV_POSITION;
				ev->account_id = acct;
				ev->user_id = acct + user_offset;
				strcpy(ev->exchange, "binance-futures");
				ev->event_time = ts;
				snprintf(ev->u.position.symbol, sizeof(ev->u.position.symbol), "%s", sym);
				strcpy(ev->u.position.position_side, "BOTH");
				/*
				 * The seed in the amount and the wallet: runs started
				 * within a few seconds of each other overlap in event
				 * times, and must not share an event id.
				 */
				snprintf(ev->u.position.amount, sizeof(ev->u.position.amount),
				    "%" PRId64 ".%03d", (int64_t)seed * 10 + order_id % 7, step * 4);
				strcpy(ev->u.position.entry_price, "65000.1");
				strcpy(ev->u.position.breakeven_price, "65010");
				strcpy(ev->u.position.unrealized_pnl, "0");
				strcpy(ev->u.position.margin_type, "cross");
				strcpy(ev->u.position.isolated_wallet, "0");
				strcpy(ev->u.position.margin_asset, "USDT");
				ev->u.position.update_time = ts;
				ev_make_id(ev);
			}
			if (ds.n < n) {
				ev = ev_next();
				ev->type = EV_BALANCE;
				ev->account_id = acct;
				ev->user_id = acct + user_offset;
				strcpy(ev->exchange, "binance-futures");
				ev->event_time = ts;
				strcpy(ev->u.balance.asset, "USDT");
				snprintf(ev->u.balance.wallet, sizeof(ev->u.balance.wallet),
				    "%" PRId64 ".5", 10000 * ((int64_t)seed + 1) - (int64_t)ds.n % 1000);
				strcpy(ev->u.balance.cross_wallet, "9000");
				strcpy(ev->u.balance.change, "-0.0104");
				strcpy(ev->u.balance.reason, "ORDER");
				ev->u.balance.update_time = ts;
				ev_make_id(ev);
			}
		}
	}
}

/*
 * Market data as the market worker sends it, for the bench: per symbol a
 * run of aggTrades, bookTickers, mark prices, a 24h ticker, open 1m klines
 * and, one event in twenty, a closed 1m kline of a new minute (so about 5%
 * of the events are klines rows).  Symbols are MKT0USDT .. MKT<K-1>USDT.
 */
static void
generate_market(size_t n, int64_t nsym, uint64_t seed)
{
	/* The seed in the minutes: runs with different seeds write different candles. */
	int64_t t0 = time_base ? time_base : clock_real_us() / 1000,
	    minute = (int64_t)seed * 100000000 + 1;
	int64_t agg = 1 + (int64_t)seed * 1000000000;
	char sym[EV_SYM];

	while (ds.n < n) {
		int64_t ts = t0 + (int64_t)ds.n;
		unsigned k = (unsigned)(ds.n % 20);
		struct event *ev = ev_next();

		snprintf(sym, sizeof(sym), "MKT%" PRId64 "USDT", (int64_t)(ds.n / 20) % nsym);
		strcpy(ev->exchange, "binance-futures");
		ev->event_time = ts;
		if (k < 8) {
			struct ev_trade *t = &ev->u.trade;

			ev->type = EV_TRADE;
			ev->flags = EVF_AGG;
			snprintf(t->symbol, sizeof(t->symbol), "%s", sym);
			t->trade_id = agg++;
			t->first_trade_id = t->trade_id * 2;
			t->last_trade_id = t->trade_id * 2 + 1;
			strcpy(t->price, "65000.10");
			strcpy(t->qty, "0.004");
			strcpy(t->normal_qty, "0.004");
			t->buyer_maker = k & 1;
			t->time = ts;
		} else if (k < 14) {
			struct ev_book_ticker *b = &ev->u.book_ticker;

			ev->type = EV_BOOK_TICKER;
			snprintf(b->symbol, sizeof(b->symbol), "%s", sym);
			b->update_id = (int64_t)ds.n + 1;
			strcpy(b->bid_price, "65000.10");
			strcpy(b->bid_qty, "1.5");
			strcpy(b->ask_price, "65000.20");
			strcpy(b->ask_qty, "0.7");
			b->time = ts;
		} else if (k < 16) {
			struct ev_mark_price *m = &ev->u.mark_price;

			ev->type = EV_MARK_PRICE;
			snprintf(m->symbol, sizeof(m->symbol), "%s", sym);
			strcpy(m->mark_price, "65001.5");
			strcpy(m->index_price, "65000.9");
			strcpy(m->settle_price, "65002");
			strcpy(m->funding_rate, "0.0001");
			m->next_funding_time = (ts / 28800000 + 1) * 28800000;
		} else if (k == 16) {
			struct ev_ticker *t = &ev->u.ticker;

			ev->type = EV_TICKER;
			snprintf(t->symbol, sizeof(t->symbol), "%s", sym);
			strcpy(t->price_change, "10.5");
			strcpy(t->price_change_pct, "0.016");
			strcpy(t->weighted_avg_price, "64990.2");
			strcpy(t->last_price, "65000.10");
			strcpy(t->last_qty, "0.004");
			strcpy(t->open, "64989.6");
			strcpy(t->high, "65100");
			strcpy(t->low, "64800");
			strcpy(t->volume, "12345.678");
			strcpy(t->quote_volume, "802469135.5");
			t->open_time = ts - 86400000;
			t->close_time = ts;
			t->first_trade_id = 1;
			t->last_trade_id = agg;
			t->trades = agg;
		} else {
			struct ev_kline *kl = &ev->u.kline;

			ev->type = EV_KLINE;
			snprintf(kl->symbol, sizeof(kl->symbol), "%s", sym);
			strcpy(kl->interval, "1m");
			kl->closed = k == 19;
			kl->open_time = (kl->closed ? minute++ : t0 / 60000) * 60000;
			kl->close_time = kl->open_time + 59999;
			kl->first_trade_id = 100;
			kl->last_trade_id = 199;
			strcpy(kl->open, "65000");
			strcpy(kl->high, "65100.5");
			strcpy(kl->low, "64900");
			strcpy(kl->close, "65050.25");
			strcpy(kl->volume, "12.345");
			strcpy(kl->quote_volume, "802469.5");
			strcpy(kl->taker_buy_volume, "6.1");
			strcpy(kl->taker_buy_quote_volume, "396500.1");
			kl->trades = 100;
		}
		ev_make_id(ev);
	}
}

/* ------------------------------------------------------------ data plane */

static void
dp_close(void)
{
	if (ds.fd != -1)
		close(ds.fd);
	ds.fd = -1;
	ds.rlen = 0;
}

static int
dp_connect(void)
{
	struct sockaddr_un sun;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int fd, r;

	if (ipc_unix_addr(ds.sock, &sun) == -1)
		die("%s: path too long", ds.sock);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		die("socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		close(fd);
		return -1;
	}
	ds.fd = fd;
	ds.txseq = ds.rxseq = 0;
	ds.rlen = 0;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 3);
	mp_kv_str(&pk, "role", ds.role);
	mp_kv_i64(&pk, "instance", ds.instance);
	mp_kv_i64(&pk, "pid", getpid());
	r = ipc_write_frame(fd, IPC_DP_HELLO, ++ds.txseq, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
	if (r == -1) {
		dp_close();
		return -1;
	}
	return 0;
}

static int
dp_send(size_t from, size_t k)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int r;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 1);
	mp_str(&pk, "ev");
	msgpack_pack_array(&pk, k);
	for (size_t i = from; i < from + k; i++) {
		ds.ev[i].seq = i + 1;
		if (ds.ev[i].recv_us == 0)
			ds.ev[i].recv_us = clock_real_us();
		ev_pack(&pk, &ds.ev[i]);
	}
	r = ipc_write_frame(ds.fd, IPC_DP_EVENTS, ++ds.txseq, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
	return r;
}

static void
on_ack(uint64_t seq)
{
	int64_t t = clock_real_us();

	if (seq > ds.n)
		die("the writer acked seq %" PRIu64 ", beyond the %zu sent", seq, ds.n);
	if (seq <= ds.acked)
		return;
	for (size_t i = ds.acked; i < seq; i++)
		ds.lat_us[i] = t - ds.ev[i].recv_us;
	ds.acked = seq;
	if (ds.verbose) {
		printf("acked %zu\n", ds.acked);
		fflush(stdout);
	}
}

/* Read what is there; -1 when the connection is gone. */
static int
dp_read(int timeout_ms)
{
	struct pollfd p = { ds.fd, POLLIN, 0 };
	size_t off = 0;
	ssize_t n;

	if (poll(&p, 1, timeout_ms) <= 0)
		return 0;
	if (ds.rcap - ds.rlen < 4096) {
		ds.rcap = ds.rcap ? ds.rcap * 2 : 65536;
		if ((ds.rbuf = realloc(ds.rbuf, ds.rcap)) == NULL)
			die("out of memory");
	}
	n = read(ds.fd, ds.rbuf + ds.rlen, ds.rcap - ds.rlen);
	if (n <= 0) {
		if (n == -1 && errno == EINTR)
			return 0;
		return -1;
	}
	ds.rlen += (size_t)n;
	for (;;) {
		msgpack_unpacked u;
		struct ipc_hdr h;
		const char *err;
		ssize_t f;
		int64_t seq;

		msgpack_unpacked_init(&u);
		f = ipc_frame_parse(ds.rbuf + off, ds.rlen - off, IPC_BIT(IPC_DP_ACK), ds.rxseq + 1,
		    &h, &u, &err);
		if (f < 0)
			die("bad frame from the writer: %s", err);
		if (f == 0) {
			msgpack_unpacked_destroy(&u);
			break;
		}
		ds.rxseq++;
		off += (size_t)f;
		if (mp_get_i64(&u.data, "seq", &seq) == -1 || seq < 0)
			die("ACK without a seq");
		on_ack((uint64_t)seq);
		msgpack_unpacked_destroy(&u);
	}
	memmove(ds.rbuf, ds.rbuf + off, ds.rlen - off);
	ds.rlen -= off;
	return 0;
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static int
run_sender(void)
{
	double t0 = (clock_mono_us() / 1e6), deadline = t0 + ds.timeout_s, el;
	int connected_once = 0;

	if ((ds.lat_us = calloc(ds.n ? ds.n : 1, sizeof(*ds.lat_us))) == NULL)
		die("out of memory");
	while (ds.acked < ds.n) {
		size_t k;

		if ((clock_mono_us() / 1e6) > deadline) {
			fprintf(stderr, "dpsend: timed out: %zu of %zu acked\n", ds.acked, ds.n);
			break;
		}
		if (ds.fd == -1) {
			if (dp_connect() == -1) {
				usleep(50000);
				continue;
			}
			if (connected_once++)
				ds.reconnects++;
			ds.sent = ds.acked;	/* resend every un-acked event */
		}
		while (ds.sent < ds.n && ds.sent - ds.acked < ds.window) {
			if (ds.rate > 0 && (double)ds.sent > ((clock_mono_us() / 1e6) - t0) * ds.rate)
				break;
			k = ds.n - ds.sent;
			if (k > ds.frame_events)
				k = ds.frame_events;
			if (k > ds.window - (ds.sent - ds.acked))
				k = ds.window - (ds.sent - ds.acked);
			if (dp_send(ds.sent, k) == -1)
				break;
			ds.sent += k;
			if (dp_read(0) == -1)
				break;
		}
		if (dp_read(ds.sent < ds.n && ds.sent - ds.acked < ds.window ? 1 : 20) == -1) {
			if (ds.verbose) {
				printf("disconnected at acked %zu\n", ds.acked);
				fflush(stdout);
			}
			dp_close();
		}
	}
	el = (clock_mono_us() / 1e6) - t0;
	qsort(ds.lat_us, ds.acked, sizeof(*ds.lat_us), cmp_i64);
	printf("sent %zu acked %zu reconnects %u elapsed_ms %.0f events_per_s %.0f "
	    "p50_us %" PRId64 " p99_us %" PRId64 " p999_us %" PRId64 "\n",
	    ds.n, ds.acked, ds.reconnects, el * 1000, el > 0 ? (double)ds.acked / el : 0,
	    ds.acked ? ds.lat_us[ds.acked / 2] : 0,
	    ds.acked ? ds.lat_us[ds.acked * 99 / 100] : 0,
	    ds.acked ? ds.lat_us[ds.acked * 999 / 1000] : 0);
	return ds.acked == ds.n ? 0 : 1;
}

/* A frame whose event has an unknown type: the writer must drop this sender alone. */
static int
run_bad(void)
{
	static const unsigned char body[] = { 0x81, 0xa2, 'e', 'v', 0x91, 0x81, 0xa1, 't', 0x63 };
	double deadline = (clock_mono_us() / 1e6) + ds.timeout_s;

	if (dp_connect() == -1)
		die("cannot connect to %s", ds.sock);
	if (ipc_write_frame(ds.fd, IPC_DP_EVENTS, ++ds.txseq, body, sizeof(body)) == -1)
		die("cannot send");
	while ((clock_mono_us() / 1e6) < deadline)
		if (dp_read(100) == -1) {
			printf("dropped\n");
			return 0;
		}
	printf("still connected\n");
	return 1;
}

/* ------------------------------------------------------------ naive mode */

static void
naive_stmt(const char *sql, size_t len, void *arg)
{
	PGconn *conn = arg;
	PGresult *r = PQexec(conn, sql);

	/* event_log's statement returns the rows it wrote (for the relay). */
	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
		die("naive: %s", PQerrorMessage(conn));
	PQclear(r);
}

static void
naive_exec(PGconn *conn, const char *sql)
{
	naive_stmt(sql, strlen(sql), conn);
}

static int
run_naive(const char *conninfo)
{
	PGconn *conn = PQconnectdb(conninfo);
	struct wsql *w = wsql_new();
	double t0, el;

	if (PQstatus(conn) != CONNECTION_OK)
		die("naive: %s", PQerrorMessage(conn));
	if (w == NULL)
		die("out of memory");
	t0 = (clock_mono_us() / 1e6);
	for (size_t i = 0; i < ds.n; i++) {
		wsql_reset(w);
		if (wsql_add(w, &ds.ev[i]) == -1)
			die("naive: cannot build the rows of event %zu", i);
		naive_exec(conn, "BEGIN");
		if (wsql_statements(w, naive_stmt, conn) == -1)
			die("out of memory");
		naive_exec(conn, "COMMIT");
	}
	el = (clock_mono_us() / 1e6) - t0;
	printf("naive events %zu elapsed_ms %.0f events_per_s %.0f\n", ds.n, el * 1000,
	    el > 0 ? (double)ds.n / el : 0);
	wsql_free(w);
	PQfinish(conn);
	return 0;
}

/* ---------------------------------------------------------- ceiling mode */

struct stage_load {
	int		 t;
	char		*data;		/* COPY text */
	size_t		 len;
};

static PGresult *
ceil_ok(PGconn *conn, PGresult *r, const char *what)
{
	ExecStatusType st = PQresultStatus(r);

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_COPY_IN &&
	    st != PGRES_COPY_OUT)
		die("ceiling: %s: %s", what, PQerrorMessage(conn));
	return r;
}

/* COPY (rows of table t) TO STDOUT, kept in memory. */
static void
ceil_copy_out(PGconn *conn, struct wsql *w, int t, struct stage_load *sl)
{
	char *q = wsql_stage_rows(w, t), *cmd, *buf;
	size_t cap = 0;
	int n;

	if (q == NULL || asprintf(&cmd, "COPY (%s) TO STDOUT", q) == -1)
		die("out of memory");
	PQclear(ceil_ok(conn, PQexec(conn, cmd), "COPY TO"));
	sl->t = t;
	sl->data = NULL;
	sl->len = 0;
	while ((n = PQgetCopyData(conn, &buf, 0)) > 0) {
		if (sl->len + (size_t)n > cap) {
			cap = (sl->len + (size_t)n) * 2;
			if ((sl->data = realloc(sl->data, cap)) == NULL)
				die("out of memory");
		}
		memcpy(sl->data + sl->len, buf, (size_t)n);
		sl->len += (size_t)n;
		PQfreemem(buf);
	}
	PQclear(ceil_ok(conn, PQgetResult(conn), "COPY TO end"));
	free(cmd);
	free(q);
}

static int
run_ceiling(const char *conninfo)
{
	PGconn *conn = PQconnectdb(conninfo);
	struct wsql *w = wsql_new();
	size_t batch = frames_given ? ds.frame_events : 5000;
	size_t nb = (ds.n + batch - 1) / batch, rows = 0, nl = 0;
	struct stage_load *sl;
	double t0, el;
	char name[32];

	if (PQstatus(conn) != CONNECTION_OK)
		die("ceiling: %s", PQerrorMessage(conn));
	if (w == NULL || (sl = calloc(nb * (size_t)wsql_nprepared() + 1, sizeof(*sl))) == NULL)
		die("out of memory");
	for (int t = 0; t < wsql_nprepared(); t++) {
		char *c = wsql_stage_create(t), *u = wsql_stage_upsert(t);

		if (c == NULL || u == NULL)
			die("out of memory");
		PQclear(ceil_ok(conn, PQexec(conn, c), c));
		snprintf(name, sizeof(name), "ceiling_%d", t);
		PQclear(ceil_ok(conn, PQprepare(conn, name, u, 0, NULL), u));
		free(c);
		free(u);
	}
	/* The rows of each batch as COPY text, untimed. */
	for (size_t b = 0; b < nb; b++) {
		wsql_reset(w);
		for (size_t i = b * batch; i < ds.n && i < (b + 1) * batch; i++)
			if (wsql_add(w, &ds.ev[i]) == -1)
				die("ceiling: cannot build the rows of event %zu", i);
		for (int t = 0; t < wsql_nprepared(); t++)
			if (wsql_rows(w, t) > 0) {
				rows += wsql_rows(w, t);
				ceil_copy_out(conn, w, t, &sl[nl++]);
			}
		sl[nl++].t = -1;	/* the end of a batch */
	}
	t0 = clock_mono_us() / 1e6;
	for (size_t k = 0; k < nl; ) {
		size_t first = k;
		char cmd[128];

		PQclear(ceil_ok(conn, PQexec(conn, "BEGIN"), "BEGIN"));
		for (; sl[k].t >= 0; k++) {
			snprintf(cmd, sizeof(cmd), "COPY %s FROM STDIN", wsql_stage_name(sl[k].t));
			PQclear(ceil_ok(conn, PQexec(conn, cmd), cmd));
			if (PQputCopyData(conn, sl[k].data, (int)sl[k].len) != 1 ||
			    PQputCopyEnd(conn, NULL) != 1)
				die("ceiling: COPY: %s", PQerrorMessage(conn));
			PQclear(ceil_ok(conn, PQgetResult(conn), "COPY FROM end"));
		}
		for (size_t j = first; j < k; j++) {
			snprintf(name, sizeof(name), "ceiling_%d", sl[j].t);
			PQclear(ceil_ok(conn, PQexecPrepared(conn, name, 0, NULL, NULL, NULL, 0),
			    name));
		}
		PQclear(ceil_ok(conn, PQexec(conn, "COMMIT"), "COMMIT"));
		k++;	/* past the end mark */
	}
	el = clock_mono_us() / 1e6 - t0;
	printf("ceiling events %zu rows %zu batch %zu elapsed_ms %.0f events_per_s %.0f "
	    "rows_per_s %.0f\n", ds.n, rows, batch, el * 1000, el > 0 ? (double)ds.n / el : 0,
	    el > 0 ? (double)rows / el : 0);
	for (size_t k = 0; k < nl; k++)
		free(sl[k].data);
	free(sl);
	wsql_free(w);
	PQfinish(conn);
	return 0;
}

/* The writer's transaction for all the events, as one batch: to read or to time. */
static int
run_sql(void)
{
	struct wsql *w = wsql_new();
	char *sql;

	if (w == NULL)
		die("out of memory");
	for (size_t i = 0; i < ds.n; i++)
		if (wsql_add(w, &ds.ev[i]) == -1)
			die("cannot build the rows of event %zu", i);
	if ((sql = wsql_script(w, NULL)) == NULL)
		die("out of memory");
	fputs(sql, stdout);
	free(sql);
	wsql_free(w);
	return 0;
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: dpsend -s SOCKET [-r ROLE] [-i INSTANCE] [-b EVENTS_PER_FRAME] [-w WINDOW]\n"
	    "              [-t TIMEOUT_S] [-R EVENTS_PER_S] [-v] (-f FILE | [-M] -g N [-k ACCOUNTS] [-S SEED])\n"
	    "       dpsend -s SOCKET --bad\n"
	    "       dpsend --naive CONNINFO (-f FILE | -g N [-k ACCOUNTS])\n"
	    "       dpsend --ceiling CONNINFO [-b BATCH] (-f FILE | -g N [-k ACCOUNTS])\n"
	    "       dpsend --sql (-f FILE | -g N [-k ACCOUNTS])\n");
	exit(64);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "bad", no_argument, NULL, 'B' },
		{ "user-offset", required_argument, NULL, 'U' },
		{ "naive", required_argument, NULL, 'N' },
		{ "ceiling", required_argument, NULL, 'C' },
		{ "time-base", required_argument, NULL, 'T' },
		{ "sql", no_argument, NULL, 'Q' },
		{ NULL, 0, NULL, 0 }
	};
	const char *file = NULL, *naive = NULL, *ceiling = NULL;
	size_t gen = 0;
	int64_t accounts = 2;
	uint64_t seed = 0;
	int bad = 0, sql = 0, market = 0, c;

	signal(SIGPIPE, SIG_IGN);
	while ((c = getopt_long(argc, argv, "s:r:i:b:w:t:R:vf:g:k:S:M", longopts, NULL)) != -1) {
		switch (c) {
		case 's': ds.sock = optarg; break;
		case 'r': ds.role = optarg; break;
		case 'i': ds.instance = strtoll(optarg, NULL, 10); break;
		case 'b': ds.frame_events = strtoul(optarg, NULL, 10); frames_given = 1; break;
		case 'w': ds.window = strtoul(optarg, NULL, 10); break;
		case 't': ds.timeout_s = strtod(optarg, NULL); break;
		case 'R': ds.rate = strtod(optarg, NULL); break;
		case 'v': ds.verbose = 1; break;
		case 'f': file = optarg; break;
		case 'g': gen = strtoul(optarg, NULL, 10); break;
		case 'k': accounts = strtoll(optarg, NULL, 10); break;
		case 'S': seed = strtoull(optarg, NULL, 10); break;
		case 'M': market = 1; break;
		case 'B': bad = 1; break;
		case 'U': user_offset = strtoll(optarg, NULL, 10); break;
		case 'N': naive = optarg; break;
		case 'C': ceiling = optarg; break;
		case 'T': time_base = strtoll(optarg, NULL, 10); break;
		case 'Q': sql = 1; break;
		default: usage();
		}
	}
	if (optind != argc || ds.frame_events == 0 || ds.window == 0 || accounts < 1)
		usage();
	if (bad) {
		if (ds.sock == NULL)
			usage();
		return run_bad();
	}
	if ((file == NULL) == (gen == 0) || (naive == NULL && ceiling == NULL && !sql &&
	    ds.sock == NULL))
		usage();
	if (file)
		read_json(file);
	else if (market)
		generate_market(gen, accounts, seed);
	else
		generate(gen, accounts, seed);
	if (sql)
		return run_sql();
	if (naive)
		return run_naive(naive);
	if (ceiling)
		return run_ceiling(ceiling);
	return run_sender();
}
