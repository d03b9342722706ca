/*
 * binance_futures.c: Binance USDⓈ-M futures user data, JSON → normalized
 * events: private-stream frames (FACTS §1.3) and the REST snapshot bodies a
 * resync fetches (FACTS §1.6).  No I/O here.
 *
 * Keys are looked up case-sensitively only: Binance keys differ only in case
 * (e/E, s/S, x/X, t/T).  Ids and times are JSON integers, read as doubles
 * and accepted only when integral and below 2^53; decimals are JSON strings
 * copied verbatim after a syntax check, so nothing is ever rounded.  A frame
 * is turned into all of its events before the first is emitted: a frame with
 * one bad field emits nothing.
 *
 * Fields treated as optional (absent or null takes the default), because a
 * fixture or the documentation shows them missing from some frames:
 *   ORDER_TRADE_UPDATE o: ot (= o), cp (false), n ("0"), N (""), rp ("0")
 *     ("n"/"N" are not pushed when there is no commission)
 *   ACCOUNT_UPDATE: a.B and a.P (empty); B[].bc ("0"); P[].bep ("0"),
 *     P[].ma ("": the documentation example omits it, real frames carry it)
 *   MARGIN_CALL: p (empty: one event with symbol "")
 *   ACCOUNT_CONFIG_UPDATE: ac and ai, but one of them must be there
 *   ALGO_UPDATE o: ai (""), ap, aq, tp, p ("0"), R, cp (false), rm ("")
 *   unknown event types: E (0)
 *   positionRisk: breakEvenPrice ("0"), marginType (v3 has none: "isolated"
 *     when isolatedWallet is positive, else "cross"), marginAsset ("")
 *   openAlgoOrders, algoOrder, allAlgoOrders: positionSide ("BOTH"), timeInForce (""), quantity,
 *     actualPrice, executedQty, triggerPrice, price ("0"), actualOrderId (""),
 *     reduceOnly, closePosition (false)
 * Everything else the mapping reads is required.
 */
#include "autoconf.h"

#include <ctype.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "event.h"
#include "exchanges/binance_futures.h"

#define BF_EXCHANGE	"binance-futures"
#define BF_INT_MAX	9007199254740991.0	/* 2^53 - 1: doubles are exact up to here */

/* The worker is single-threaded: one error buffer and one event batch. */
static char bf_errbuf[256];

static struct {
	struct event	*ev;
	size_t		 n;
	size_t		 cap;
} batch;

/* Where a field is, for error messages: "ORDER_TRADE_UPDATE: o.z: ...". */
struct jctx {
	const char	*what;		/* event type, or "GET /fapi/..." */
	char		 path[48];	/* "o.", "a.B[2].", "[0]." */
	const char	**err;
};

static int
jfail(struct jctx *c, const char *key, const char *why)
{
	size_t n = strlen(c->path);

	/* A row itself ("a.B[1]") rather than one of its keys ("a.B[1].wb"). */
	if (*key == '\0' && n > 0 && c->path[n - 1] == '.')
		n--;
	snprintf(bf_errbuf, sizeof(bf_errbuf), "%s: %.*s%s: %s", c->what, (int)n, c->path,
	    key, why);
	if (c->err != NULL)
		*c->err = bf_errbuf;
	return -1;
}

static int
fail(const char **err, const char *msg)
{
	if (err != NULL)
		*err = msg;
	return -1;
}

/* The path of row idx of array key under prefix: "a.B[2]." */
static void
jpath(struct jctx *c, const char *prefix, const char *key, int idx)
{
	snprintf(c->path, sizeof(c->path), "%s%s[%d].", prefix, key, idx);
}

/* A member, with JSON null taken as absent. */
static const cJSON *
jget(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	return v == NULL || cJSON_IsNull(v) ? NULL : v;
}

/*
 * Parse exactly buf[0..len): cJSON's own "require null terminated" wants
 * the NUL inside len, so check for trailing garbage here.
 */
