/*
 * binance_futures.c: Binance USDⓈ-M futures user data, JSON → normalized
 * events: private-stream frames (FACTS §1.3) and the REST snapshot bodies a
 * resync fetches (FACTS §1.6).  No I/O here.
 *
 * jansson reads integers as exact int64 and keys case-sensitively, and it
 * rejects invalid UTF-8 and NUL in strings, so no such text gets past the
 * parse.  Decimals are JSON strings, copied after ev_decimal() puts them in
 * the one form every process takes ("5." becomes "5"), never rounded.
 *
 * Each event a frame or a REST row yields is built alone, from a table of
 * the fields it reads, and checked with ev_validate(): a missing required
 * field or an unusable value drops that event (counted in struct bf_drops),
 * not its siblings.  Required are the fields that identify a fact or order
 * it in time (ids, symbols, statuses, times) and the values the state
 * tables cannot do without.  Optional (absent, null or unusable: the
 * default), because a fixture or the documentation shows them missing:
 *   ORDER_TRADE_UPDATE o: ot (= o), cp (false), n ("0"), N (""), rp ("0")
 *     ("n"/"N" are not pushed when there is no commission)
 *   ACCOUNT_UPDATE: a.B and a.P (empty), a.m (""); B[].bc ("0");
 *     P[].bep ("0"), P[].ma ("": the documentation example omits it)
 *   MARGIN_CALL: cw ("": Binance sends it for cross margin calls only),
 *     p (empty: one event with symbol "")
 *   ACCOUNT_CONFIG_UPDATE: ac and ai, but one of them must be there
 *   ALGO_UPDATE o: ai (""), ap, aq, tp, p ("0"), R, cp (false), rm ("")
 *   unknown event types: E (0)
 *   positionRisk: breakEvenPrice ("0"), marginAsset (""); v3 has no
 *     marginType: the caller takes it from /fapi/v2/account
 *   openAlgoOrders, algoOrder, allAlgoOrders: positionSide ("BOTH"),
 *     timeInForce (""), quantity, actualPrice, triggerPrice, price ("0"),
 *     actualOrderId (""), reduceOnly, closePosition (false); they carry no
 *     executed quantity and no reject reason: both stay "" (unknown)
 * Text fields longer than their buffer (client ids, reasons, enum words)
 * are cut on a character boundary; keys (symbols, assets, position sides)
 * that do not fit drop their event.
 */
#include "autoconf.h"

#include <ctype.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "event.h"
#include "exchanges/binance_futures.h"

#define BF_EXCHANGE	"binance-futures"
#define BF_LEVERAGE_MAX	100000	/* the codec's bound (evcodec.c); Binance allows 1 to 125 */

/* The worker is single-threaded: one event batch. */
static struct {
	struct event	*ev;
	size_t		 n;
	size_t		 cap;
} batch;

static char bf_errbuf[256];	/* what *err points to */
static char bf_jsonerr[200];	/* jparse's reason, copied into bf_errbuf or drops */

/*
 * Where a field is, for drop reasons: "ORDER_TRADE_UPDATE: o.z: ...".  The
 * path's parts are kept and only put together when a field fails: most
 * events fail nothing, and formatting it for every row cost them.
 */
struct jctx {
	const char	*what;		/* event type, or "GET /fapi/..." */
	const char	*pfx;		/* "o.", "a.", or NULL: "" */
	const char	*arr;		/* the array of the row being read ("B"), or NULL */
	int		 idx;		/* its index */
	struct bf_drops	*drops;
	char		 why[200];	/* why the event being built fails */
};

/* Note why the event being built fails; returns -1 for the caller to pass on. */
static int
jfail(struct jctx *c, const char *key, const char *why)
{
	char path[48];		/* "o.", "a.B[2].", "[0]." */
	size_t n;

	if (c->arr != NULL)
		snprintf(path, sizeof(path), "%s%s[%d].", c->pfx ? c->pfx : "", c->arr, c->idx);
	else
		snprintf(path, sizeof(path), "%s", c->pfx ? c->pfx : "");
	n = strlen(path);
	/* A row itself ("a.B[1]") rather than one of its keys ("a.B[1].wb"). */
	if (*key == '\0' && n > 0 && path[n - 1] == '.')
		n--;
	snprintf(c->why, sizeof(c->why), "%s: %.*s%s: %s", c->what, (int)n, path, key, why);
	return -1;
}

/* Count one dropped event, keeping the first reason (a drop's over a field's). */
static void
drop(struct bf_drops *d, const char *why)
{
	if (d == NULL)
		return;
	if (d->events++ == 0)
		snprintf(d->why, sizeof(d->why), "%s", why);
}

/* The path of row idx of array key under prefix: "a.B[2]." */
static void
jpath(struct jctx *c, const char *prefix, const char *key, int idx)
{
	c->pfx = prefix;
	c->arr = key;
	c->idx = idx;
}

/* The path of the object under prefix: "o." */
static void
jprefix(struct jctx *c, const char *prefix)
{
	c->pfx = prefix;
	c->arr = NULL;
}

/* A member, with JSON null taken as absent. */
static json_t *
jget(const json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	return v == NULL || json_is_null(v) ? NULL : v;
}

/*
 * jansson's blocks while it parses come from one bump arena: a frame's
 * tree is a few dozen small blocks (objects, their hash tables, keys,
 * strings, numbers) that all live until the frame is freed, and malloc and
 * free of each were a fifth of the account worker's CPU (issue 14, perf
 * at 5,000 events/s).  The blocks are counted and the arena starts over
 * only when every one of them is freed: a tree kept longer (a REST body
 * being read) makes the blocks after it come from malloc, it never has
 * its memory reused.  A block bigger than what is left, and every block
 * outside jparse (json_dumps, the callers' own values), is malloc's.
 * Installed on the first parse, in the processes that parse exchange JSON
 * here only; single-threaded, as the worker is.  Not under
 * AddressSanitizer: there every block stays malloc's, so that a tree used
 * after bf_frame_free or never freed is still reported.
 */
#define JA_SIZE		(128 * 1024)
#define JA_ALIGN	16
#if defined(__SANITIZE_ADDRESS__)
#define JA_USE		0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define JA_USE		0
#endif
#endif
#ifndef JA_USE
#define JA_USE		1
#endif

static struct {
	char	*base;		/* JA_SIZE bytes, or NULL: malloc only */
	size_t	 used;
	size_t	 live;		/* blocks handed out and not yet freed */
	int	 on;		/* inside json_loadb */
} ja;

static void *
ja_malloc(size_t n)
{
	size_t need = (n + JA_ALIGN - 1) & ~(size_t)(JA_ALIGN - 1);

	if (ja.on && need >= n && need > 0 && need <= JA_SIZE - ja.used) {
		void *p = ja.base + ja.used;

		ja.used += need;
		ja.live++;
		return p;
	}
	return malloc(n);
}

