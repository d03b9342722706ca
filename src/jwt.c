/*
 * jwt.c: HS256 JSON Web Tokens (RFC 7519, RFC 7515 compact form) for the
 * gateway's clients and exfeedctl token.  Only HS256: the header must say
 * so, whatever else it says (RFC 8725 §3.1).  The signature is checked
 * before anything of the payload is believed, in constant time.
 * Nothing here logs: a token is a credential.
 */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "crypto.h"
#include "jwt.h"

#define JWT_SIG_LEN	32		/* SHA-256 */
#define JWT_MAX_LEN	8192		/* a longer token is not one of ours */
#define JWT_SECRET_MIN	32		/* RFC 7518 §3.2: a key as long as the hash */
#define JWT_SECRET_MAX	4096

static const char b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* base64url without padding of len bytes into out (4 * ceil(len / 3) + 1 bytes); its length. */
static size_t
b64url_encode(const unsigned char *in, size_t len, char *out)
{
	size_t o = 0, i;

	for (i = 0; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

		out[o++] = b64url[v >> 18 & 63];
		out[o++] = b64url[v >> 12 & 63];
		out[o++] = b64url[v >> 6 & 63];
		out[o++] = b64url[v & 63];
	}
	if (len - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;

		out[o++] = b64url[v >> 18 & 63];
		out[o++] = b64url[v >> 12 & 63];
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;

		out[o++] = b64url[v >> 18 & 63];
		out[o++] = b64url[v >> 12 & 63];
		out[o++] = b64url[v >> 6 & 63];
	}
	out[o] = '\0';
	return o;
}

static int
b64url_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

/*
 * Decode base64url without padding (RFC 7515 §2): len characters into out
 * (at least len * 3 / 4 bytes).  The decoded length, or -1 for a character
 * outside the alphabet, a length of 1 mod 4, or non-zero trailing bits
 * (a token has one spelling).
 */
static ssize_t
b64url_decode(const char *in, size_t len, unsigned char *out)
{
	uint32_t acc = 0;
	size_t o = 0;
	int bits = 0, v;

	if (len % 4 == 1)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if ((v = b64url_value((unsigned char)in[i])) == -1)
			return -1;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (acc != 0)
		return -1;
	return (ssize_t)o;
}

/* A part of the token decoded and parsed as a JSON object, or NULL. */
static json_t *
part_json(const char *p, size_t len)
{
	unsigned char *buf;
	ssize_t n;
	json_t *j;

	if ((buf = malloc(len * 3 / 4 + 1)) == NULL)
		return NULL;
	if ((n = b64url_decode(p, len, buf)) == -1) {
		free(buf);
		return NULL;
	}
	/* Duplicate keys are refused: {"alg":"HS256","alg":"none"} has no single meaning. */
	j = json_loadb((const char *)buf, (size_t)n, JSON_REJECT_DUPLICATES, NULL);
	free(buf);
	if (j != NULL && !json_is_object(j)) {
		json_decref(j);
		return NULL;
	}
	return j;
}

/* A NumericDate claim (RFC 7519 §2): an integer (a real is truncated).  1 present, 0 absent, -1 bad. */
static int
claim_time(const json_t *payload, const char *name, int64_t *out)
{
	const json_t *v = json_object_get(payload, name);

	*out = 0;
	if (v == NULL)
		return 0;
	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		return 1;
	}
	if (json_is_real(v) && json_real_value(v) > -9.2e18 && json_real_value(v) < 9.2e18) {
		*out = (int64_t)json_real_value(v);
		return 1;
	}
	return -1;
}

/* "sub": the user id as a decimal string or an integer, >= 1.  0 or -1. */
static int
claim_sub(const json_t *payload, int64_t *out)
{
	const json_t *v = json_object_get(payload, "sub");
	const char *s, *p;
	int64_t n = 0;

	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		return *out >= 1 ? 0 : -1;
	}
	if (!json_is_string(v))
		return -1;
	s = json_string_value(v);
	if (*s == '\0' || strlen(s) > 18 || (s[0] == '0'))
		return -1;
	for (p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		n = n * 10 + (*p - '0');
	}
	*out = n;
	return n >= 1 ? 0 : -1;
}

