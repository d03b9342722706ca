/*
 * jwt.h: JSON Web Tokens (RFC 7519) signed with HMAC-SHA256 (JWS "HS256",
 * RFC 7515 compact form: base64url(header) "." base64url(payload) "."
 * base64url(signature), no padding).  Only HS256 is accepted: any other
 * "alg", "none" included, is refused (RFC 8725 §3.1).
 */
#ifndef EXFEEDD_JWT_H
#define EXFEEDD_JWT_H

#include <stddef.h>
#include <stdint.h>

struct jwt_claims {
	int64_t		 sub;		/* the platform user id: "sub" as a decimal string or integer >= 1 */
	int64_t		 exp;		/* seconds since the epoch; required */
	int64_t		 nbf;		/* 0 when absent */
	int64_t		 iat;		/* 0 when absent */
};

/*
 * Verify token (len bytes, not NUL-terminated) with key: the signature is
 * compared in constant time (CRYPTO_memcmp), then "exp" (required) and
 * "nbf" are checked against now_s with leeway_s seconds of slack either
 * way.  0 and *claims filled, or -1 and *why (a static string naming the
 * fault: "malformed token", "alg is not HS256", "bad signature", "expired",
 * "not yet valid", "no sub", "no exp", ...).  Never logs the token.
 */
int	 jwt_verify_hs256(const char *token, size_t len, const unsigned char *key, size_t keylen,
	    int64_t now_s, int64_t leeway_s, struct jwt_claims *claims, const char **why);

/*
 * Mint a token {"alg":"HS256","typ":"JWT"}.{"sub":"<sub>","iat":iat_s,"exp":exp_s}
 * (exfeedctl token).  A malloc'd NUL-terminated string, or NULL when out of memory.
 */
char	*jwt_sign_hs256(int64_t sub, int64_t iat_s, int64_t exp_s, const unsigned char *key,
	    size_t keylen);

/*
 * Read the HS256 secret from path: the file's bytes (trailing newline
 * removed), 32 to 4096 of them, the file regular, not readable or writable
 * by group or others, and owned by this process's effective uid unless that
 * is root (the checks of [crypto] key_file).  0, or -1 with err naming the
 * file and the fault (never its bytes).  *key is malloc'd: wipe it
 * (OPENSSL_cleanse) before freeing it.
 */
int	 jwt_secret_load(const char *path, unsigned char **key, size_t *keylen, char *err,
	    size_t errlen);

#endif
