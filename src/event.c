/*
 * event.c: the normalized event's type names, deterministic ids and cleanup.
 * The msgpack and JSON codecs live in evcodec.c.
 */
#include "autoconf.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "event.h"

static const char *const ev_names[EV_TYPE_MAX] = {
	[EV_ORDER] = "order",
	[EV_FILL] = "fill",
	[EV_ALGO] = "algo",
	[EV_POSITION] = "position",
	[EV_BALANCE] = "balance",
	[EV_MARGIN_CALL] = "margin_call",
	[EV_CONFIG] = "config",
	[EV_UNKNOWN] = "unknown",
	[EV_GAP] = "gap",
	[EV_KLINE] = "kline",
	[EV_MARK_PRICE] = "mark_price",
	[EV_FUNDING] = "funding",
	[EV_TICKER] = "ticker",
	[EV_TRADE] = "trade",
	[EV_BOOK] = "book",
	[EV_BOOK_TICKER] = "book_ticker",
	[EV_LIQUIDATION] = "liquidation",
};

int64_t
ev_fact_time(const struct event *ev)
{
	int64_t t;

	switch (ev->type) {
	case EV_ORDER:
		t = ev->u.order.update_time;
		break;
	case EV_FILL:
		t = ev->u.fill.time;
		break;
	case EV_ALGO:
		t = ev->u.algo.update_time;
		break;
	case EV_POSITION:
		t = ev->u.position.update_time;
		break;
	case EV_BALANCE:
		t = ev->u.balance.update_time;
		break;
	case EV_CONFIG:
		t = ev->u.config.update_time;
		break;
	case EV_KLINE:
		t = ev->u.kline.open_time;
		break;
	case EV_TRADE:
		t = ev->u.trade.time;
		break;
	case EV_BOOK:
		t = ev->u.book.time;
		break;
	case EV_BOOK_TICKER:
		t = ev->u.book_ticker.time;
		break;
	case EV_LIQUIDATION:
		t = ev->u.liquidation.time;
		break;
	default:		/* margin calls, unknown events, mark price, funding, ticker: E */
		t = 0;
		break;
	}
	return t > 0 ? t : ev->event_time;
}

int64_t
ev_fact_day(const struct event *ev)
{
	int64_t t = ev_fact_time(ev);

	/* Floor, not truncation (a time before 1970 is a day before it); -t would overflow. */
	return t >= 0 ? t / 86400000 : -((-(t + 1)) / 86400000) - 1;
}

/* NULL for EV_TYPE_NONE and anything out of range, so a decoder can reject them. */
const char *
ev_type_name(unsigned type)
{
	if (type >= EV_TYPE_MAX)
		return NULL;
	return ev_names[type];
}

/*
 * A decimal in its shortest form, so that "0.010" from the stream and
 * "0.01" from REST name the same fact: trailing fractional zeros and a
 * trailing point go, "-0" becomes "0".  Anything else is copied as is.
 */
static const char *
dec_canon(const char *s, char *buf, size_t bufsz)
{
	size_t len = strlen(s);
	const char *dot = strchr(s, '.');

	if (len >= bufsz)
		return s;
	memcpy(buf, s, len + 1);
	if (dot != NULL) {
		while (len > 0 && buf[len - 1] == '0')
			buf[--len] = '\0';
		if (len > 0 && buf[len - 1] == '.')
			buf[--len] = '\0';
	}
	if (strspn(buf, "-0") == len && len > 0 && strchr(buf, '0') != NULL)
		strcpy(buf, "0");
	return buf;
}

static void
hex(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0x0f];
	}
	out[2 * n] = '\0';
}

