/* jwt_test.c: HS256 tokens: what verifies, every way one does not, RFC 7515
 * appendix A.1's example, minting, and the secret file's checks. */
#include <criterion/criterion.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "jwt.h"

static const unsigned char KEY[] = "0123456789abcdef0123456789abcdef-test-key";
#define KEYLEN	(sizeof(KEY) - 1)
#define NOW	1700000000LL

/* base64url without padding, by OpenSSL's encoder (not the code under test). */
static void
b64u(const unsigned char *in, size_t len, char *out)
{
	int n = EVP_EncodeBlock((unsigned char *)out, in, (int)len);

	while (n > 0 && out[n - 1] == '=')
		n--;
	out[n] = '\0';
	for (int i = 0; i < n; i++)
		out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
}

/* header.payload.HMAC-SHA256(key) of the JSON texts given, into tok. */
static const char *
mint(const char *header, const char *payload, const unsigned char *key, size_t keylen)
{
	static char tok[4096];
	unsigned char mac[32];
	unsigned int maclen;
	size_t o;

	b64u((const unsigned char *)header, strlen(header), tok);
	o = strlen(tok);
	tok[o++] = '.';
	b64u((const unsigned char *)payload, strlen(payload), tok + o);
	o = strlen(tok);
	HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)tok, o, mac, &maclen);
	tok[o++] = '.';
	b64u(mac, maclen, tok + o);
	return tok;
}

#define HS256	"{\"alg\":\"HS256\",\"typ\":\"JWT\"}"

static int
verify(const char *tok, const char **why, struct jwt_claims *c)
{
	return jwt_verify_hs256(tok, strlen(tok), KEY, KEYLEN, NOW, 30, c, why);
}

static void
refused(const char *tok, const char *want)
{
	struct jwt_claims c;
	const char *why = NULL;

	cr_assert_eq(verify(tok, &why, &c), -1, "accepted: %s", tok);
	cr_assert_str_eq(why, want, "%s: why \"%s\", wanted \"%s\"", tok, why, want);
	cr_assert_eq(c.sub, 0);
}

Test(jwt, good_token)
{
	struct jwt_claims c;
	const char *why = NULL;

	cr_assert_eq(verify(mint(HS256, "{\"sub\":\"1001\",\"exp\":1700000100,\"iat\":1699999000,"
	    "\"nbf\":1699999900}", KEY, KEYLEN), &why, &c), 0, "%s", why);
	cr_assert_eq(c.sub, 1001);
	cr_assert_eq(c.exp, 1700000100);
	cr_assert_eq(c.iat, 1699999000);
	cr_assert_eq(c.nbf, 1699999900);
}

Test(jwt, sub_as_string_or_integer)
{
	struct jwt_claims c;
	const char *why;

	cr_assert_eq(verify(mint(HS256, "{\"sub\":42,\"exp\":1700000100}", KEY, KEYLEN), &why,
	    &c), 0);
	cr_assert_eq(c.sub, 42);
	cr_assert_eq(c.nbf, 0);
	cr_assert_eq(c.iat, 0);
	cr_assert_eq(verify(mint(HS256, "{\"sub\":\"9007199254740993\",\"exp\":1700000100}", KEY,
	    KEYLEN), &why, &c), 0);
	cr_assert_eq(c.sub, 9007199254740993LL);
	refused(mint(HS256, "{\"sub\":\"0\",\"exp\":1700000100}", KEY, KEYLEN), "sub is not a user id");
	refused(mint(HS256, "{\"sub\":-5,\"exp\":1700000100}", KEY, KEYLEN), "sub is not a user id");
	refused(mint(HS256, "{\"sub\":\"12a\",\"exp\":1700000100}", KEY, KEYLEN), "sub is not a user id");
	refused(mint(HS256, "{\"sub\":\"\",\"exp\":1700000100}", KEY, KEYLEN), "sub is not a user id");
	refused(mint(HS256, "{\"sub\":\"+7\",\"exp\":1700000100}", KEY, KEYLEN), "sub is not a user id");
	refused(mint(HS256, "{\"sub\":\"007\",\"exp\":1700000100}", KEY, KEYLEN), "sub is not a user id");
	refused(mint(HS256, "{\"sub\":1.5,\"exp\":1700000100}", KEY, KEYLEN), "sub is not a user id");
	refused(mint(HS256, "{\"sub\":\"99999999999999999999\",\"exp\":1700000100}", KEY, KEYLEN),
	    "sub is not a user id");
}