static cJSON *
jparse(const char *buf, size_t len)
{
	const char *end = NULL;
	cJSON *root = cJSON_ParseWithLengthOpts(buf, len, &end, 0);

	if (root == NULL)
		return NULL;
	while (end != NULL && end < buf + len &&
	    (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r'))
		end++;
	if (end == NULL || end != buf + len) {
		cJSON_Delete(root);
		return NULL;
	}
	return root;
}

/* Exchange decimals: [-]digits[.digits], at least one digit, nothing else. */
static int
is_decimal(const char *s)
{
	size_t n;

	if (*s == '-')
		s++;
	n = strspn(s, "0123456789");
	s += n;
	if (*s == '.') {
		size_t m = strspn(s + 1, "0123456789");

		if (m == 0 && n == 0)
			return 0;
		s += 1 + m;
	} else if (n == 0)
		return 0;
	return *s == '\0';
}

/* A decimal string greater than zero. */
static int
dec_positive(const char *s)
{
	return *s != '-' && strpbrk(s, "123456789") != NULL;
}

static int
get_i64(struct jctx *c, const cJSON *v, const char *key, int64_t *out)
{
	double d;

	if (!cJSON_IsNumber(v))
		return jfail(c, key, "expected an integer");
	d = v->valuedouble;
	if (!(d >= -BF_INT_MAX && d <= BF_INT_MAX))
		return jfail(c, key, "integer out of range (|n| >= 2^53)");
	if (d != trunc(d))
		return jfail(c, key, "expected an integer, got a fraction");
	*out = (int64_t)d;
	return 0;
}

static int
copy_str(struct jctx *c, const char *key, const char *s, char *dst, size_t n)
{
	size_t len = strlen(s);

	if (len >= n)
		return jfail(c, key, "string too long");
	memcpy(dst, s, len + 1);
	return 0;
}

enum jkind {
	J_STR,		/* string, copied */
	J_LOWER,	/* string, copied in lower case (margin types) */
	J_DEC,		/* decimal string, copied */
	J_TEXT,		/* free text, cut at the size on a UTF-8 boundary */
	J_ID,		/* string, or an integer written in decimal */
	J_I64,		/* integer below 2^53 */
	J_BOOL		/* boolean */
};

#define REQ	1
#define OPT	0

struct jfield {
	const char	*key;
	enum jkind	 kind;
	int		 req;
	size_t		 off;
	size_t		 size;
	const char	*dflt;	/* strings: value when absent; J_BOOL: non-NULL = true */
};

#define JF(type, key, kind, req, member, dflt) \
	{ key, kind, req, offsetof(type, member), sizeof(((type *)0)->member), dflt }

static int
jfield(struct jctx *c, const cJSON *obj, const struct jfield *f, void *base)
{
	char *dst = (char *)base + f->off;
	const cJSON *v = jget(obj, f->key);
	size_t len;

	if (v == NULL) {
		if (f->req)
			return jfail(c, f->key, "missing");
		switch (f->kind) {
		case J_I64:
			*(int64_t *)(void *)dst = 0;
			break;
		case J_BOOL:
			*(bool *)dst = f->dflt != NULL;
			break;
		default:
			snprintf(dst, f->size, "%s", f->dflt != NULL ? f->dflt : "");
			break;
		}
		return 0;
	}
	switch (f->kind) {
	case J_STR:
	case J_LOWER:
	case J_DEC:
		if (!cJSON_IsString(v))
			return jfail(c, f->key, "expected a string");
		if (f->kind == J_DEC && !is_decimal(v->valuestring))
			return jfail(c, f->key, "not a decimal number");
		if (copy_str(c, f->key, v->valuestring, dst, f->size) == -1)
			return -1;
		if (f->kind == J_LOWER)
			for (; *dst != '\0'; dst++)
				*dst = (char)tolower((unsigned char)*dst);
		return 0;
	case J_TEXT:
		if (!cJSON_IsString(v))
			return jfail(c, f->key, "expected a string");
		len = strlen(v->valuestring);
		if (len >= f->size) {
			len = f->size - 1;
			while (len > 0 && ((unsigned char)v->valuestring[len] & 0xc0) == 0x80)
				len--;
		}
		memcpy(dst, v->valuestring, len);
		dst[len] = '\0';
		return 0;
	case J_ID:
		if (cJSON_IsString(v))
			return copy_str(c, f->key, v->valuestring, dst, f->size);
		if (cJSON_IsNumber(v)) {
			int64_t id;

			if (get_i64(c, v, f->key, &id) == -1)
				return -1;
			snprintf(dst, f->size, "%" PRId64, id);
			return 0;
		}
		return jfail(c, f->key, "expected a string or an integer");
	case J_I64:
		return get_i64(c, v, f->key, (int64_t *)(void *)dst);
	case J_BOOL:
		if (!cJSON_IsBool(v))
			return jfail(c, f->key, "expected a boolean");
		*(bool *)dst = cJSON_IsTrue(v);
		return 0;
	}
	return jfail(c, f->key, "bad field kind");
}

static int
jfields(struct jctx *c, const cJSON *obj, const struct jfield *f, size_t n, void *base)
{
	for (size_t i = 0; i < n; i++)
		if (jfield(c, obj, &f[i], base) == -1)
			return -1;
	return 0;
}

#define NFIELDS(a)	(sizeof(a) / sizeof((a)[0]))

/* One member that must be (req) or may be an object/array; *out NULL if absent. */
static int
jsub(struct jctx *c, const cJSON *obj, const char *key, int req, int array, const cJSON **out)
{
	const cJSON *v = jget(obj, key);

	*out = NULL;
	if (v == NULL)
		return req ? jfail(c, key, "missing") : 0;
	if (array ? !cJSON_IsArray(v) : !cJSON_IsObject(v))
		return jfail(c, key, array ? "expected an array" : "expected an object");
	*out = v;
	return 0;
}

/* ------------------------------------------------------------ field tables */

/* ORDER_TRADE_UPDATE o → ev_order */
static const struct jfield otu_order[] = {
	JF(struct ev_order, "s", J_STR, REQ, symbol, NULL),
	JF(struct ev_order, "c", J_STR, REQ, client_id, NULL),
	JF(struct ev_order, "S", J_STR, REQ, side, NULL),
	JF(struct ev_order, "o", J_STR, REQ, type, NULL),
	JF(struct ev_order, "f", J_STR, REQ, tif, NULL),
	JF(struct ev_order, "q", J_DEC, REQ, orig_qty, NULL),
	JF(struct ev_order, "p", J_DEC, REQ, price, NULL),
	JF(struct ev_order, "ap", J_DEC, REQ, avg_price, NULL),
	JF(struct ev_order, "sp", J_DEC, REQ, stop_price, NULL),
	JF(struct ev_order, "x", J_STR, REQ, exec_type, NULL),
	JF(struct ev_order, "X", J_STR, REQ, status, NULL),
	JF(struct ev_order, "i", J_I64, REQ, order_id, NULL),
	JF(struct ev_order, "z", J_DEC, REQ, filled_qty, NULL),
	JF(struct ev_order, "T", J_I64, REQ, update_time, NULL),
	JF(struct ev_order, "R", J_BOOL, REQ, reduce_only, NULL),
	JF(struct ev_order, "ot", J_STR, OPT, orig_type, NULL),
	JF(struct ev_order, "ps", J_STR, REQ, position_side, NULL),
	JF(struct ev_order, "cp", J_BOOL, OPT, close_position, NULL),
};

/* ORDER_TRADE_UPDATE o → ev_fill (read on every update, emitted on a fill) */
static const struct jfield otu_fill[] = {
	JF(struct ev_fill, "t", J_I64, REQ, trade_id, NULL),
	JF(struct ev_fill, "i", J_I64, REQ, order_id, NULL),
	JF(struct ev_fill, "s", J_STR, REQ, symbol, NULL),
	JF(struct ev_fill, "S", J_STR, REQ, side, NULL),
	JF(struct ev_fill, "ps", J_STR, REQ, position_side, NULL),
	JF(struct ev_fill, "L", J_DEC, REQ, price, NULL),
	JF(struct ev_fill, "l", J_DEC, REQ, qty, NULL),
	JF(struct ev_fill, "n", J_DEC, OPT, fee, "0"),
	JF(struct ev_fill, "N", J_STR, OPT, fee_asset, ""),
	JF(struct ev_fill, "rp", J_DEC, OPT, realized_pnl, "0"),
	JF(struct ev_fill, "m", J_BOOL, REQ, maker, NULL),
	JF(struct ev_fill, "T", J_I64, REQ, time, NULL),
};

/* TRADE_LITE → ev_fill */
static const struct jfield lite_fill[] = {
	JF(struct ev_fill, "t", J_I64, REQ, trade_id, NULL),
	JF(struct ev_fill, "i", J_I64, REQ, order_id, NULL),
	JF(struct ev_fill, "s", J_STR, REQ, symbol, NULL),
	JF(struct ev_fill, "S", J_STR, REQ, side, NULL),
	JF(struct ev_fill, "L", J_DEC, REQ, price, NULL),
	JF(struct ev_fill, "l", J_DEC, REQ, qty, NULL),
	JF(struct ev_fill, "m", J_BOOL, REQ, maker, NULL),
	JF(struct ev_fill, "T", J_I64, REQ, time, NULL),
};

/* ACCOUNT_UPDATE a.B[] → ev_balance */
static const struct jfield au_balance[] = {
	JF(struct ev_balance, "a", J_STR, REQ, asset, NULL),
	JF(struct ev_balance, "wb", J_DEC, REQ, wallet, NULL),
	JF(struct ev_balance, "cw", J_DEC, REQ, cross_wallet, NULL),
	JF(struct ev_balance, "bc", J_DEC, OPT, change, "0"),
};

/* ACCOUNT_UPDATE a.P[] → ev_position */
static const struct jfield au_position[] = {
	JF(struct ev_position, "s", J_STR, REQ, symbol, NULL),
	JF(struct ev_position, "pa", J_DEC, REQ, amount, NULL),
	JF(struct ev_position, "ep", J_DEC, REQ, entry_price, NULL),
	JF(struct ev_position, "bep", J_DEC, OPT, breakeven_price, "0"),
	JF(struct ev_position, "up", J_DEC, REQ, unrealized_pnl, NULL),
	JF(struct ev_position, "mt", J_LOWER, REQ, margin_type, NULL),
	JF(struct ev_position, "iw", J_DEC, REQ, isolated_wallet, NULL),
	JF(struct ev_position, "ps", J_STR, REQ, position_side, NULL),
	JF(struct ev_position, "ma", J_STR, OPT, margin_asset, ""),
};

/* MARGIN_CALL p[] → ev_margin_call; mt kept as received ("CROSSED") */
static const struct jfield mc_position[] = {
	JF(struct ev_margin_call, "s", J_STR, REQ, symbol, NULL),
	JF(struct ev_margin_call, "ps", J_STR, REQ, position_side, NULL),
	JF(struct ev_margin_call, "pa", J_DEC, REQ, amount, NULL),
	JF(struct ev_margin_call, "mt", J_STR, REQ, margin_type, NULL),
	JF(struct ev_margin_call, "iw", J_DEC, REQ, isolated_wallet, NULL),
	JF(struct ev_margin_call, "mp", J_DEC, REQ, mark_price, NULL),
	JF(struct ev_margin_call, "up", J_DEC, REQ, unrealized_pnl, NULL),
	JF(struct ev_margin_call, "mm", J_DEC, REQ, maint_margin, NULL),
};

/* ALGO_UPDATE o → ev_algo */
static const struct jfield algo_stream[] = {
	JF(struct ev_algo, "caid", J_STR, REQ, client_id, NULL),
	JF(struct ev_algo, "aid", J_I64, REQ, algo_id, NULL),
	JF(struct ev_algo, "at", J_STR, REQ, algo_type, NULL),
	JF(struct ev_algo, "o", J_STR, REQ, type, NULL),
	JF(struct ev_algo, "s", J_STR, REQ, symbol, NULL),
	JF(struct ev_algo, "S", J_STR, REQ, side, NULL),
	JF(struct ev_algo, "ps", J_STR, REQ, position_side, NULL),
	JF(struct ev_algo, "f", J_STR, REQ, tif, NULL),
	JF(struct ev_algo, "q", J_DEC, REQ, qty, NULL),
	JF(struct ev_algo, "X", J_STR, REQ, status, NULL),
	JF(struct ev_algo, "ai", J_ID, OPT, actual_order_id, ""),
	JF(struct ev_algo, "ap", J_DEC, OPT, avg_price, "0"),
	JF(struct ev_algo, "aq", J_DEC, OPT, filled_qty, "0"),
	JF(struct ev_algo, "tp", J_DEC, OPT, trigger_price, "0"),
	JF(struct ev_algo, "p", J_DEC, OPT, price, "0"),
	JF(struct ev_algo, "R", J_BOOL, OPT, reduce_only, NULL),
	JF(struct ev_algo, "cp", J_BOOL, OPT, close_position, NULL),
	JF(struct ev_algo, "rm", J_TEXT, OPT, reject_reason, ""),
};

/* GET /fapi/v3/balance rows → ev_balance */
static const struct jfield rest_balance[] = {
	JF(struct ev_balance, "asset", J_STR, REQ, asset, NULL),
	JF(struct ev_balance, "balance", J_DEC, REQ, wallet, NULL),
	JF(struct ev_balance, "crossWalletBalance", J_DEC, REQ, cross_wallet, NULL),
	JF(struct ev_balance, "updateTime", J_I64, REQ, update_time, NULL),
};

/* GET /fapi/v3/positionRisk rows → ev_position */
static const struct jfield rest_position[] = {
	JF(struct ev_position, "symbol", J_STR, REQ, symbol, NULL),
	JF(struct ev_position, "positionSide", J_STR, REQ, position_side, NULL),
	JF(struct ev_position, "positionAmt", J_DEC, REQ, amount, NULL),
	JF(struct ev_position, "entryPrice", J_DEC, REQ, entry_price, NULL),
	JF(struct ev_position, "breakEvenPrice", J_DEC, OPT, breakeven_price, "0"),
	JF(struct ev_position, "unRealizedProfit", J_DEC, REQ, unrealized_pnl, NULL),
	JF(struct ev_position, "marginType", J_LOWER, OPT, margin_type, ""),
	JF(struct ev_position, "isolatedWallet", J_DEC, REQ, isolated_wallet, NULL),
	JF(struct ev_position, "marginAsset", J_STR, OPT, margin_asset, ""),
	JF(struct ev_position, "updateTime", J_I64, REQ, update_time, NULL),
};

/* GET /fapi/v1/openOrders, allOrders, order → ev_order */
static const struct jfield rest_order[] = {
	JF(struct ev_order, "orderId", J_I64, REQ, order_id, NULL),
	JF(struct ev_order, "symbol", J_STR, REQ, symbol, NULL),
	JF(struct ev_order, "clientOrderId", J_STR, REQ, client_id, NULL),
	JF(struct ev_order, "side", J_STR, REQ, side, NULL),
	JF(struct ev_order, "positionSide", J_STR, REQ, position_side, NULL),
	JF(struct ev_order, "type", J_STR, REQ, type, NULL),
	JF(struct ev_order, "origType", J_STR, REQ, orig_type, NULL),
	JF(struct ev_order, "timeInForce", J_STR, REQ, tif, NULL),
	JF(struct ev_order, "status", J_STR, REQ, status, NULL),
	JF(struct ev_order, "price", J_DEC, REQ, price, NULL),
	JF(struct ev_order, "avgPrice", J_DEC, REQ, avg_price, NULL),
	JF(struct ev_order, "stopPrice", J_DEC, REQ, stop_price, NULL),
	JF(struct ev_order, "origQty", J_DEC, REQ, orig_qty, NULL),
	JF(struct ev_order, "executedQty", J_DEC, REQ, filled_qty, NULL),
	JF(struct ev_order, "reduceOnly", J_BOOL, REQ, reduce_only, NULL),
	JF(struct ev_order, "closePosition", J_BOOL, REQ, close_position, NULL),
	JF(struct ev_order, "updateTime", J_I64, REQ, update_time, NULL),
};

/* GET /fapi/v1/openAlgoOrders rows → ev_algo */
static const struct jfield rest_algo[] = {
	JF(struct ev_algo, "algoId", J_I64, REQ, algo_id, NULL),
	JF(struct ev_algo, "clientAlgoId", J_STR, REQ, client_id, NULL),
	JF(struct ev_algo, "algoType", J_STR, REQ, algo_type, NULL),
	JF(struct ev_algo, "orderType", J_STR, REQ, type, NULL),
	JF(struct ev_algo, "symbol", J_STR, REQ, symbol, NULL),
	JF(struct ev_algo, "side", J_STR, REQ, side, NULL),
	JF(struct ev_algo, "positionSide", J_STR, OPT, position_side, "BOTH"),
	JF(struct ev_algo, "timeInForce", J_STR, OPT, tif, ""),
	JF(struct ev_algo, "quantity", J_DEC, OPT, qty, "0"),
	JF(struct ev_algo, "algoStatus", J_STR, REQ, status, NULL),
	JF(struct ev_algo, "actualOrderId", J_ID, OPT, actual_order_id, ""),
	JF(struct ev_algo, "actualPrice", J_DEC, OPT, avg_price, "0"),
	JF(struct ev_algo, "executedQty", J_DEC, OPT, filled_qty, "0"),
	JF(struct ev_algo, "triggerPrice", J_DEC, OPT, trigger_price, "0"),
	JF(struct ev_algo, "price", J_DEC, OPT, price, "0"),
	JF(struct ev_algo, "reduceOnly", J_BOOL, OPT, reduce_only, NULL),
	JF(struct ev_algo, "closePosition", J_BOOL, OPT, close_position, NULL),
	JF(struct ev_algo, "updateTime", J_I64, REQ, update_time, NULL),
};

/* GET /fapi/v1/symbolConfig rows → ev_config (leverage read in rest_row) */
static const struct jfield rest_symbol_config[] = {
	JF(struct ev_config, "symbol", J_STR, REQ, symbol, NULL),
};

/* GET /fapi/v1/userTrades rows → ev_fill */
static const struct jfield rest_fill[] = {
	JF(struct ev_fill, "id", J_I64, REQ, trade_id, NULL),
	JF(struct ev_fill, "orderId", J_I64, REQ, order_id, NULL),
	JF(struct ev_fill, "symbol", J_STR, REQ, symbol, NULL),
	JF(struct ev_fill, "side", J_STR, REQ, side, NULL),
	JF(struct ev_fill, "positionSide", J_STR, REQ, position_side, NULL),
	JF(struct ev_fill, "price", J_DEC, REQ, price, NULL),
	JF(struct ev_fill, "qty", J_DEC, REQ, qty, NULL),
	JF(struct ev_fill, "commission", J_DEC, REQ, fee, NULL),
	JF(struct ev_fill, "commissionAsset", J_STR, REQ, fee_asset, NULL),
	JF(struct ev_fill, "maker", J_BOOL, REQ, maker, NULL),
	JF(struct ev_fill, "realizedPnl", J_DEC, REQ, realized_pnl, NULL),
	JF(struct ev_fill, "time", J_I64, REQ, time, NULL),
};

/* ------------------------------------------------------------- the batch */

struct bctx {
	struct jctx		 j;
	const struct ev_origin	*org;
	unsigned		 flags;
	int64_t			 event_time;
};

static void
batch_reset(void)
{
	for (size_t i = 0; i < batch.n; i++)
		ev_clear(&batch.ev[i]);
	batch.n = 0;
}

/* A new event in the batch with the origin's header, or NULL (out of memory). */
static struct event *
batch_add(struct bctx *b, enum ev_type type)
{
	struct event *ev;

	if (batch.n == batch.cap) {
		size_t cap = batch.cap ? batch.cap * 2 : 16;
		struct event *p = realloc(batch.ev, cap * sizeof(*p));

		if (p == NULL) {
			jfail(&b->j, "", "out of memory");
			return NULL;
		}
		batch.ev = p;
		batch.cap = cap;
	}
	ev = &batch.ev[batch.n++];
	memset(ev, 0, sizeof(*ev));
	ev->type = type;
	ev->flags = (uint8_t)b->flags;
	ev->account_id = b->org->account_id;
	ev->user_id = b->org->user_id;
	ev->recv_us = b->org->recv_us;
	ev->event_time = b->event_time;
	_Static_assert(sizeof(BF_EXCHANGE) <= sizeof(ev->exchange), "exchange name too long");
	memcpy(ev->exchange, BF_EXCHANGE, sizeof(BF_EXCHANGE));
	return ev;
}

/* Give every event of the batch its id and emit it; returns the count. */
static int
batch_emit(ev_emit_fn emit, void *arg)
{
	size_t n = batch.n;

	for (size_t i = 0; i < n; i++) {
		ev_make_id(&batch.ev[i]);
		emit(&batch.ev[i], arg);
	}
	batch_reset();
	return (int)n;
}

/* ------------------------------------------------------- stream frames */

static int
top_i64(struct bctx *b, const cJSON *obj, const char *key, int64_t *out)
{
	const cJSON *v = jget(obj, key);

	if (v == NULL)
		return jfail(&b->j, key, "missing");
	return get_i64(&b->j, v, key, out);
}

static int
bf_order_trade_update(struct bctx *b, const cJSON *data)
{
	const cJSON *o;
	struct ev_order order;
	struct ev_fill fill;
	struct event *ev;
	int is_fill;

	if (jsub(&b->j, data, "o", REQ, 0, &o) == -1)
		return -1;
	snprintf(b->j.path, sizeof(b->j.path), "o.");
	memset(&order, 0, sizeof(order));
	memset(&fill, 0, sizeof(fill));
	if (jfields(&b->j, o, otu_order, NFIELDS(otu_order), &order) == -1 ||
	    jfields(&b->j, o, otu_fill, NFIELDS(otu_fill), &fill) == -1)
		return -1;
	if (order.orig_type[0] == '\0')
		memcpy(order.orig_type, order.type, sizeof(order.orig_type));
	if ((ev = batch_add(b, EV_ORDER)) == NULL)
		return -1;
	ev->u.order = order;
	/* A liquidation (CALCULATED) is a fill when it filled something. */
	is_fill = strcmp(order.exec_type, "TRADE") == 0 ||
	    (strcmp(order.exec_type, "CALCULATED") == 0 && dec_positive(fill.qty));
	if (is_fill) {
		if ((ev = batch_add(b, EV_FILL)) == NULL)
			return -1;
		ev->u.fill = fill;
	}
	return 0;
}

static int
bf_trade_lite(struct bctx *b, const cJSON *data)
{
	struct event *ev;

	if ((ev = batch_add(b, EV_FILL)) == NULL)
		return -1;
	ev->flags |= EVF_LITE;
	/* position side, fee, fee asset and PnL stay "": TRADE_LITE lacks them */
	return jfields(&b->j, data, lite_fill, NFIELDS(lite_fill), &ev->u.fill);
}

static int
bf_account_update(struct bctx *b, const cJSON *data)
{
	const cJSON *a, *arr, *row, *m;
	struct event *ev;
	int64_t t;
	int i;

	if (top_i64(b, data, "T", &t) == -1 ||
	    jsub(&b->j, data, "a", REQ, 0, &a) == -1)
		return -1;
	snprintf(b->j.path, sizeof(b->j.path), "a.");
	if ((m = jget(a, "m")) == NULL)
		return jfail(&b->j, "m", "missing");
	if (!cJSON_IsString(m))
		return jfail(&b->j, "m", "expected a string");
	if (strlen(m->valuestring) >= EV_WORD)
		return jfail(&b->j, "m", "string too long");
	if (jsub(&b->j, a, "B", OPT, 1, &arr) == -1)
		return -1;
	i = 0;
	cJSON_ArrayForEach(row, arr) {
		jpath(&b->j, "a.", "B", i++);
		if (!cJSON_IsObject(row))
			return jfail(&b->j, "", "expected an object");
		if ((ev = batch_add(b, EV_BALANCE)) == NULL ||
		    jfields(&b->j, row, au_balance, NFIELDS(au_balance), &ev->u.balance) == -1)
			return -1;
		memcpy(ev->u.balance.reason, m->valuestring, strlen(m->valuestring) + 1);
		ev->u.balance.update_time = t;
	}
	snprintf(b->j.path, sizeof(b->j.path), "a.");
	if (jsub(&b->j, a, "P", OPT, 1, &arr) == -1)
		return -1;
	i = 0;
	cJSON_ArrayForEach(row, arr) {
		jpath(&b->j, "a.", "P", i++);
		if (!cJSON_IsObject(row))
			return jfail(&b->j, "", "expected an object");
		if ((ev = batch_add(b, EV_POSITION)) == NULL ||
		    jfields(&b->j, row, au_position, NFIELDS(au_position), &ev->u.position) == -1)
			return -1;
		ev->u.position.update_time = t;
	}
	return 0;
}

static int
bf_margin_call(struct bctx *b, const cJSON *data)
{
	const struct jfield cw = JF(struct ev_margin_call, "cw", J_DEC, REQ, cross_wallet, NULL);
	struct ev_margin_call call;
	const cJSON *arr, *row;
	struct event *ev;
	int i = 0;

	memset(&call, 0, sizeof(call));
	if (jfield(&b->j, data, &cw, &call) == -1 ||
	    jsub(&b->j, data, "p", OPT, 1, &arr) == -1)
		return -1;
	cJSON_ArrayForEach(row, arr) {
		jpath(&b->j, "", "p", i++);
		if (!cJSON_IsObject(row))
			return jfail(&b->j, "", "expected an object");
		if ((ev = batch_add(b, EV_MARGIN_CALL)) == NULL)
			return -1;
		ev->u.margin_call = call;
		if (jfields(&b->j, row, mc_position, NFIELDS(mc_position),
		    &ev->u.margin_call) == -1)
			return -1;
	}
	if (i == 0) {
		if ((ev = batch_add(b, EV_MARGIN_CALL)) == NULL)
			return -1;
		ev->u.margin_call = call;
	}
	return 0;
}

static int
bf_account_config_update(struct bctx *b, const cJSON *data)
{
	const cJSON *ac, *ai, *v;
	struct event *ev;
	int64_t t, lev;

	if (top_i64(b, data, "T", &t) == -1 ||
	    jsub(&b->j, data, "ac", OPT, 0, &ac) == -1 ||
	    jsub(&b->j, data, "ai", OPT, 0, &ai) == -1)
		return -1;
	if (ac == NULL && ai == NULL)
		return jfail(&b->j, "ac", "missing, and no ai either");
	if (ac != NULL) {
		snprintf(b->j.path, sizeof(b->j.path), "ac.");
		if ((ev = batch_add(b, EV_CONFIG)) == NULL)
			return -1;
		if ((v = jget(ac, "s")) == NULL)
			return jfail(&b->j, "s", "missing");
		if (!cJSON_IsString(v))
			return jfail(&b->j, "s", "expected a string");
		if (copy_str(&b->j, "s", v->valuestring, ev->u.config.symbol,
		    sizeof(ev->u.config.symbol)) == -1)
			return -1;
		if ((v = jget(ac, "l")) == NULL)
			return jfail(&b->j, "l", "missing");
		if (get_i64(&b->j, v, "l", &lev) == -1)
			return -1;
		if (lev < 0 || lev > INT_MAX)
			return jfail(&b->j, "l", "leverage out of range");
		ev->u.config.leverage = (int)lev;
		ev->u.config.multi_assets = -1;
		ev->u.config.update_time = t;
	}
	if (ai != NULL) {
		snprintf(b->j.path, sizeof(b->j.path), "ai.");
		if ((ev = batch_add(b, EV_CONFIG)) == NULL)
			return -1;
		if ((v = jget(ai, "j")) == NULL)
			return jfail(&b->j, "j", "missing");
		if (!cJSON_IsBool(v))
			return jfail(&b->j, "j", "expected a boolean");
		ev->u.config.symbol[0] = '\0';
		ev->u.config.leverage = -1;
		ev->u.config.multi_assets = cJSON_IsTrue(v) ? 1 : 0;
		ev->u.config.update_time = t;
	}
	return 0;
}

static int
bf_algo_update(struct bctx *b, const cJSON *data)
{
	const cJSON *o;
	struct event *ev;
	int64_t t;

	if (top_i64(b, data, "T", &t) == -1 ||
	    jsub(&b->j, data, "o", REQ, 0, &o) == -1)
		return -1;
	snprintf(b->j.path, sizeof(b->j.path), "o.");
	if ((ev = batch_add(b, EV_ALGO)) == NULL ||
	    jfields(&b->j, o, algo_stream, NFIELDS(algo_stream), &ev->u.algo) == -1)
		return -1;
	ev->u.algo.update_time = t;
	return 0;
}

static const struct {
	const char	*name;
	int		(*fn)(struct bctx *, const cJSON *);
} bf_types[] = {
	{ "ORDER_TRADE_UPDATE", bf_order_trade_update },
	{ "TRADE_LITE", bf_trade_lite },
	{ "ACCOUNT_UPDATE", bf_account_update },
	{ "MARGIN_CALL", bf_margin_call },
	{ "ACCOUNT_CONFIG_UPDATE", bf_account_config_update },
	{ "ALGO_UPDATE", bf_algo_update },
};

#define BF_EXPIRED	"listenKeyExpired"

static int
known_type(const char *e)
{
	for (size_t i = 0; i < NFIELDS(bf_types); i++)
		if (strcmp(e, bf_types[i].name) == 0)
			return (int)i;
	return strcmp(e, BF_EXPIRED) == 0 ? (int)NFIELDS(bf_types) : -1;
}

/*
 * listenKeyExpired is read leniently, since losing one silences the account
 * until something else notices: older frames had no listenKey (then the
 * envelope's stream names the key, or "" means the connection's own), and
 * a documentation example writes E as a string of digits.
 */
static int
expired_parse(struct jctx *c, const cJSON *data, struct bf_frame *f)
{
	const cJSON *v;

	if ((v = jget(data, "E")) == NULL)
		return jfail(c, "E", "missing");
	if (cJSON_IsString(v)) {
		if (strspn(v->valuestring, "0123456789") != strlen(v->valuestring) ||
		    strlen(v->valuestring) == 0 || strlen(v->valuestring) > 15)
			return jfail(c, "E", "expected an integer");
		f->event_time = strtoll(v->valuestring, NULL, 10);
	} else if (get_i64(c, v, "E", &f->event_time) == -1)
		return -1;
	if ((v = jget(data, "listenKey")) == NULL)
		f->expired_key = f->stream != NULL ? f->stream : "";
	else if (!cJSON_IsString(v))
		return jfail(c, "listenKey", "expected a string");
	else
		f->expired_key = v->valuestring;
	return 0;
}

int
bf_frame_parse(const char *buf, size_t len, struct bf_frame *f, const char **err)
{
	struct jctx c = { .what = "frame", .err = err };
	const cJSON *data, *v, *e;
	cJSON *root;

	memset(f, 0, sizeof(*f));
	if ((root = jparse(buf, len)) == NULL)
		return fail(err, "frame: not JSON");
	if (!cJSON_IsObject(root)) {
		cJSON_Delete(root);
		return fail(err, "frame: not a JSON object");
	}
	data = root;
	/* The combined envelope {"stream":"<listenKey>","data":{...}}. */
	if ((v = cJSON_GetObjectItemCaseSensitive(root, "data")) != NULL) {
		const cJSON *s = cJSON_GetObjectItemCaseSensitive(root, "stream");

		c.what = "envelope";
		if (!cJSON_IsObject(v)) {
			jfail(&c, "data", "expected an object");
			goto bad;
		}
		if (s == NULL || !cJSON_IsString(s)) {
			jfail(&c, "stream", s == NULL ? "missing" : "expected a string");
			goto bad;
		}
		f->stream = s->valuestring;
		data = v;
		c.what = "frame";
	}
	if ((e = cJSON_GetObjectItemCaseSensitive(data, "e")) == NULL) {
		jfail(&c, "e", "missing");
		goto bad;
	}
	if (!cJSON_IsString(e) || e->valuestring[0] == '\0') {
		jfail(&c, "e", "expected a non-empty string");
		goto bad;
	}
	f->etype = e->valuestring;
	c.what = f->etype;
	if (strcmp(f->etype, BF_EXPIRED) == 0) {
		if (expired_parse(&c, data, f) == -1)
			goto bad;
	} else if ((v = jget(data, "E")) != NULL) {
		if (get_i64(&c, v, "E", &f->event_time) == -1)
			goto bad;
	} else if (known_type(f->etype) != -1) {
		/* E is required of the types we know; an unknown one may lack it. */
		jfail(&c, "E", "missing");
		goto bad;
	}
	f->root = root;
	f->data = data;
	return 0;
bad:
	cJSON_Delete(root);
	memset(f, 0, sizeof(*f));
	return -1;
}

void
bf_frame_free(struct bf_frame *f)
{
	cJSON_Delete(f->root);
	memset(f, 0, sizeof(*f));
}

/*
 * The exact text of the envelope's "data" value inside raw, so that an
 * unknown event is kept (and hashed) the same whether it came bare or in
 * the envelope, and the envelope's stream name (a listen key, a secret)
 * never lands in event_log.  raw has been parsed by cJSON already, so this
 * only has to find boundaries, not validate.
 */
static const char *
skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

static const char *
skip_string(const char *p, const char *end)
{
	for (p++; p < end; p++) {
		if (*p == '\\')
			p++;
		else if (*p == '"')
			return p + 1;
	}
	return NULL;
}

static const char *
skip_value(const char *p, const char *end)
{
	int depth = 0;

	while (p != NULL && p < end) {
		switch (*p) {
		case '"':
			p = skip_string(p, end);
			if (depth == 0)
				return p;
			continue;
		case '{':
		case '[':
			depth++;
			break;
		case '}':
		case ']':
			if (depth == 0)
				return p;
			if (--depth == 0)
				return p + 1;
			break;
		case ',':
		case ' ':
		case '\t':
		case '\n':
		case '\r':
			if (depth == 0)
				return p;
			break;
		}
		p++;
	}
	return depth == 0 ? p : NULL;
}

static int
envelope_data(const char *raw, size_t len, const char **start, size_t *n)
{
	const char *p = raw, *end = raw + len, *k, *kend, *v;

	p = skip_ws(p, end);
	if (p == end || *p++ != '{')
		return -1;
	for (;;) {
		p = skip_ws(p, end);
		if (p == end || *p != '"')
			return -1;
		k = p + 1;
		if ((p = skip_string(p, end)) == NULL)
			return -1;
		kend = p - 1;
		p = skip_ws(p, end);
		if (p == end || *p++ != ':')
			return -1;
		v = skip_ws(p, end);
		if ((p = skip_value(v, end)) == NULL)
			return -1;
		if (kend - k == 4 && memcmp(k, "data", 4) == 0) {
			*start = v;
			*n = (size_t)(p - v);
			return 0;
		}
		p = skip_ws(p, end);
		if (p == end || *p++ != ',')
			return -1;
	}
}

static int
bf_unknown(struct bctx *b, const struct bf_frame *f, const char *raw, size_t rawlen)
{
	struct event *ev;
	const char *start = raw;
	size_t n = rawlen;
	char *copy;

	if (raw == NULL || (f->stream != NULL && envelope_data(raw, rawlen, &start, &n) == -1)) {
		if ((copy = cJSON_PrintUnformatted(f->data)) == NULL)
			return jfail(&b->j, "", "out of memory");
	} else {
		const char *end = start + n;

		start = skip_ws(start, end);
		while (end > start && skip_ws(end - 1, end) == end)
			end--;
		n = (size_t)(end - start);
		if ((copy = malloc(n + 1)) == NULL)
			return jfail(&b->j, "", "out of memory");
		memcpy(copy, start, n);
		copy[n] = '\0';
	}
	if ((ev = batch_add(b, EV_UNKNOWN)) == NULL) {
		free(copy);
		return -1;
	}
	snprintf(ev->u.unknown.name, sizeof(ev->u.unknown.name), "%s", f->etype);
	ev->u.unknown.raw = copy;
	return 0;
}

int
bf_frame_events(const struct bf_frame *f, const char *raw, size_t rawlen,
    const struct ev_origin *org, ev_emit_fn emit, void *arg, const char **err)
{
	struct bctx b = {
		.j = { .what = f->etype, .err = err },
		.org = org,
		.flags = org->flags,
		.event_time = f->event_time,
	};
	int k, rc;

	if (f->root == NULL || f->etype == NULL)
		return fail(err, "frame: not parsed");
	batch_reset();
	k = known_type(f->etype);
	if (k == (int)NFIELDS(bf_types))
		return 0;	/* listenKeyExpired: the caller acts on expired_key */
	rc = k == -1 ? bf_unknown(&b, f, raw, rawlen) : bf_types[k].fn(&b, f->data);
	if (rc == -1) {
		batch_reset();
		return -1;
	}
	return batch_emit(emit, arg);
}

/* ------------------------------------------------------------------ REST */

static const struct {
	const char		*what;
	enum ev_type		 type;
	const struct jfield	*fields;
	size_t			 nfields;
	int			 object;	/* one object, not an array of rows */
} bf_rest_kinds[] = {
	[BF_REST_BALANCE] = { "GET /fapi/v3/balance", EV_BALANCE,
	    rest_balance, NFIELDS(rest_balance), 0 },
	[BF_REST_POSITION_RISK] = { "GET /fapi/v3/positionRisk", EV_POSITION,
	    rest_position, NFIELDS(rest_position), 0 },
	[BF_REST_OPEN_ORDERS] = { "GET /fapi/v1/openOrders", EV_ORDER,
	    rest_order, NFIELDS(rest_order), 0 },
	[BF_REST_ALL_ORDERS] = { "GET /fapi/v1/allOrders", EV_ORDER,
	    rest_order, NFIELDS(rest_order), 0 },
	[BF_REST_ORDER] = { "GET /fapi/v1/order", EV_ORDER,
	    rest_order, NFIELDS(rest_order), 1 },
	[BF_REST_OPEN_ALGO_ORDERS] = { "GET /fapi/v1/openAlgoOrders", EV_ALGO,
	    rest_algo, NFIELDS(rest_algo), 0 },
	[BF_REST_USER_TRADES] = { "GET /fapi/v1/userTrades", EV_FILL,
	    rest_fill, NFIELDS(rest_fill), 0 },
	[BF_REST_SYMBOL_CONFIG] = { "GET /fapi/v1/symbolConfig", EV_CONFIG,
	    rest_symbol_config, NFIELDS(rest_symbol_config), 0 },
	[BF_REST_MULTI_ASSETS] = { "GET /fapi/v1/multiAssetsMargin", EV_CONFIG,
	    NULL, 0, 1 },
	[BF_REST_ALGO_ORDER] = { "GET /fapi/v1/algoOrder", EV_ALGO,
	    rest_algo, NFIELDS(rest_algo), 1 },
	[BF_REST_ALL_ALGO_ORDERS] = { "GET /fapi/v1/allAlgoOrders", EV_ALGO,
	    rest_algo, NFIELDS(rest_algo), 0 },
};

/* symbolConfig: the leverage, an integer (Binance allows 1 to 125). */
static int
rest_leverage(struct bctx *b, const cJSON *row, struct ev_config *c)
{
	const cJSON *v;
	int64_t lev;

	if ((v = jget(row, "leverage")) == NULL)
		return jfail(&b->j, "leverage", "missing");
	if (get_i64(&b->j, v, "leverage", &lev) == -1)
		return -1;
	if (lev < 1 || lev > INT_MAX)
		return jfail(&b->j, "leverage", "out of range");
	c->leverage = (int)lev;
	c->multi_assets = -1;
	c->update_time = b->event_time;
	return 0;
}

/* multiAssetsMargin: {"multiAssetsMargin":bool} → the account-wide mode. */
static int
rest_multi_assets(struct bctx *b, const cJSON *row, struct ev_config *c)
{
	const cJSON *v;

	if ((v = jget(row, "multiAssetsMargin")) == NULL)
		return jfail(&b->j, "multiAssetsMargin", "missing");
	if (!cJSON_IsBool(v))
		return jfail(&b->j, "multiAssetsMargin", "expected a boolean");
	c->symbol[0] = '\0';
	c->leverage = -1;
	c->multi_assets = cJSON_IsTrue(v) ? 1 : 0;
	c->update_time = b->event_time;
	return 0;
}

/* One REST row → one event; the values match what the stream gives. */
static int
rest_row(struct bctx *b, unsigned kind, const cJSON *row)
{
	struct event *ev;

	if (!cJSON_IsObject(row))
		return jfail(&b->j, "", "expected an object");
	if ((ev = batch_add(b, bf_rest_kinds[kind].type)) == NULL ||
	    jfields(&b->j, row, bf_rest_kinds[kind].fields, bf_rest_kinds[kind].nfields,
	    &ev->u) == -1)
		return -1;
	switch (ev->type) {
	case EV_CONFIG:
		return kind == BF_REST_MULTI_ASSETS ? rest_multi_assets(b, row, &ev->u.config) :
		    rest_leverage(b, row, &ev->u.config);
	case EV_POSITION:
		/*
		 * positionRisk v3 has no marginType: an open isolated position
		 * has an isolated wallet, a cross one has none.
		 */
		if (ev->u.position.margin_type[0] == '\0')
			snprintf(ev->u.position.margin_type, sizeof(ev->u.position.margin_type),
			    "%s", dec_positive(ev->u.position.isolated_wallet) ? "isolated" :
			    "cross");
		break;
	case EV_BALANCE:
		snprintf(ev->u.balance.change, sizeof(ev->u.balance.change), "0");
		snprintf(ev->u.balance.reason, sizeof(ev->u.balance.reason), "RESYNC");
		break;
	case EV_ORDER:
		snprintf(ev->u.order.exec_type, sizeof(ev->u.order.exec_type), "RESYNC");
		break;
	default:
		break;
	}
	return 0;
}

int
bf_rest_events(enum bf_rest kind, const char *body, size_t len, const struct ev_origin *org,
    int64_t now_ms, ev_emit_fn emit, void *arg, const char **err)
{
	struct bctx b = { .org = org, .flags = org->flags | EVF_RESYNC, .event_time = now_ms };
	const cJSON *row;
	cJSON *root;
	int i = 0, rc = 0;

	if ((unsigned)kind >= NFIELDS(bf_rest_kinds))
		return fail(err, "REST: unknown endpoint");
	b.j.what = bf_rest_kinds[kind].what;
	b.j.err = err;
	if ((root = jparse(body, len)) == NULL)
		return jfail(&b.j, "body", "not JSON");
	batch_reset();
	if (bf_rest_kinds[kind].object) {
		if (!cJSON_IsObject(root))
			rc = jfail(&b.j, "body", "expected a JSON object");
		else
			rc = rest_row(&b, kind, root);
	} else if (!cJSON_IsArray(root))
		rc = jfail(&b.j, "body", "expected a JSON array");
	else
		cJSON_ArrayForEach(row, root) {
			jpath(&b.j, "", "", i++);
			if ((rc = rest_row(&b, kind, row)) == -1)
				break;
		}
	cJSON_Delete(root);
	if (rc == -1) {
		batch_reset();
		return -1;
	}
	return batch_emit(emit, arg);
}

int
bf_listen_key(const char *body, size_t len, char *out, size_t outlen)
{
	const cJSON *v;
	cJSON *root;
	int rc = -1;

	if ((root = jparse(body, len)) == NULL)
		return -1;
	v = cJSON_IsObject(root) ? cJSON_GetObjectItemCaseSensitive(root, "listenKey") : NULL;
	if (v != NULL && cJSON_IsString(v) && v->valuestring[0] != '\0' &&
	    strlen(v->valuestring) < outlen) {
		memcpy(out, v->valuestring, strlen(v->valuestring) + 1);
		rc = 0;
	}
	cJSON_Delete(root);
	return rc;
}

int
bf_rest_error(const char *body, size_t len, int *code, char *msg, size_t msglen)
{
	const cJSON *c, *m;
	cJSON *root;
	double d;
	int rc = -1;

	if ((root = jparse(body, len)) == NULL)
		return -1;
	if (cJSON_IsObject(root)) {
		c = cJSON_GetObjectItemCaseSensitive(root, "code");
		m = cJSON_GetObjectItemCaseSensitive(root, "msg");
		if (cJSON_IsNumber(c) && cJSON_IsString(m)) {
			d = c->valuedouble;
			if (d >= INT_MIN && d <= INT_MAX && d == trunc(d)) {
				*code = (int)d;
				if (msglen > 0)
					snprintf(msg, msglen, "%s", m->valuestring);
				rc = 0;
			}
		}
	}
	cJSON_Delete(root);
	return rc;
}