/* Lower-case hex SHA-256 of the bytes; out holds 65. */
static void
sha256_hex(const void *p, size_t len, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (EVP_Digest(p, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32) {
		/* Only a broken libcrypto gets here; keep the id well-formed. */
		memset(out, '0', 64);
		out[64] = '\0';
		return;
	}
	hex(md, 32, out);
}

void
ev_make_id(struct event *ev)
{
	char full[512], d1[EV_DEC], d2[EV_DEC], d3[EV_DEC], sha[65];
	const char *raw;
	int64_t acct = ev->account_id;
	int n;

	switch (ev->type) {
	case EV_ORDER:
		/*
		 * Price and quantity too: an amendment (PUT /fapi/v1/order) keeps
		 * status and filled quantity and may share the millisecond of the
		 * update before it (soak seed 4004); it is a new fact, not the
		 * same one again.
		 */
		n = snprintf(full, sizeof(full), "o:%" PRId64 ":%" PRId64 ":%s:%" PRId64 ":%s:%s:%s",
		    acct, ev->u.order.order_id, ev->u.order.status, ev->u.order.update_time,
		    dec_canon(ev->u.order.filled_qty, d1, sizeof(d1)),
		    dec_canon(ev->u.order.price, d2, sizeof(d2)),
		    dec_canon(ev->u.order.orig_qty, d3, sizeof(d3)));
		break;
	case EV_FILL:
		/* A self-trade is two executions with one trade id: the order tells them apart. */
		n = snprintf(full, sizeof(full), "f:%" PRId64 ":%s:%" PRId64 ":%" PRId64,
		    acct, ev->u.fill.symbol, ev->u.fill.trade_id, ev->u.fill.order_id);
		break;
	case EV_ALGO:
		n = snprintf(full, sizeof(full), "a:%" PRId64 ":%" PRId64 ":%s:%" PRId64,
		    acct, ev->u.algo.algo_id, ev->u.algo.status, ev->u.algo.update_time);
		break;
	case EV_POSITION:
		n = snprintf(full, sizeof(full), "p:%" PRId64 ":%s:%s:%" PRId64 ":%s",
		    acct, ev->u.position.symbol, ev->u.position.position_side,
		    ev->u.position.update_time,
		    dec_canon(ev->u.position.amount, d1, sizeof(d1)));
		break;
	case EV_BALANCE:
		n = snprintf(full, sizeof(full), "b:%" PRId64 ":%s:%" PRId64 ":%s",
		    acct, ev->u.balance.asset, ev->u.balance.update_time,
		    dec_canon(ev->u.balance.wallet, d1, sizeof(d1)));
		break;
	case EV_MARGIN_CALL:
		n = snprintf(full, sizeof(full), "m:%" PRId64 ":%" PRId64 ":%s:%s",
		    acct, ev->event_time, ev->u.margin_call.symbol,
		    ev->u.margin_call.position_side);
		break;
	case EV_CONFIG:
		n = snprintf(full, sizeof(full), "c:%" PRId64 ":%s:%" PRId64,
		    acct, ev->u.config.symbol, ev->u.config.update_time);
		break;
	case EV_GAP:
		n = snprintf(full, sizeof(full), "g:%" PRId64 ":%s:%" PRId64 ":%" PRId64,
		    acct, ev->u.gap.heal ? "heal" : "open", ev->u.gap.at_us, ev->u.gap.since);
		break;
	case EV_UNKNOWN:
		raw = ev->u.unknown.raw != NULL ? ev->u.unknown.raw : "";
		sha256_hex(raw, strlen(raw), sha);
		n = snprintf(full, sizeof(full), "u:%" PRId64 ":%" PRId64 ":%s:%.16s",
		    acct, ev->event_time, ev->u.unknown.name, sha);
		break;
	/*
	 * Market data: no account; the exchange and symbol, then what tells
	 * one fact of the stream from the next.
	 */
	case EV_KLINE:
		/*
		 * A closed candle is one fact, whether from the stream's x=true
		 * frame or a REST row: its open time names it.  The updates of an
		 * open one differ by their event time.
		 */
		if (ev->u.kline.closed)
			n = snprintf(full, sizeof(full), "kline:%s:%s:%s:%" PRId64, ev->exchange,
			    ev->u.kline.symbol, ev->u.kline.interval, ev->u.kline.open_time);
		else
			n = snprintf(full, sizeof(full), "kline:%s:%s:%s:%" PRId64 ":open:%" PRId64,
			    ev->exchange, ev->u.kline.symbol, ev->u.kline.interval,
			    ev->u.kline.open_time, ev->event_time);
		break;
	case EV_MARK_PRICE:
		n = snprintf(full, sizeof(full), "markprice:%s:%s:%" PRId64, ev->exchange,
		    ev->u.mark_price.symbol, ev->event_time);
		break;
	case EV_FUNDING:
		/* A change of the rate or of the next funding time: both name it. */
		n = snprintf(full, sizeof(full), "funding:%s:%s:%" PRId64 ":%s", ev->exchange,
		    ev->u.funding.symbol, ev->u.funding.next_funding_time,
		    dec_canon(ev->u.funding.funding_rate, d1, sizeof(d1)));
		break;
	case EV_TICKER:
		n = snprintf(full, sizeof(full), "%s:%s:%s:%" PRId64,
		    ev->flags & EVF_MINI ? "miniticker" : "ticker", ev->exchange,
		    ev->u.ticker.symbol, ev->event_time);
		break;
	case EV_TRADE:
		n = snprintf(full, sizeof(full), "%s:%s:%s:%" PRId64,
		    ev->flags & EVF_AGG ? "aggtrade" : "trade", ev->exchange, ev->u.trade.symbol,
		    ev->u.trade.trade_id);
		break;
	case EV_BOOK:
		/* A local book's top-N after diff u; a partial depth frame's own u. */
		n = snprintf(full, sizeof(full), "%s:%s:%s:%u:%" PRId64,
		    ev->flags & EVF_PARTIAL ? "depth" : "book", ev->exchange, ev->u.book.symbol,
		    ev->u.book.depth, ev->u.book.last_update_id);
		break;
	case EV_BOOK_TICKER:
		n = snprintf(full, sizeof(full), "bookticker:%s:%s:%" PRId64, ev->exchange,
		    ev->u.book_ticker.symbol, ev->u.book_ticker.update_id);
		break;
	case EV_LIQUIDATION:
		n = snprintf(full, sizeof(full), "liquidation:%s:%s:%" PRId64 ":%s:%s", ev->exchange,
		    ev->u.liquidation.symbol, ev->u.liquidation.time, ev->u.liquidation.side,
		    dec_canon(ev->u.liquidation.orig_qty, d1, sizeof(d1)));
		break;
	default:
		n = snprintf(full, sizeof(full), "x:%" PRId64 ":%u", acct, ev->type);
		break;
	}
	if (n >= 0 && (size_t)n < sizeof(ev->id)) {
		memcpy(ev->id, full, (size_t)n + 1);
		return;
	}
	/*
	 * Only absurd field lengths get here.  Cutting the id would let two
	 * facts collide; a digest of the whole id keeps it unique and still
	 * deterministic: "<letter>:<acct>:#<sha256 of the full id>".
	 */
	if (n < 0)
		n = 0;
	else if ((size_t)n >= sizeof(full))
		n = sizeof(full) - 1;
	sha256_hex(full, (size_t)n, sha);
	snprintf(ev->id, sizeof(ev->id), "%c:%" PRId64 ":#%s", full[0], acct, sha);
}

int
ev_copy_text(char *dst, size_t size, const char *src, size_t len)
{
	int cut = 0;

	if (size == 0)
		return len > 0;
	if (len >= size) {
		len = size - 1;
		/* Back off continuation bytes, then the lead byte they belonged to. */
		while (len > 0 && ((unsigned char)src[len] & 0xc0) == 0x80)
			len--;
		cut = 1;
	}
	memcpy(dst, src, len);
	dst[len] = '\0';
	return cut;
}

int
ev_decimal(char *dst, size_t size, const char *s, size_t len)
{
	size_t i = 0, ip, fp, o = 0;
	int neg = 0;

	if (len > 0 && s[0] == '-') {
		neg = 1;
		i++;
	}
	ip = i;
	while (i < len && s[i] >= '0' && s[i] <= '9')
		i++;
	ip = i - ip;
	fp = 0;
	if (i < len && s[i] == '.') {
		size_t f0 = ++i;

		while (i < len && s[i] >= '0' && s[i] <= '9')
			i++;
		fp = i - f0;
	} else if (i < len)
		return -1;
	if (i != len || (ip == 0 && fp == 0))
		return -1;
	/* sign, "0" for a missing integer part, digits, point, digits, NUL */
	if (neg + (ip ? ip : 1) + (fp ? fp + 1 : 0) + 1 > size)
		return -1;
	if (neg)
		dst[o++] = '-';
	if (ip) {
		memcpy(dst + o, s + neg, ip);
		o += ip;
	} else
		dst[o++] = '0';
	if (fp) {
		dst[o++] = '.';
		memcpy(dst + o, s + len - fp, fp);
		o += fp;
	}
	dst[o] = '\0';
	return 0;
}

void
ev_clear(struct event *ev)
{
	if (ev->type == EV_UNKNOWN) {
		free(ev->u.unknown.raw);
		ev->u.unknown.raw = NULL;
	} else if (ev->type == EV_BOOK) {
		free(ev->u.book.levels);
		ev->u.book.levels = NULL;
		ev->u.book.nbids = ev->u.book.nasks = 0;
	}
}

/* v (0 <= v < 10^n) as n decimal digits. */
static void
digits(char *p, int64_t v, int n)
{
	while (n-- > 0) {
		p[n] = (char)('0' + v % 10);
		v /= 10;
	}
}

void
ev_iso8601(int64_t ms, char out[25])
{
	/* 0000-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z */
	const int64_t lo = -62167219200000LL, hi = 253402300799999LL;
	int64_t days, rem, z, era, doe, yoe, y, doy, mp, d, m;

	if (ms < lo)
		ms = lo;
	if (ms > hi)
		ms = hi;
	days = ms >= 0 ? ms / 86400000 : -((-(ms + 1)) / 86400000) - 1;
	rem = ms - days * 86400000;
	/* Days since 1970-01-01 → the proleptic Gregorian date (H. Hinnant's civil_from_days). */
	z = days + 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	y = yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	d = doy - (153 * mp + 2) / 5 + 1;
	m = mp < 10 ? mp + 3 : mp - 9;
	if (m <= 2)
		y++;
	if (y < 0 || y > 9999)
		y = y < 0 ? 0 : 9999;
	digits(out, y, 4);
	out[4] = '-';
	digits(out + 5, m, 2);
	out[7] = '-';
	digits(out + 8, d, 2);
	out[10] = 'T';
	digits(out + 11, rem / 3600000, 2);
	out[13] = ':';
	digits(out + 14, rem / 60000 % 60, 2);
	out[16] = ':';
	digits(out + 17, rem / 1000 % 60, 2);
	out[19] = '.';
	digits(out + 20, rem % 1000, 3);
	out[23] = 'Z';
	out[24] = '\0';
}

const char *
ev_market_symbol(const struct event *ev)
{
	switch (ev->type) {
	case EV_KLINE:
		return ev->u.kline.symbol;
	case EV_MARK_PRICE:
		return ev->u.mark_price.symbol;
	case EV_FUNDING:
		return ev->u.funding.symbol;
	case EV_TICKER:
		return ev->u.ticker.symbol;
	case EV_TRADE:
		return ev->u.trade.symbol;
	case EV_BOOK:
		return ev->u.book.symbol;
	case EV_BOOK_TICKER:
		return ev->u.book_ticker.symbol;
	case EV_LIQUIDATION:
		return ev->u.liquidation.symbol;
	default:
		return "";
	}
}