Test(jwt, missing_claims)
{
	refused(mint(HS256, "{\"exp\":1700000100}", KEY, KEYLEN), "no sub");
	refused(mint(HS256, "{\"sub\":\"1\"}", KEY, KEYLEN), "no exp");
	refused(mint(HS256, "{\"sub\":\"1\",\"exp\":\"soon\"}", KEY, KEYLEN), "exp is not a number");
	refused(mint(HS256, "{\"sub\":\"1\",\"exp\":1700000100,\"nbf\":null}", KEY, KEYLEN),
	    "nbf is not a number");
}

Test(jwt, bad_signature)
{
	static const unsigned char other[] = "another key, just as long as the first one";
	char tok[4096];
	size_t n;

	refused(mint(HS256, "{\"sub\":\"1\",\"exp\":1700000100}", other, sizeof(other) - 1),
	    "bad signature");
	/* One character of the payload changed under a good signature. */
	snprintf(tok, sizeof(tok), "%s", mint(HS256, "{\"sub\":\"1\",\"exp\":1700000100}", KEY,
	    KEYLEN));
	tok[strchr(tok, '.') - tok + 3] ^= 1;
	refused(tok, "bad signature");
	/* The signature's last character changed. */
	snprintf(tok, sizeof(tok), "%s", mint(HS256, "{\"sub\":\"1\",\"exp\":1700000100}", KEY,
	    KEYLEN));
	n = strlen(tok);
	tok[n - 2] = tok[n - 2] == 'A' ? 'B' : 'A';
	refused(tok, "bad signature");
}

Test(jwt, other_algorithms)
{
	char tok[4096], h[256];

	/* alg none: no signature at all, or one copied from a good token. */
	b64u((const unsigned char *)"{\"alg\":\"none\",\"typ\":\"JWT\"}", 26, h);
	snprintf(tok, sizeof(tok), "%s.eyJzdWIiOiIxIiwiZXhwIjoxNzAwMDAwMTAwfQ.", h);
	refused(tok, "alg is not HS256");
	refused(mint("{\"alg\":\"none\",\"typ\":\"JWT\"}", "{\"sub\":\"1\",\"exp\":1700000100}",
	    KEY, KEYLEN), "alg is not HS256");
	refused(mint("{\"alg\":\"None\"}", "{\"sub\":\"1\",\"exp\":1700000100}", KEY, KEYLEN),
	    "alg is not HS256");
	refused(mint("{\"alg\":\"HS512\",\"typ\":\"JWT\"}", "{\"sub\":\"1\",\"exp\":1700000100}",
	    KEY, KEYLEN), "alg is not HS256");
	refused(mint("{\"alg\":\"RS256\",\"typ\":\"JWT\"}", "{\"sub\":\"1\",\"exp\":1700000100}",
	    KEY, KEYLEN), "alg is not HS256");
	refused(mint("{\"alg\":\"hs256\"}", "{\"sub\":\"1\",\"exp\":1700000100}", KEY, KEYLEN),
	    "alg is not HS256");
	refused(mint("{\"typ\":\"JWT\"}", "{\"sub\":\"1\",\"exp\":1700000100}", KEY, KEYLEN),
	    "no alg");
	refused(mint("{\"alg\":\"HS256\",\"alg\":\"none\"}", "{\"sub\":\"1\",\"exp\":1700000100}",
	    KEY, KEYLEN), "malformed token");
	refused(mint("{\"alg\":\"HS256\",\"crit\":[\"b64\"],\"b64\":false}",
	    "{\"sub\":\"1\",\"exp\":1700000100}", KEY, KEYLEN), "unsupported crit header");
}