static void
ja_free(void *p)
{
	if (ja.base != NULL && (uintptr_t)p - (uintptr_t)ja.base < JA_SIZE) {
		if (--ja.live == 0)
			ja.used = 0;
		return;
	}
	free(p);
}

/* json_loadb with the arena on. */
static json_t *
ja_loadb(const char *buf, size_t len, json_error_t *e)
{
	static int installed;
	json_t *root;

	if (!installed) {
		installed = 1;
		if (JA_USE && (ja.base = malloc(JA_SIZE)) != NULL)
			json_set_alloc_funcs(ja_malloc, ja_free);
	}
	ja.on = ja.base != NULL;
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, e);
	ja.on = 0;
	return root;
}

/*
 * Exactly buf[0..len): one JSON value, trailing whitespace allowed.  An
 * object with a key twice (after unescaping: "d\u0061ta" is "data") is not
 * taken: which one counts would differ between jansson (the last) and a
 * reader of the raw text (envelope_data: the first).  Nor is a NUL byte,
 * which JSON never has outside a string (escaped there): jansson skips one
 * between tokens ("[0<NUL>]" is [0]), but the raw text kept of an unknown
 * event, a C string, would end at it.
 */
static json_t *
jparse(const char *buf, size_t len, const char **why)
{
	json_error_t e;
	json_t *root;

	if (memchr(buf, '\0', len) != NULL) {
		snprintf(bf_jsonerr, sizeof(bf_jsonerr), "not JSON (a NUL byte at byte %td)",
		    (const char *)memchr(buf, '\0', len) - buf);
		*why = bf_jsonerr;
		return NULL;
	}
	root = ja_loadb(buf, len, &e);
	if (root == NULL) {
		snprintf(bf_jsonerr, sizeof(bf_jsonerr), "not JSON (%s at byte %d)", e.text,
		    e.position);
		*why = bf_jsonerr;
	}
	return root;
}

/* A decimal string greater than zero. */
static int
dec_positive(const char *s)
{
	return *s != '-' && strpbrk(s, "123456789") != NULL;
}

