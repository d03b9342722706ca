/* sign.c: HMAC-SHA256 request signatures (FACTS §1.5): hex of
 * HMAC(secretKey, query string + body), compared case-insensitively. */
#include "exsim.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>

void
sign_hmac_hex(const char *secret, const char *msg, size_t msglen, char out[65])
{
	static const char hx[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;

	HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)msg, msglen, md,
	    &mdlen);
	for (i = 0; i < mdlen && i < 32; i++) {
		out[2 * i] = hx[md[i] >> 4];
		out[2 * i + 1] = hx[md[i] & 15];
	}
	out[2 * i] = '\0';
}

int
sign_check(const struct ex_account *a, const char *total, const char *sig)
{
	char want[65];
	unsigned char diff = 0;
	size_t i;

	if (!sig || strlen(sig) != 64)
		return -1;
	sign_hmac_hex(a->secret, total, strlen(total), want);
	for (i = 0; i < 64; i++)
		diff |= (unsigned char)(tolower((unsigned char)sig[i]) ^ want[i]);
	return diff ? -1 : 0;
}
