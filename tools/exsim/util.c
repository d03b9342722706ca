/* util.c: the deterministic PRNG, exchange clocks, the JSON writer and
 * fixed-point decimal formatting shared by every exsim file. */
#include "exsim.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* splitmix64: tiny, fast and fully determined by its 64-bit state, which is
 * what makes the event sequence reproducible from --seed. */
uint64_t
rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

uint64_t
rng_below(uint64_t *s, uint64_t n)
{
	return n ? rng_next(s) % n : 0;
}

int64_t
ex_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Durations the exchange states (listen key 60 min, ping 3 min, 24 h cut)
 * shrink by --time-scale so tests can watch them expire. */
int64_t
ex_scaled_ms(int64_t exchange_ms)
{
	double v = (double)exchange_ms / ex.cfg.time_scale;

	return v < 1 ? 1 : (int64_t)v;
}

void
jb_reset(struct jbuf *jb)
{
	jb->len = 0;
}

void
jb_free(struct jbuf *jb)
{
	free(jb->p);
	jb->p = NULL;
	jb->len = jb->cap = 0;
}

void
jb_reserve(struct jbuf *jb, size_t more)
{
	size_t ncap;

	if (jb->len + more + 1 <= jb->cap)
		return;
	ncap = jb->cap ? jb->cap : 1024;
	while (ncap < jb->len + more + 1)
		ncap *= 2;
	jb->p = realloc(jb->p, ncap);
	if (!jb->p) {
		fprintf(stderr, "exsim: out of memory\n");
		abort();
	}
	jb->cap = ncap;
}

void
jb_raw(struct jbuf *jb, const char *s, size_t n)
{
	jb_reserve(jb, n);
	memcpy(jb->p + jb->len, s, n);
	jb->len += n;
	jb->p[jb->len] = '\0';
}

void
jb_puts(struct jbuf *jb, const char *s)
{
	jb_raw(jb, s, strlen(s));
}

void
jb_printf(struct jbuf *jb, const char *fmt, ...)
{
	va_list ap;
	int n;

	jb_reserve(jb, 256);
	va_start(ap, fmt);
	n = vsnprintf(jb->p + jb->len, jb->cap - jb->len, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= jb->cap - jb->len) {
		jb_reserve(jb, (size_t)n + 1);
		va_start(ap, fmt);
		vsnprintf(jb->p + jb->len, jb->cap - jb->len, fmt, ap);
		va_end(ap);
	}
	jb->len += (size_t)n;
}

/* A separator is needed unless we are right after an opener, a colon or a
 * comma; checking the last byte keeps call sites free of comma state. */
static void
jb_sep(struct jbuf *jb)
{
	char c;

	if (!jb->len)
		return;
	c = jb->p[jb->len - 1];
	if (c != '{' && c != '[' && c != ':' && c != ',')
		jb_raw(jb, ",", 1);
}

void
jb_open(struct jbuf *jb, char c)
{
	jb_sep(jb);
	jb_raw(jb, &c, 1);
}

void
jb_close(struct jbuf *jb, char c)
{
	jb_raw(jb, &c, 1);
}

void
jb_str(struct jbuf *jb, const char *s)
{
	const char *p;

	jb_sep(jb);
	jb_reserve(jb, strlen(s) * 6 + 2);
	jb->p[jb->len++] = '"';
	for (p = s; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (c == '"' || c == '\\') {
			jb->p[jb->len++] = '\\';
			jb->p[jb->len++] = (char)c;
		} else if (c < 0x20) {
			jb->len += (size_t)sprintf(jb->p + jb->len, "\\u%04x", c);
		} else {
			jb->p[jb->len++] = (char)c;
		}
	}
	jb->p[jb->len++] = '"';
	jb->p[jb->len] = '\0';
}

void
jb_key(struct jbuf *jb, const char *k)
{
	jb_str(jb, k);
	jb_raw(jb, ":", 1);
}