enum jkind {
	J_KEY,		/* string the writer upserts on: not empty, must fit whole */
	J_WORD,		/* enum word or free text: cut on a character boundary */
	J_LOWER,	/* J_WORD in lower case (margin types) */
	J_DEC,		/* decimal string, canonical form */
	J_ID,		/* string, or an integer written in decimal */
	J_I64,		/* integer */
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

/* Read one present value; 0, or -1 with c->why. */
static int
jvalue(struct jctx *c, const json_t *v, const struct jfield *f, char *dst)
{
	const char *s;
	size_t len;

	switch (f->kind) {
	case J_KEY:
	case J_WORD:
	case J_LOWER:
	case J_DEC:
		if (!json_is_string(v))
			return jfail(c, f->key, "expected a string");
		s = json_string_value(v);
		len = json_string_length(v);
		if (f->kind == J_DEC) {
			if (ev_decimal(dst, f->size, s, len) == -1)
				return jfail(c, f->key, "not a decimal number (or too long)");
			return 0;
		}
		if (f->kind == J_KEY) {
			/* A key of a row the writer upserts (DESIGN §3.6), or of /fapi/v2/account's rows. */
			if (len == 0)
				return jfail(c, f->key, "empty");
			if (len >= f->size)
				return jfail(c, f->key, "string too long");
			memcpy(dst, s, len + 1);
			return 0;
		}
		ev_copy_text(dst, f->size, s, len);
		if (f->kind == J_LOWER)
			for (; *dst != '\0'; dst++)
				*dst = (char)tolower((unsigned char)*dst);
		return 0;
	case J_ID:
		if (json_is_string(v)) {
			if (json_string_length(v) >= f->size)
				return jfail(c, f->key, "string too long");
			memcpy(dst, json_string_value(v), json_string_length(v) + 1);
			return 0;
		}
		if (json_is_integer(v)) {
			snprintf(dst, f->size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
			return 0;
		}
		return jfail(c, f->key, "expected a string or an integer");
	case J_I64:
		if (!json_is_integer(v))
			return jfail(c, f->key, json_is_real(v) ? "expected an integer, got a fraction" :
			    "expected an integer");
		*(int64_t *)(void *)dst = (int64_t)json_integer_value(v);
		return 0;
	case J_BOOL:
		if (!json_is_boolean(v))
			return jfail(c, f->key, "expected a boolean");
		*(bool *)(void *)dst = json_is_true(v);
		return 0;
	}
	return jfail(c, f->key, "bad field kind");
}

static void
jdefault(const struct jfield *f, char *dst)
{
	switch (f->kind) {
	case J_I64:
		*(int64_t *)(void *)dst = 0;
		break;
	case J_BOOL:
		*(bool *)(void *)dst = f->dflt != NULL;
		break;
	default: {
		/* What snprintf "%s" would write, for every absent optional field. */
		const char *d = f->dflt != NULL ? f->dflt : "";
		size_t n = strlen(d);

		if (n >= f->size)
			n = f->size - 1;
		memcpy(dst, d, n);
		dst[n] = '\0';
		break;
	}
	}
}

/*
 * The fields of one event.  A required field missing or unusable fails
 * the event; an optional one unusable takes its default and is counted.
 */
static int
jfields(struct jctx *c, const json_t *obj, const struct jfield *f, size_t n, void *base)
{
	for (size_t i = 0; i < n; i++) {
		char *dst = (char *)base + f[i].off;
		const json_t *v = jget(obj, f[i].key);

		if (v == NULL) {
			if (f[i].req)
				return jfail(c, f[i].key, "missing");
			jdefault(&f[i], dst);
			continue;
		}
		if (jvalue(c, v, &f[i], dst) == -1) {
			if (f[i].req)
				return -1;
			jdefault(&f[i], dst);
			if (c->drops && c->drops->fields++ == 0 && c->drops->events == 0)
				snprintf(c->drops->why, sizeof(c->drops->why), "%s", c->why);
		}
	}
	return 0;
}

#define NFIELDS(a)	(sizeof(a) / sizeof((a)[0]))

/* One member that must be (req) or may be an object/array; *out NULL if absent. */
static int
jsub(struct jctx *c, const json_t *obj, const char *key, int req, int array, const json_t **out)
{
	const json_t *v = jget(obj, key);

	*out = NULL;
	if (v == NULL)
		return req ? jfail(c, key, "missing") : 0;
	if (array ? !json_is_array(v) : !json_is_object(v))
		return jfail(c, key, array ? "expected an array" : "expected an object");
	*out = v;
	return 0;
}

/* ------------------------------------------------------------ field tables */

/* ORDER_TRADE_UPDATE o → ev_order */
static const struct jfield otu_order[] = {
	JF(struct ev_order, "s", J_KEY, REQ, symbol, NULL),
	JF(struct ev_order, "c", J_WORD, REQ, client_id, NULL),
	JF(struct ev_order, "S", J_WORD, REQ, side, NULL),
	JF(struct ev_order, "o", J_WORD, REQ, type, NULL),
	JF(struct ev_order, "f", J_WORD, REQ, tif, NULL),
	JF(struct ev_order, "q", J_DEC, REQ, orig_qty, NULL),
	JF(struct ev_order, "p", J_DEC, REQ, price, NULL),
	JF(struct ev_order, "ap", J_DEC, REQ, avg_price, NULL),
	JF(struct ev_order, "sp", J_DEC, REQ, stop_price, NULL),
	JF(struct ev_order, "x", J_WORD, REQ, exec_type, NULL),
	JF(struct ev_order, "X", J_WORD, REQ, status, NULL),
	JF(struct ev_order, "i", J_I64, REQ, order_id, NULL),
	JF(struct ev_order, "z", J_DEC, REQ, filled_qty, NULL),
	JF(struct ev_order, "T", J_I64, REQ, update_time, NULL),
	JF(struct ev_order, "R", J_BOOL, REQ, reduce_only, NULL),
	JF(struct ev_order, "ot", J_WORD, OPT, orig_type, NULL),
	JF(struct ev_order, "ps", J_KEY, REQ, position_side, NULL),
	JF(struct ev_order, "cp", J_BOOL, OPT, close_position, NULL),
};

/* ORDER_TRADE_UPDATE o → ev_fill (read when the update is a fill) */
static const struct jfield otu_fill[] = {
	JF(struct ev_fill, "t", J_I64, REQ, trade_id, NULL),
	JF(struct ev_fill, "i", J_I64, REQ, order_id, NULL),
	JF(struct ev_fill, "s", J_KEY, REQ, symbol, NULL),
	JF(struct ev_fill, "S", J_WORD, REQ, side, NULL),
	JF(struct ev_fill, "ps", J_KEY, REQ, position_side, NULL),
	JF(struct ev_fill, "L", J_DEC, REQ, price, NULL),
	JF(struct ev_fill, "l", J_DEC, REQ, qty, NULL),
	JF(struct ev_fill, "n", J_DEC, OPT, fee, "0"),
	JF(struct ev_fill, "N", J_WORD, OPT, fee_asset, ""),
	JF(struct ev_fill, "rp", J_DEC, OPT, realized_pnl, "0"),
	JF(struct ev_fill, "m", J_BOOL, REQ, maker, NULL),
	JF(struct ev_fill, "T", J_I64, REQ, time, NULL),
};

/* TRADE_LITE → ev_fill */
static const struct jfield lite_fill[] = {
	JF(struct ev_fill, "t", J_I64, REQ, trade_id, NULL),
	JF(struct ev_fill, "i", J_I64, REQ, order_id, NULL),
	JF(struct ev_fill, "s", J_KEY, REQ, symbol, NULL),
	JF(struct ev_fill, "S", J_WORD, REQ, side, NULL),
	JF(struct ev_fill, "L", J_DEC, REQ, price, NULL),
	JF(struct ev_fill, "l", J_DEC, REQ, qty, NULL),
	JF(struct ev_fill, "m", J_BOOL, REQ, maker, NULL),
	JF(struct ev_fill, "T", J_I64, REQ, time, NULL),
};

/* ACCOUNT_UPDATE a.B[] → ev_balance */
static const struct jfield au_balance[] = {
	JF(struct ev_balance, "a", J_KEY, REQ, asset, NULL),
	JF(struct ev_balance, "wb", J_DEC, REQ, wallet, NULL),
	JF(struct ev_balance, "cw", J_DEC, REQ, cross_wallet, NULL),
	JF(struct ev_balance, "bc", J_DEC, OPT, change, "0"),
};

/* ACCOUNT_UPDATE a.P[] → ev_position */
static const struct jfield au_position[] = {
	JF(struct ev_position, "s", J_KEY, REQ, symbol, NULL),
	JF(struct ev_position, "pa", J_DEC, REQ, amount, NULL),
	JF(struct ev_position, "ep", J_DEC, REQ, entry_price, NULL),
	JF(struct ev_position, "bep", J_DEC, OPT, breakeven_price, "0"),
	JF(struct ev_position, "up", J_DEC, REQ, unrealized_pnl, NULL),
	JF(struct ev_position, "mt", J_LOWER, REQ, margin_type, NULL),
	JF(struct ev_position, "iw", J_DEC, REQ, isolated_wallet, NULL),
	JF(struct ev_position, "ps", J_KEY, REQ, position_side, NULL),
	JF(struct ev_position, "ma", J_WORD, OPT, margin_asset, ""),
};

/* MARGIN_CALL cw and p[] → ev_margin_call; mt kept as received ("CROSSED") */
static const struct jfield mc_wallet[] = {
	JF(struct ev_margin_call, "cw", J_DEC, OPT, cross_wallet, ""),
};
static const struct jfield mc_position[] = {
	JF(struct ev_margin_call, "s", J_KEY, REQ, symbol, NULL),
	JF(struct ev_margin_call, "ps", J_WORD, REQ, position_side, NULL),
	JF(struct ev_margin_call, "pa", J_DEC, REQ, amount, NULL),
	JF(struct ev_margin_call, "mt", J_WORD, REQ, margin_type, NULL),
	JF(struct ev_margin_call, "iw", J_DEC, REQ, isolated_wallet, NULL),
	JF(struct ev_margin_call, "mp", J_DEC, REQ, mark_price, NULL),
	JF(struct ev_margin_call, "up", J_DEC, REQ, unrealized_pnl, NULL),
	JF(struct ev_margin_call, "mm", J_DEC, REQ, maint_margin, NULL),
};

/* ALGO_UPDATE o → ev_algo */
static const struct jfield algo_stream[] = {
	JF(struct ev_algo, "caid", J_WORD, REQ, client_id, NULL),
	JF(struct ev_algo, "aid", J_I64, REQ, algo_id, NULL),
	JF(struct ev_algo, "at", J_WORD, REQ, algo_type, NULL),
	JF(struct ev_algo, "o", J_WORD, REQ, type, NULL),
	JF(struct ev_algo, "s", J_KEY, REQ, symbol, NULL),
	JF(struct ev_algo, "S", J_WORD, REQ, side, NULL),
	JF(struct ev_algo, "ps", J_WORD, REQ, position_side, NULL),
	JF(struct ev_algo, "f", J_WORD, REQ, tif, NULL),
	JF(struct ev_algo, "q", J_DEC, REQ, qty, NULL),
	JF(struct ev_algo, "X", J_WORD, REQ, status, NULL),
	JF(struct ev_algo, "ai", J_ID, OPT, actual_order_id, ""),
	JF(struct ev_algo, "ap", J_DEC, OPT, avg_price, "0"),
	JF(struct ev_algo, "aq", J_DEC, OPT, filled_qty, "0"),
	JF(struct ev_algo, "tp", J_DEC, OPT, trigger_price, "0"),
	JF(struct ev_algo, "p", J_DEC, OPT, price, "0"),
	JF(struct ev_algo, "R", J_BOOL, OPT, reduce_only, NULL),
	JF(struct ev_algo, "cp", J_BOOL, OPT, close_position, NULL),
	JF(struct ev_algo, "rm", J_WORD, OPT, reject_reason, ""),
};

/* GET /fapi/v3/positionRisk rows → ev_position (margin type: the caller's) */
static const struct jfield rest_position[] = {
	JF(struct ev_position, "symbol", J_KEY, REQ, symbol, NULL),
	JF(struct ev_position, "positionSide", J_KEY, REQ, position_side, NULL),
	JF(struct ev_position, "positionAmt", J_DEC, REQ, amount, NULL),
	JF(struct ev_position, "entryPrice", J_DEC, REQ, entry_price, NULL),
	JF(struct ev_position, "breakEvenPrice", J_DEC, OPT, breakeven_price, "0"),
	JF(struct ev_position, "unRealizedProfit", J_DEC, REQ, unrealized_pnl, NULL),
	JF(struct ev_position, "isolatedWallet", J_DEC, REQ, isolated_wallet, NULL),
	JF(struct ev_position, "marginAsset", J_WORD, OPT, margin_asset, ""),
	JF(struct ev_position, "updateTime", J_I64, REQ, update_time, NULL),
};

/* GET /fapi/v1/openOrders, allOrders, order → ev_order */
static const struct jfield rest_order[] = {
	JF(struct ev_order, "orderId", J_I64, REQ, order_id, NULL),
	JF(struct ev_order, "symbol", J_KEY, REQ, symbol, NULL),
	JF(struct ev_order, "clientOrderId", J_WORD, REQ, client_id, NULL),
	JF(struct ev_order, "side", J_WORD, REQ, side, NULL),
	JF(struct ev_order, "positionSide", J_KEY, REQ, position_side, NULL),
	JF(struct ev_order, "type", J_WORD, REQ, type, NULL),
	JF(struct ev_order, "origType", J_WORD, REQ, orig_type, NULL),
	JF(struct ev_order, "timeInForce", J_WORD, REQ, tif, NULL),
	JF(struct ev_order, "status", J_WORD, REQ, status, NULL),
	JF(struct ev_order, "price", J_DEC, REQ, price, NULL),
	JF(struct ev_order, "avgPrice", J_DEC, REQ, avg_price, NULL),
	JF(struct ev_order, "stopPrice", J_DEC, REQ, stop_price, NULL),
	JF(struct ev_order, "origQty", J_DEC, REQ, orig_qty, NULL),
	JF(struct ev_order, "executedQty", J_DEC, REQ, filled_qty, NULL),
	JF(struct ev_order, "reduceOnly", J_BOOL, REQ, reduce_only, NULL),
	JF(struct ev_order, "closePosition", J_BOOL, REQ, close_position, NULL),
	JF(struct ev_order, "updateTime", J_I64, REQ, update_time, NULL),
};

/* GET /fapi/v1/openAlgoOrders, algoOrder, allAlgoOrders rows → ev_algo */
static const struct jfield rest_algo[] = {
	JF(struct ev_algo, "algoId", J_I64, REQ, algo_id, NULL),
	JF(struct ev_algo, "clientAlgoId", J_WORD, REQ, client_id, NULL),
	JF(struct ev_algo, "algoType", J_WORD, REQ, algo_type, NULL),
	JF(struct ev_algo, "orderType", J_WORD, REQ, type, NULL),
	JF(struct ev_algo, "symbol", J_KEY, REQ, symbol, NULL),
	JF(struct ev_algo, "side", J_WORD, REQ, side, NULL),
	JF(struct ev_algo, "positionSide", J_WORD, OPT, position_side, "BOTH"),
	JF(struct ev_algo, "timeInForce", J_WORD, OPT, tif, ""),
	JF(struct ev_algo, "quantity", J_DEC, OPT, qty, "0"),
	JF(struct ev_algo, "algoStatus", J_WORD, REQ, status, NULL),
	JF(struct ev_algo, "actualOrderId", J_ID, OPT, actual_order_id, ""),
	JF(struct ev_algo, "actualPrice", J_DEC, OPT, avg_price, "0"),
	JF(struct ev_algo, "triggerPrice", J_DEC, OPT, trigger_price, "0"),
	JF(struct ev_algo, "price", J_DEC, OPT, price, "0"),
	JF(struct ev_algo, "reduceOnly", J_BOOL, OPT, reduce_only, NULL),
	JF(struct ev_algo, "closePosition", J_BOOL, OPT, close_position, NULL),
	JF(struct ev_algo, "updateTime", J_I64, REQ, update_time, NULL),
};

/* GET /fapi/v1/userTrades rows → ev_fill */
static const struct jfield rest_fill[] = {
	JF(struct ev_fill, "id", J_I64, REQ, trade_id, NULL),
	JF(struct ev_fill, "orderId", J_I64, REQ, order_id, NULL),
	JF(struct ev_fill, "symbol", J_KEY, REQ, symbol, NULL),
	JF(struct ev_fill, "side", J_WORD, REQ, side, NULL),
	JF(struct ev_fill, "positionSide", J_KEY, REQ, position_side, NULL),
	JF(struct ev_fill, "price", J_DEC, REQ, price, NULL),
	JF(struct ev_fill, "qty", J_DEC, REQ, qty, NULL),
	JF(struct ev_fill, "commission", J_DEC, REQ, fee, NULL),
	JF(struct ev_fill, "commissionAsset", J_WORD, REQ, fee_asset, NULL),
	JF(struct ev_fill, "maker", J_BOOL, REQ, maker, NULL),
	JF(struct ev_fill, "realizedPnl", J_DEC, REQ, realized_pnl, NULL),
	JF(struct ev_fill, "time", J_I64, REQ, time, NULL),
};

/* GET /fapi/v2/account assets[] → ev_balance */
static const struct jfield acct_asset[] = {
	JF(struct ev_balance, "asset", J_KEY, REQ, asset, NULL),
	JF(struct ev_balance, "walletBalance", J_DEC, REQ, wallet, NULL),
	JF(struct ev_balance, "crossWalletBalance", J_DEC, REQ, cross_wallet, NULL),
	JF(struct ev_balance, "updateTime", J_I64, REQ, update_time, NULL),
};

/* GET /fapi/v2/account positions[] (leverage and isolated read apart) */
static const struct jfield acct_position[] = {
	JF(struct bf_account_position, "symbol", J_KEY, REQ, symbol, NULL),
	JF(struct bf_account_position, "positionSide", J_KEY, REQ, position_side, NULL),
	JF(struct bf_account_position, "positionAmt", J_DEC, REQ, amount, NULL),
	JF(struct bf_account_position, "entryPrice", J_DEC, REQ, entry_price, NULL),
	JF(struct bf_account_position, "unrealizedProfit", J_DEC, OPT, unrealized_pnl, "0"),
	JF(struct bf_account_position, "isolated", J_BOOL, REQ, isolated, NULL),
	JF(struct bf_account_position, "updateTime", J_I64, REQ, update_time, NULL),
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

/* The last event added could not be built: take it back and count the drop. */
static void
batch_discard(struct bctx *b)
{
	if (batch.n > 0)
		ev_clear(&batch.ev[--batch.n]);
	drop(b->j.drops, b->j.why);
}

/* An event of the batch that fails the shared validation is dropped alone. */
static int
batch_emit(struct bf_drops *drops, ev_emit_fn emit, void *arg)
{
	size_t n = batch.n;
	int emitted = 0;

	for (size_t i = 0; i < n; i++) {
		struct event *ev = &batch.ev[i];
		const char *err;

		ev_make_id(ev);
		if (ev_validate(ev, &err) == -1) {
			char why[200];

			snprintf(why, sizeof(why), "%s event: %s", ev_type_name(ev->type), err);
			drop(drops, why);
			continue;
		}
		emit(ev, arg);
		emitted++;
	}
	batch_reset();
	return emitted;
}

/* ------------------------------------------------------- stream frames */

static int
top_i64(struct bctx *b, const json_t *obj, const char *key, int64_t *out)
{
	const json_t *v = jget(obj, key);

	if (v == NULL)
		return jfail(&b->j, key, "missing");
	if (!json_is_integer(v))
		return jfail(&b->j, key, "expected an integer");
	*out = (int64_t)json_integer_value(v);
	return 0;
}

/* A frame of a known type that cannot yield any of its events. */
static void
frame_fail(struct bctx *b, int events)
{
	for (int i = 0; i < events; i++)
		drop(b->j.drops, b->j.why);
}

static void
bf_order_trade_update(struct bctx *b, const json_t *data)
{
	const json_t *o, *x, *l;
	struct event *ev;
	int is_fill;

	if (jsub(&b->j, data, "o", REQ, 0, &o) == -1) {
		frame_fail(b, 1);
		return;
	}
	jprefix(&b->j, "o.");
	/* Read from the frame, so that a bad order field does not cost the fill. */
	x = jget(o, "x");
	l = jget(o, "l");
	/* A liquidation (CALCULATED) is a fill when it filled something. */
	is_fill = json_is_string(x) && (strcmp(json_string_value(x), "TRADE") == 0 ||
	    (strcmp(json_string_value(x), "CALCULATED") == 0 && json_is_string(l) &&
	    dec_positive(json_string_value(l))));
	if ((ev = batch_add(b, EV_ORDER)) == NULL ||
	    jfields(&b->j, o, otu_order, NFIELDS(otu_order), &ev->u.order) == -1)
		batch_discard(b);
	else if (ev->u.order.orig_type[0] == '\0')
		memcpy(ev->u.order.orig_type, ev->u.order.type, sizeof(ev->u.order.orig_type));
	if (!is_fill)
		return;
	if ((ev = batch_add(b, EV_FILL)) == NULL ||
	    jfields(&b->j, o, otu_fill, NFIELDS(otu_fill), &ev->u.fill) == -1)
		batch_discard(b);
}

static void
bf_trade_lite(struct bctx *b, const json_t *data)
{
	struct event *ev;

	/* position side, fee, fee asset and PnL stay "": TRADE_LITE lacks them */
	if ((ev = batch_add(b, EV_FILL)) == NULL ||
	    jfields(&b->j, data, lite_fill, NFIELDS(lite_fill), &ev->u.fill) == -1) {
		batch_discard(b);
		return;
	}
	ev->flags |= EVF_LITE;
}

static void
bf_account_update(struct bctx *b, const json_t *data)
{
	const json_t *a, *bal, *pos, *row, *m;
	char reason[EV_WORD] = "";
	struct event *ev;
	size_t i;
	int64_t t;

	if (top_i64(b, data, "T", &t) == -1 || jsub(&b->j, data, "a", REQ, 0, &a) == -1) {
		frame_fail(b, 1);
		return;
	}
	jprefix(&b->j, "a.");
	if ((m = jget(a, "m")) != NULL && json_is_string(m))
		ev_copy_text(reason, sizeof(reason), json_string_value(m), json_string_length(m));
	if (jsub(&b->j, a, "B", OPT, 1, &bal) == -1 || jsub(&b->j, a, "P", OPT, 1, &pos) == -1) {
		frame_fail(b, 1);
		return;
	}
	json_array_foreach(bal, i, row) {
		jpath(&b->j, "a.", "B", (int)i);
		if ((ev = batch_add(b, EV_BALANCE)) == NULL || (!json_is_object(row) &&
		    jfail(&b->j, "", "expected an object") == -1) ||
		    jfields(&b->j, row, au_balance, NFIELDS(au_balance), &ev->u.balance) == -1) {
			batch_discard(b);
			continue;
		}
		memcpy(ev->u.balance.reason, reason, sizeof(reason));
		ev->u.balance.update_time = t;
	}
	json_array_foreach(pos, i, row) {
		jpath(&b->j, "a.", "P", (int)i);
		if ((ev = batch_add(b, EV_POSITION)) == NULL || (!json_is_object(row) &&
		    jfail(&b->j, "", "expected an object") == -1) ||
		    jfields(&b->j, row, au_position, NFIELDS(au_position), &ev->u.position) == -1) {
			batch_discard(b);
			continue;
		}
		ev->u.position.update_time = t;
	}
}

static void
bf_margin_call(struct bctx *b, const json_t *data)
{
	struct ev_margin_call call;
	const json_t *arr, *row;
	struct event *ev;
	size_t i;

	memset(&call, 0, sizeof(call));
	/* cw is documented for cross margin calls only: "" (NULL) without it. */
	jfields(&b->j, data, mc_wallet, NFIELDS(mc_wallet), &call);
	if (jsub(&b->j, data, "p", OPT, 1, &arr) == -1) {
		frame_fail(b, 1);
		return;
	}
	json_array_foreach(arr, i, row) {
		jpath(&b->j, "", "p", (int)i);
		if ((ev = batch_add(b, EV_MARGIN_CALL)) == NULL)
			return;
		ev->u.margin_call = call;
		if ((!json_is_object(row) && jfail(&b->j, "", "expected an object") == -1) ||
		    jfields(&b->j, row, mc_position, NFIELDS(mc_position),
		    &ev->u.margin_call) == -1)
			batch_discard(b);
	}
	if (json_array_size(arr) == 0 && (ev = batch_add(b, EV_MARGIN_CALL)) != NULL)
		ev->u.margin_call = call;
}

static void
bf_account_config_update(struct bctx *b, const json_t *data)
{
	const json_t *ac, *ai, *v;
	struct event *ev;
	int64_t t;

	if (top_i64(b, data, "T", &t) == -1 ||
	    jsub(&b->j, data, "ac", OPT, 0, &ac) == -1 ||
	    jsub(&b->j, data, "ai", OPT, 0, &ai) == -1) {
		frame_fail(b, 1);
		return;
	}
	if (ac == NULL && ai == NULL) {
		jfail(&b->j, "ac", "missing, and no ai either");
		frame_fail(b, 1);
		return;
	}
	if (ac != NULL && (ev = batch_add(b, EV_CONFIG)) != NULL) {
		jprefix(&b->j, "ac.");
		ev->u.config.multi_assets = -1;
		ev->u.config.update_time = t;
		if ((v = jget(ac, "s")) == NULL || !json_is_string(v) ||
		    json_string_length(v) >= sizeof(ev->u.config.symbol)) {
			jfail(&b->j, "s", v == NULL ? "missing" : "expected a short string");
			batch_discard(b);
		} else if ((v = jget(ac, "l")) == NULL || !json_is_integer(v) ||
		    json_integer_value(v) < 0 || json_integer_value(v) > BF_LEVERAGE_MAX) {
			jfail(&b->j, "l", v == NULL ? "missing" : "expected a leverage (an integer "
			    "from 0 to 100000)");
			batch_discard(b);
		} else {
			snprintf(ev->u.config.symbol, sizeof(ev->u.config.symbol), "%s",
			    json_string_value(jget(ac, "s")));
			ev->u.config.leverage = (int)json_integer_value(v);
		}
	}
	if (ai != NULL && (ev = batch_add(b, EV_CONFIG)) != NULL) {
		jprefix(&b->j, "ai.");
		ev->u.config.leverage = -1;
		ev->u.config.update_time = t;
		if ((v = jget(ai, "j")) == NULL || !json_is_boolean(v)) {
			jfail(&b->j, "j", v == NULL ? "missing" : "expected a boolean");
			batch_discard(b);
		} else
			ev->u.config.multi_assets = json_is_true(v) ? 1 : 0;
	}
}

static void
bf_algo_update(struct bctx *b, const json_t *data)
{
	const json_t *o;
	struct event *ev;
	int64_t t;

	if (top_i64(b, data, "T", &t) == -1 || jsub(&b->j, data, "o", REQ, 0, &o) == -1) {
		frame_fail(b, 1);
		return;
	}
	jprefix(&b->j, "o.");
	if ((ev = batch_add(b, EV_ALGO)) == NULL ||
	    jfields(&b->j, o, algo_stream, NFIELDS(algo_stream), &ev->u.algo) == -1) {
		batch_discard(b);
		return;
	}
	ev->u.algo.update_time = t;
}

static const struct {
	const char	*name;
	void		(*fn)(struct bctx *, const json_t *);
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

static int
perr(const char **err, const char *what, const char *key, const char *why)
{
	snprintf(bf_errbuf, sizeof(bf_errbuf), "%s: %s: %s", what, key, why);
	if (err != NULL)
		*err = bf_errbuf;
	return -1;
}

/*
 * listenKeyExpired is read leniently, since losing one silences the account
 * until something else notices: older frames had no listenKey (then the
 * envelope's stream names the key, or "" means the connection's own), and
 * a documentation example writes E as a string of digits.
 */
static int
expired_parse(const json_t *data, struct bf_frame *f, const char **err)
{
	const json_t *v;

	if ((v = jget(data, "E")) == NULL)
		return perr(err, BF_EXPIRED, "E", "missing");
	if (json_is_string(v)) {
		const char *s = json_string_value(v);

		if (strspn(s, "0123456789") != strlen(s) || strlen(s) == 0 || strlen(s) > 18)
			return perr(err, BF_EXPIRED, "E", "expected an integer");
		f->event_time = strtoll(s, NULL, 10);
	} else if (json_is_integer(v))
		f->event_time = (int64_t)json_integer_value(v);
	else
		return perr(err, BF_EXPIRED, "E", "expected an integer");
	if ((v = jget(data, "listenKey")) == NULL)
		f->expired_key = f->stream != NULL ? f->stream : "";
	else if (!json_is_string(v))
		return perr(err, BF_EXPIRED, "listenKey", "expected a string");
	else
		f->expired_key = json_string_value(v);
	return 0;
}

int
bf_frame_parse(const char *buf, size_t len, struct bf_frame *f, const char **err)
{
	const json_t *data, *v, *e;
	const char *why;
	json_t *root;

	memset(f, 0, sizeof(*f));
	if ((root = jparse(buf, len, &why)) == NULL)
		return perr(err, "frame", "body", why);
	if (!json_is_object(root)) {
		json_decref(root);
		return perr(err, "frame", "body", "not a JSON object");
	}
	data = root;
	/* The combined envelope {"stream":"<listenKey>","data":{...}}. */
	if ((v = json_object_get(root, "data")) != NULL) {
		const json_t *s = json_object_get(root, "stream");

		if (!json_is_object(v)) {
			perr(err, "envelope", "data", "expected an object");
			goto bad;
		}
		if (s == NULL || !json_is_string(s)) {
			perr(err, "envelope", "stream", s == NULL ? "missing" : "expected a string");
			goto bad;
		}
		f->stream = json_string_value(s);
		data = v;
	}
	if ((e = json_object_get(data, "e")) == NULL) {
		perr(err, "frame", "e", "missing");
		goto bad;
	}
	if (!json_is_string(e) || json_string_length(e) == 0) {
		perr(err, "frame", "e", "expected a non-empty string");
		goto bad;
	}
	f->etype = json_string_value(e);
	if (strcmp(f->etype, BF_EXPIRED) == 0) {
		if (expired_parse(data, f, err) == -1)
			goto bad;
	} else if ((v = jget(data, "E")) != NULL) {
		if (!json_is_integer(v)) {
			perr(err, f->etype, "E", "expected an integer");
			goto bad;
		}
		f->event_time = (int64_t)json_integer_value(v);
	} else if (known_type(f->etype) != -1) {
		/* E is required of the types we know; an unknown one may lack it. */
		perr(err, f->etype, "E", "missing");
		goto bad;
	}
	f->root = root;
	f->data = data;
	return 0;
bad:
	json_decref(root);
	memset(f, 0, sizeof(*f));
	return -1;
}

void
bf_frame_free(struct bf_frame *f)
{
	json_decref(f->root);
	memset(f, 0, sizeof(*f));
}

/*
 * The exact text of the envelope's "data" value inside raw, so that an
 * unknown event is kept (and hashed) the same whether it came bare or in
 * the envelope, and the envelope's stream name (a listen key, a secret)
 * never lands in event_log.  raw has been parsed already, so this only has
 * to find boundaries, not validate.
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

static void
bf_unknown(struct bctx *b, const struct bf_frame *f, const char *raw, size_t rawlen)
{
	struct event *ev;
	const char *start = raw;
	size_t n = rawlen;
	char *copy;

	if (raw == NULL || (f->stream != NULL && envelope_data(raw, rawlen, &start, &n) == -1)) {
		if ((copy = json_dumps(f->data, JSON_COMPACT | JSON_PRESERVE_ORDER)) == NULL) {
			jfail(&b->j, "", "out of memory");
			frame_fail(b, 1);
			return;
		}
	} else {
		const char *end = start + n;

		start = skip_ws(start, end);
		while (end > start && skip_ws(end - 1, end) == end)
			end--;
		n = (size_t)(end - start);
		if ((copy = malloc(n + 1)) == NULL) {
			jfail(&b->j, "", "out of memory");
			frame_fail(b, 1);
			return;
		}
		memcpy(copy, start, n);
		copy[n] = '\0';
	}
	if ((ev = batch_add(b, EV_UNKNOWN)) == NULL) {
		free(copy);
		frame_fail(b, 1);
		return;
	}
	/* The name is free text: an overlong one is cut on a character boundary. */
	ev_copy_text(ev->u.unknown.name, sizeof(ev->u.unknown.name), f->etype, strlen(f->etype));
	ev->u.unknown.raw = copy;
}

int
bf_frame_events(const struct bf_frame *f, const char *raw, size_t rawlen,
    const struct ev_origin *org, ev_emit_fn emit, void *arg, struct bf_drops *drops)
{
	struct bctx b = {
		.j = { .what = f->etype, .drops = drops },
		.org = org,
		.flags = org->flags,
		.event_time = f->event_time,
	};
	int k;

	if (f->root == NULL || f->etype == NULL) {
		drop(drops, "frame: not parsed");
		return 0;
	}
	batch_reset();
	k = known_type(f->etype);
	if (k == (int)NFIELDS(bf_types))
		return 0;	/* listenKeyExpired: the caller acts on expired_key */
	if (k == -1)
		bf_unknown(&b, f, raw, rawlen);
	else
		bf_types[k].fn(&b, f->data);
	return batch_emit(drops, emit, arg);
}

/* ------------------------------------------------------------------ REST */

static const struct {
	const char		*what;
	enum ev_type		 type;
	const struct jfield	*fields;
	size_t			 nfields;
	int			 object;	/* one object, not an array of rows */
} bf_rest_kinds[] = {
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
	[BF_REST_ALGO_ORDER] = { "GET /fapi/v1/algoOrder", EV_ALGO,
	    rest_algo, NFIELDS(rest_algo), 1 },
	[BF_REST_ALL_ALGO_ORDERS] = { "GET /fapi/v1/allAlgoOrders", EV_ALGO,
	    rest_algo, NFIELDS(rest_algo), 0 },
};

/* One REST row → one event; the values match what the stream gives. */
static void
rest_row(struct bctx *b, unsigned kind, const json_t *row)
{
	struct event *ev;

	if ((ev = batch_add(b, bf_rest_kinds[kind].type)) == NULL)
		return;
	if (!json_is_object(row)) {
		jfail(&b->j, "", "expected an object");
		batch_discard(b);
		return;
	}
	if (jfields(&b->j, row, bf_rest_kinds[kind].fields, bf_rest_kinds[kind].nfields,
	    &ev->u) == -1) {
		batch_discard(b);
		return;
	}
	switch (ev->type) {
	case EV_ORDER:
		snprintf(ev->u.order.exec_type, sizeof(ev->u.order.exec_type), "RESYNC");
		break;
	case EV_ALGO:
		/* Not in REST rows (FACTS: Query-Algo-Order): unknown, not zero. */
		ev->u.algo.filled_qty[0] = '\0';
		ev->u.algo.reject_reason[0] = '\0';
		break;
	default:
		break;
	}
}

/* The body as a JSON value of the expected shape, or NULL with drops->why. */
static json_t *
rest_body(const char *what, const char *body, size_t len, int object, struct bf_drops *drops)
{
	const char *why;
	json_t *root;

	if ((root = jparse(body, len, &why)) == NULL) {
		if (drops)
			snprintf(drops->why, sizeof(drops->why), "%s: %s", what, why);
		return NULL;
	}
	if (object ? !json_is_object(root) : !json_is_array(root)) {
		if (drops)
			snprintf(drops->why, sizeof(drops->why), "%s: expected a JSON %s", what,
			    object ? "object" : "array");
		json_decref(root);
		return NULL;
	}
	return root;
}

int
bf_rest_events(enum bf_rest kind, const char *body, size_t len, const struct ev_origin *org,
    int64_t now_ms, ev_emit_fn emit, void *arg, struct bf_drops *drops)
{
	struct bctx b = { .org = org, .flags = org->flags | EVF_RESYNC, .event_time = now_ms };
	const json_t *row;
	json_t *root;
	size_t i;

	if ((unsigned)kind >= NFIELDS(bf_rest_kinds) || bf_rest_kinds[kind].what == NULL) {
		if (drops)
			snprintf(drops->why, sizeof(drops->why), "REST: unknown endpoint");
		return -1;
	}
	b.j.what = bf_rest_kinds[kind].what;
	b.j.drops = drops;
	if ((root = rest_body(b.j.what, body, len, bf_rest_kinds[kind].object, drops)) == NULL)
		return -1;
	batch_reset();
	if (bf_rest_kinds[kind].object)
		rest_row(&b, kind, root);
	else
		json_array_foreach(root, i, row) {
			jpath(&b.j, "", "", (int)i);
			rest_row(&b, kind, row);
		}
	json_decref(root);
	return batch_emit(drops, emit, arg);
}

void
bf_account_free(struct bf_account *a)
{
	free(a->pos);
	a->pos = NULL;
	a->npos = 0;
}

/* leverage: a string of digits in the documentation, an integer accepted too. */
static int
v2_leverage(const json_t *v)
{
	long long l;
	char *end;

	if (json_is_integer(v))
		l = json_integer_value(v);
	else if (json_is_string(v) && json_string_length(v) > 0 && json_string_length(v) < 8) {
		l = strtoll(json_string_value(v), &end, 10);
		if (*end != '\0')
			return -1;
	} else
		return -1;
	return l >= 0 && l <= BF_LEVERAGE_MAX ? (int)l : -1;
}

int
bf_account_v2(const char *body, size_t len, const struct ev_origin *org, int64_t now_ms,
    ev_emit_fn emit, void *arg, struct bf_account *acct, struct bf_drops *drops)
{
	struct bctx b = { .org = org, .flags = org->flags | EVF_RESYNC, .event_time = now_ms };
	const json_t *arr, *row, *v;
	struct event *ev;
	json_t *root;
	size_t i;

	memset(acct, 0, sizeof(*acct));
	acct->multi_assets = -1;
	b.j.what = "GET /fapi/v2/account";
	b.j.drops = drops;
	if ((root = rest_body(b.j.what, body, len, 1, drops)) == NULL)
		return -1;
	if ((v = jget(root, "multiAssetsMargin")) != NULL && json_is_boolean(v))
		acct->multi_assets = json_is_true(v) ? 1 : 0;
	batch_reset();
	if ((arr = jget(root, "assets")) != NULL && json_is_array(arr))
		json_array_foreach(arr, i, row) {
			jpath(&b.j, "", "assets", (int)i);
			if ((ev = batch_add(&b, EV_BALANCE)) == NULL)
				break;
			if (!json_is_object(row) ? jfail(&b.j, "", "expected an object") == -1 :
			    jfields(&b.j, row, acct_asset, NFIELDS(acct_asset), &ev->u.balance) == -1) {
				batch_discard(&b);
				continue;
			}
			snprintf(ev->u.balance.change, sizeof(ev->u.balance.change), "0");
			snprintf(ev->u.balance.reason, sizeof(ev->u.balance.reason), "RESYNC");
		}
	if ((arr = jget(root, "positions")) != NULL && json_is_array(arr) && json_array_size(arr)) {
		if ((acct->pos = calloc(json_array_size(arr), sizeof(*acct->pos))) == NULL) {
			batch_reset();
			json_decref(root);
			if (drops)
				snprintf(drops->why, sizeof(drops->why), "%s: out of memory", b.j.what);
			return -1;
		}
		json_array_foreach(arr, i, row) {
			struct bf_account_position *p = &acct->pos[acct->npos];

			jpath(&b.j, "", "positions", (int)i);
			if (!json_is_object(row) ? jfail(&b.j, "", "expected an object") == -1 :
			    jfields(&b.j, row, acct_position, NFIELDS(acct_position), p) == -1 ||
			    (!ev_symbol_ok(p->symbol, strlen(p->symbol)) &&
			    jfail(&b.j, "symbol", "not a symbol") == -1)) {
				/* A position row is not an event: count it all the same. */
				drop(drops, b.j.why);
				continue;
			}
			p->leverage = (v = jget(row, "leverage")) != NULL ? v2_leverage(v) : -1;
			acct->npos++;
		}
	}
	json_decref(root);
	if (acct->npos == 0 && acct->pos != NULL) {
		free(acct->pos);
		acct->pos = NULL;
	}
	return batch_emit(drops, emit, arg);
}

static int
opens_with(const char *buf, size_t len, const char *prefix)
{
	size_t n = strlen(prefix);

	return len >= n && memcmp(buf, prefix, n) == 0;
}

int
bf_ws_reply(const char *buf, size_t len, int64_t *id, int *error)
{
	const json_t *v;
	const char *why;
	json_t *root;
	int rc = 0;

	/*
	 * Events are most frames: only parse what opens like a reply.  buf is
	 * len bytes, not a C string: an 8-byte frame "{\"result" must not make
	 * a 9-byte comparison read past it.
	 */
	if (!opens_with(buf, len, "{\"result\"") && !opens_with(buf, len, "{\"error\"") &&
	    !opens_with(buf, len, "{\"id\""))
		return 0;
	if ((root = jparse(buf, len, &why)) == NULL)
		return 0;
	if (json_is_object(root) && json_object_get(root, "e") == NULL &&
	    json_object_get(root, "data") == NULL && json_is_integer(v = json_object_get(root, "id"))
	    && (json_object_get(root, "result") != NULL || json_object_get(root, "error") != NULL)) {
		*id = (int64_t)json_integer_value(v);
		*error = json_object_get(root, "error") != NULL;
		rc = 1;
	}
	json_decref(root);
	return rc;
}

size_t
bf_rest_body_max(const char *path_query)
{
	static const struct {
		const char	*path;
		size_t		 max;
	} t[] = {
		{ "/fapi/v1/listenKey", 4096 },
		{ "/fapi/v1/order?", 64 * 1024 },
		{ "/fapi/v1/algoOrder?", 64 * 1024 },
		{ "/fapi/v1/userTrades", 1024 * 1024 },
		{ "/fapi/v1/allOrders", 2 * 1024 * 1024 },
		{ "/fapi/v1/allAlgoOrders", 2 * 1024 * 1024 },
		{ "/fapi/v1/time", 4096 },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (strncmp(path_query, t[i].path, strlen(t[i].path)) == 0)
			return t[i].max;
	/* positionRisk, account, openOrders and openAlgoOrders of every symbol */
	return 4 * 1024 * 1024;
}

int
bf_listen_key(const char *body, size_t len, char *out, size_t outlen)
{
	const json_t *v;
	const char *why;
	json_t *root;
	int rc = -1;

	if ((root = jparse(body, len, &why)) == NULL)
		return -1;
	v = json_is_object(root) ? json_object_get(root, "listenKey") : NULL;
	if (v != NULL && json_is_string(v) && json_string_length(v) > 0 &&
	    json_string_length(v) < outlen) {
		memcpy(out, json_string_value(v), json_string_length(v) + 1);
		rc = 0;
	}
	json_decref(root);
	return rc;
}

int
bf_rest_error(const char *body, size_t len, int *code, char *msg, size_t msglen)
{
	const json_t *c, *m;
	const char *why;
	json_t *root;
	int rc = -1;

	if ((root = jparse(body, len, &why)) == NULL)
		return -1;
	if (json_is_object(root)) {
		c = json_object_get(root, "code");
		m = json_object_get(root, "msg");
		if (json_is_integer(c) && json_is_string(m) &&
		    json_integer_value(c) >= -2147483647LL && json_integer_value(c) <= 2147483647LL) {
			*code = (int)json_integer_value(c);
			if (msglen > 0)
				snprintf(msg, msglen, "%s", json_string_value(m));
			rc = 0;
		}
	}
	json_decref(root);
	return rc;
}