Test(jwt, expiry_and_leeway_both_ways)
{
	char p[128];

	/* exp: accepted until exp + leeway (30 s), refused from then on. */
	snprintf(p, sizeof(p), "{\"sub\":\"1\",\"exp\":%lld}", NOW - 29);
	cr_assert_eq(verify(mint(HS256, p, KEY, KEYLEN), &(const char *){ NULL },
	    &(struct jwt_claims){ 0 }), 0);
	snprintf(p, sizeof(p), "{\"sub\":\"1\",\"exp\":%lld}", NOW - 30);
	refused(mint(HS256, p, KEY, KEYLEN), "expired");
	snprintf(p, sizeof(p), "{\"sub\":\"1\",\"exp\":%lld}", NOW - 3600);
	refused(mint(HS256, p, KEY, KEYLEN), "expired");
	/* nbf: accepted from nbf - leeway, refused before. */
	snprintf(p, sizeof(p), "{\"sub\":\"1\",\"exp\":%lld,\"nbf\":%lld}", NOW + 3600, NOW + 30);
	cr_assert_eq(verify(mint(HS256, p, KEY, KEYLEN), &(const char *){ NULL },
	    &(struct jwt_claims){ 0 }), 0);
	snprintf(p, sizeof(p), "{\"sub\":\"1\",\"exp\":%lld,\"nbf\":%lld}", NOW + 3600, NOW + 31);
	refused(mint(HS256, p, KEY, KEYLEN), "not yet valid");
	/* No leeway: exactly exp is expired. */
	snprintf(p, sizeof(p), "{\"sub\":\"1\",\"exp\":%lld}", NOW);
	{
		const char *tok = mint(HS256, p, KEY, KEYLEN), *why;
		struct jwt_claims c;

		cr_assert_eq(jwt_verify_hs256(tok, strlen(tok), KEY, KEYLEN, NOW, 0, &c, &why), -1);
		cr_assert_str_eq(why, "expired");
		cr_assert_eq(jwt_verify_hs256(tok, strlen(tok), KEY, KEYLEN, NOW - 1, 0, &c, &why), 0);
	}
}

Test(jwt, malformed)
{
	char tok[4096], good[4096];
	size_t n;

	snprintf(good, sizeof(good), "%s", mint(HS256, "{\"sub\":\"1\",\"exp\":1700000100}", KEY,
	    KEYLEN));
	n = strlen(good);
	refused("", "malformed token");
	refused("abc", "malformed token");
	refused("a.b", "malformed token");
	refused("a.b.c.d", "malformed token");
	refused("..", "malformed token");
	/* Truncated anywhere. */
	for (size_t cut = 1; cut < n; cut += 7) {
		snprintf(tok, sizeof(tok), "%.*s", (int)cut, good);
		struct jwt_claims c;
		const char *why;

		cr_assert_eq(jwt_verify_hs256(tok, cut, KEY, KEYLEN, NOW, 30, &c, &why), -1,
		    "accepted cut at %zu", cut);
	}
	/* Padding, standard base64 characters, a fifth part. */
	snprintf(tok, sizeof(tok), "%s=", good);
	refused(tok, "malformed token");
	snprintf(tok, sizeof(tok), "%s", good);
	tok[1] = '+';
	refused(tok, "malformed token");
	snprintf(tok, sizeof(tok), "%s.", good);
	refused(tok, "malformed token");
	/* Not JSON, or JSON but not an object, under good signatures. */
	refused(mint(HS256, "{\"sub\":\"1\",\"exp\":1700000100", KEY, KEYLEN), "malformed token");
	refused(mint(HS256, "[1,2]", KEY, KEYLEN), "malformed token");
	refused(mint("\"HS256\"", "{\"sub\":\"1\",\"exp\":1700000100}", KEY, KEYLEN),
	    "malformed token");
	refused(mint("{alg:HS256}", "{\"sub\":\"1\",\"exp\":1700000100}", KEY, KEYLEN),
	    "malformed token");
	/* The token's length as given is what is read: a NUL-free prefix only. */
	{
		struct jwt_claims c;
		const char *why;

		cr_assert_eq(jwt_verify_hs256(good, n - 1, KEY, KEYLEN, NOW, 30, &c, &why), -1);
		cr_assert_eq(jwt_verify_hs256(good, n, KEY, KEYLEN, NOW, 30, &c, &why), 0);
	}
}

/*
 * RFC 7515 appendix A.1: the HS256 example with its JWK "k".  Its payload
 * has no "sub" (and its exp is 2011): past the signature, the first claim
 * checked is what refuses it; with any other key it is the signature.
 */