void
jb_int(struct jbuf *jb, int64_t v)
{
	char b[24];
	int n = snprintf(b, sizeof(b), "%lld", (long long)v);

	jb_sep(jb);
	jb_raw(jb, b, (size_t)n);
}

void
jb_fx(struct jbuf *jb, fx_t v, int dec)
{
	char b[48];
	int n = fx_fmt(b, sizeof(b), v, dec);

	jb_sep(jb);
	jb_reserve(jb, (size_t)n + 2);
	jb->p[jb->len++] = '"';
	memcpy(jb->p + jb->len, b, (size_t)n);
	jb->len += (size_t)n;
	jb->p[jb->len++] = '"';
	jb->p[jb->len] = '\0';
}

void
jb_kstr(struct jbuf *jb, const char *k, const char *v)
{
	jb_key(jb, k);
	jb_str(jb, v);
}

void
jb_kint(struct jbuf *jb, const char *k, int64_t v)
{
	jb_key(jb, k);
	jb_int(jb, v);
}

void
jb_kbool(struct jbuf *jb, const char *k, bool v)
{
	jb_key(jb, k);
	jb_puts(jb, v ? "true" : "false");
}

void
jb_kfx(struct jbuf *jb, const char *k, fx_t v, int dec)
{
	jb_key(jb, k);
	jb_fx(jb, v, dec);
}

/* Binance prints an untouched decimal as a bare "0" in many fields
 * (ap, sp, l, L, rp of a NEW order); jb_kfx0 mimics that. */
void
jb_kfx0(struct jbuf *jb, const char *k, fx_t v, int dec)
{
	jb_key(jb, k);
	if (v == 0)
		jb_str(jb, "0");
	else
		jb_fx(jb, v, dec);
}

void
jb_kopen(struct jbuf *jb, const char *k, char c)
{
	jb_key(jb, k);
	jb_raw(jb, &c, 1);
}

/* Print v (1e-8 units) with exactly dec decimals, truncating toward zero. */
int
fx_fmt(char *out, size_t outlen, fx_t v, int dec)
{
	uint64_t a = v < 0 ? (uint64_t)(-(v + 1)) + 1 : (uint64_t)v;
	uint64_t ip = a / FX_ONE, fp = a % FX_ONE;
	char frac[16];
	int i;

	if (dec <= 0)
		return snprintf(out, outlen, "%s%llu", v < 0 && ip ? "-" : "",
		    (unsigned long long)ip);
	if (dec > 8)
		dec = 8;
	snprintf(frac, sizeof(frac), "%08llu", (unsigned long long)fp);
	frac[dec] = '\0';
	/* a value that truncates to zero prints without a sign */
	for (i = 0; i < dec && frac[i] == '0'; i++)
		;
	return snprintf(out, outlen, "%s%llu.%s", v < 0 && (ip || i < dec) ? "-" : "",
	    (unsigned long long)ip, frac);
}

fx_t
fx_mul(fx_t a, fx_t b)
{
	return (fx_t)(((__int128)a * b) / FX_ONE);
}

fx_t
fx_div(fx_t a, fx_t b)
{
	if (b == 0)
		return 0;
	return (fx_t)(((__int128)a * FX_ONE) / b);
}

fx_t
fx_round(fx_t v, fx_t unit)
{
	if (unit <= 0)
		return v;
	return (v / unit) * unit;
}

fx_t
fx_abs(fx_t v)
{
	return v < 0 ? -v : v;
}

/* Binance API keys and listen keys are 64 alphanumerics. */
void
hex_key(uint64_t *rng, char *out, int n, bool alnum)
{
	static const char an[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	static const char hx[] = "0123456789abcdef";
	int i;

	for (i = 0; i < n; i++)
		out[i] = alnum ? an[rng_below(rng, 62)] : hx[rng_below(rng, 16)];
	out[n] = '\0';
}