int
jwt_verify_hs256(const char *token, size_t len, const unsigned char *key, size_t keylen,
    int64_t now_s, int64_t leeway_s, struct jwt_claims *claims, const char **why)
{
	unsigned char mac[EVP_MAX_MD_SIZE], sig[JWT_SIG_LEN + 3];
	unsigned int maclen = 0;
	const char *dot1, *dot2, *alg;
	json_t *header = NULL, *payload = NULL;
	int64_t exp, nbf, iat;
	int rc;

	memset(claims, 0, sizeof(*claims));
	*why = "malformed token";
	if (token == NULL || len == 0 || len > JWT_MAX_LEN || key == NULL || keylen == 0)
		return -1;
	if ((dot1 = memchr(token, '.', len)) == NULL ||
	    (dot2 = memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token))) == NULL ||
	    memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token)) != NULL)
		return -1;
	/* The header first: an alg we do not take is said as such, even with no signature. */
	if ((header = part_json(token, (size_t)(dot1 - token))) == NULL)
		return -1;
	alg = json_string_value(json_object_get(header, "alg"));
	if (alg == NULL || strcmp(alg, "HS256") != 0 || json_object_get(header, "crit") != NULL) {
		*why = alg == NULL ? "no alg" : json_object_get(header, "crit") != NULL ?
		    "unsupported crit header" : "alg is not HS256";
		json_decref(header);
		return -1;
	}
	json_decref(header);
	/* The signature: exactly 32 bytes, 43 characters. */
	if (len - (size_t)(dot2 + 1 - token) != 43 ||
	    b64url_decode(dot2 + 1, 43, sig) != JWT_SIG_LEN)
		return -1;
	if (HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)token,
	    (size_t)(dot2 - token), mac, &maclen) == NULL || maclen != JWT_SIG_LEN) {
		*why = "cannot compute HMAC";
		return -1;
	}
	if (CRYPTO_memcmp(mac, sig, JWT_SIG_LEN) != 0) {
		*why = "bad signature";
		return -1;
	}
	if ((payload = part_json(dot1 + 1, (size_t)(dot2 - dot1 - 1))) == NULL)
		return -1;
	if (claim_sub(payload, &claims->sub) == -1) {
		*why = json_object_get(payload, "sub") == NULL ? "no sub" : "sub is not a user id";
		goto fail;
	}
	if ((rc = claim_time(payload, "exp", &exp)) != 1) {
		*why = rc == 0 ? "no exp" : "exp is not a number";
		goto fail;
	}
	if (claim_time(payload, "nbf", &nbf) == -1) {
		*why = "nbf is not a number";
		goto fail;
	}
	if (claim_time(payload, "iat", &iat) == -1) {
		*why = "iat is not a number";
		goto fail;
	}
	/* RFC 7519 §4.1.4: valid while now < exp (+ leeway). */
	if (now_s >= exp + leeway_s) {
		*why = "expired";
		goto fail;
	}
	if (nbf != 0 && now_s + leeway_s < nbf) {
		*why = "not yet valid";
		goto fail;
	}
	claims->exp = exp;
	claims->nbf = nbf;
	claims->iat = iat;
	json_decref(payload);
	return 0;
fail:
	json_decref(payload);
	memset(claims, 0, sizeof(*claims));
	return -1;
}

char *
jwt_sign_hs256(int64_t sub, int64_t iat_s, int64_t exp_s, const unsigned char *key,
    size_t keylen)
{
	static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	char payload[128], *tok;
	size_t hl, pl, o;
	int n;

	n = snprintf(payload, sizeof(payload), "{\"sub\":\"%" PRId64 "\",\"iat\":%" PRId64
	    ",\"exp\":%" PRId64 "}", sub, iat_s, exp_s);
	if (n < 0 || (size_t)n >= sizeof(payload))
		return NULL;
	hl = (sizeof(header) - 1 + 2) / 3 * 4;
	pl = ((size_t)n + 2) / 3 * 4;
	if ((tok = malloc(hl + 1 + pl + 1 + 44 + 1)) == NULL)
		return NULL;
	o = b64url_encode((const unsigned char *)header, sizeof(header) - 1, tok);
	tok[o++] = '.';
	o += b64url_encode((const unsigned char *)payload, (size_t)n, tok + o);
	if (HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)tok, o, mac,
	    &maclen) == NULL || maclen != JWT_SIG_LEN) {
		free(tok);
		return NULL;
	}
	tok[o++] = '.';
	b64url_encode(mac, maclen, tok + o);
	OPENSSL_cleanse(mac, sizeof(mac));
	return tok;
}

int
jwt_secret_load(const char *path, unsigned char **key, size_t *keylen, char *err,
    size_t errlen)
{
	unsigned char *buf;
	struct stat st;
	size_t got = 0;
	int fd;

	*key = NULL;
	*keylen = 0;
	if ((fd = crypto_secret_open(path, &st, err, errlen)) == -1)
		return -1;
	if (st.st_mode & (S_IRGRP | S_IROTH | S_IWGRP | S_IWOTH)) {
		snprintf(err, errlen, "%s is readable or writable by group or others (mode %04o); "
		    "chmod 600 it", path, (unsigned)(st.st_mode & 07777));
		close(fd);
		return -1;
	}
	/* Root (exfeedctl token run by an operator) reads the daemon user's file. */
	if (st.st_uid != geteuid() && geteuid() != 0) {
		snprintf(err, errlen, "%s is owned by uid %ld, not by this process's uid %ld; "
		    "chown it", path, (long)st.st_uid, (long)geteuid());
		close(fd);
		return -1;
	}
	if ((buf = malloc(JWT_SECRET_MAX + 1)) == NULL) {
		snprintf(err, errlen, "cannot read %s: out of memory", path);
		close(fd);
		return -1;
	}
	if (crypto_secret_read(fd, path, buf, JWT_SECRET_MAX + 1, &got, err, errlen) == -1) {
		free(buf);
		return -1;
	}
	if (got > 0 && buf[got - 1] == '\n')
		got--;
	if (got > 0 && buf[got - 1] == '\r')
		got--;
	if (got < JWT_SECRET_MIN || got > JWT_SECRET_MAX) {
		snprintf(err, errlen, "%s holds %s%zu bytes; a JWT secret is %d to %d bytes "
		    "(head -c 48 /dev/urandom | base64 > FILE makes one)", path,
		    got > JWT_SECRET_MAX ? "more than " : "", got > JWT_SECRET_MAX ?
		    (size_t)JWT_SECRET_MAX : got, JWT_SECRET_MIN, JWT_SECRET_MAX);
		OPENSSL_cleanse(buf, JWT_SECRET_MAX + 1);
		free(buf);
		return -1;
	}
	*key = buf;
	*keylen = got;
	return 0;
}