Test(jwt, rfc7515_a1_example)
{
	static const char tok[] = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9"
	    ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
	    ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
	static const char k[] = "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow";
	char std[128];
	unsigned char key[96];
	struct jwt_claims c;
	const char *why;
	int n;

	/* The JWK's base64url key through OpenSSL's standard decoder. */
	snprintf(std, sizeof(std), "%s==", k);
	for (char *p = std; *p; p++)
		*p = *p == '-' ? '+' : *p == '_' ? '/' : *p;
	n = EVP_DecodeBlock(key, (const unsigned char *)std, (int)strlen(std));
	cr_assert_eq(n, 66);	/* 64 bytes + 2 for the padding EVP_DecodeBlock counts */
	cr_assert_eq(jwt_verify_hs256(tok, strlen(tok), key, 64, 1300819000, 0, &c, &why), -1);
	cr_assert_str_eq(why, "no sub");
	key[0] ^= 1;
	cr_assert_eq(jwt_verify_hs256(tok, strlen(tok), key, 64, 1300819000, 0, &c, &why), -1);
	cr_assert_str_eq(why, "bad signature");
}

Test(jwt, sign_then_verify)
{
	struct jwt_claims c;
	const char *why;
	char *tok = jwt_sign_hs256(1007, NOW - 10, NOW + 3600, KEY, KEYLEN);

	cr_assert_not_null(tok);
	cr_assert_eq(jwt_verify_hs256(tok, strlen(tok), KEY, KEYLEN, NOW, 30, &c, &why), 0);
	cr_assert_eq(c.sub, 1007);
	cr_assert_eq(c.iat, NOW - 10);
	cr_assert_eq(c.exp, NOW + 3600);
	/* The same as an independent mint of the documented header and payload. */
	cr_assert_str_eq(tok, mint(HS256, "{\"sub\":\"1007\",\"iat\":1699999990,\"exp\":1700003600}",
	    KEY, KEYLEN));
	free(tok);
}

static const char *
secret_file(const char *content, size_t len, mode_t mode)
{
	static char path[64];
	int fd;

	snprintf(path, sizeof(path), "/tmp/jwt_test.XXXXXX");
	fd = mkstemp(path);
	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, content, len), (ssize_t)len);
	fchmod(fd, mode);
	close(fd);
	return path;
}

Test(jwt, secret_file_checks)
{
	unsigned char *key;
	size_t keylen;
	char err[512];
	const char *p;

	p = secret_file("0123456789abcdef0123456789abcdef\n", 33, 0600);
	cr_assert_eq(jwt_secret_load(p, &key, &keylen, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(keylen, 32);
	cr_assert_eq(memcmp(key, "0123456789abcdef0123456789abcdef", 32), 0);
	free(key);
	unlink(p);
	p = secret_file("0123456789abcdef0123456789abcdef\n", 33, 0640);
	cr_assert_eq(jwt_secret_load(p, &key, &keylen, err, sizeof(err)), -1);
	cr_assert(strstr(err, p) && strstr(err, "mode 0640") && strstr(err, "chmod 600"), "%s", err);
	cr_assert_null(key);
	unlink(p);
	p = secret_file("0123456789abcdef0123456789abcdef", 32, 0602);
	cr_assert_eq(jwt_secret_load(p, &key, &keylen, err, sizeof(err)), -1);
	cr_assert(strstr(err, "mode 0602"), "%s", err);
	unlink(p);
	p = secret_file("short secret\n", 13, 0600);
	cr_assert_eq(jwt_secret_load(p, &key, &keylen, err, sizeof(err)), -1);
	cr_assert(strstr(err, "holds 12 bytes") && strstr(err, "32 to 4096"), "%s", err);
	cr_assert(strstr(err, "short secret") == NULL, "the secret in the error: %s", err);
	unlink(p);
	cr_assert_eq(jwt_secret_load("/nonexistent/jwt.key", &key, &keylen, err, sizeof(err)), -1);
	cr_assert(strstr(err, "cannot open /nonexistent/jwt.key"), "%s", err);
	cr_assert_eq(jwt_secret_load("/tmp", &key, &keylen, err, sizeof(err)), -1);
	cr_assert(strstr(err, "not a regular file"), "%s", err);
}
