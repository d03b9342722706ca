/* crypto_test.c: the master key file, AES-256-GCM sealing with its associated data, HMAC,
 * and that no decrypted secret is left in memory that our code frees. */
#define _GNU_SOURCE	/* memmem */
#include <criterion/criterion.h>

#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto.h"
#include "db.h"

/*
 * This test is linked with -Wl,--wrap=free: every free() of our own code
 * (this file and libexfeedd.a; not of libcrypto or Criterion) passes here
 * first.  While a canary is watched, a freed block that still holds it is
 * counted: a secret that was freed without being wiped.
 */
void __real_free(void *);
void __wrap_free(void *);
static const char *watched;
static int freed_with_secret, frees_seen;

void
__wrap_free(void *p)
{
	if (watched != NULL && p != NULL) {
		frees_seen++;
		if (memmem(p, malloc_usable_size(p), watched, strlen(watched)) != NULL)
			freed_with_secret++;
	}
	__real_free(p);
}

static void
watch(const char *canary)
{
	watched = canary;
	freed_with_secret = frees_seen = 0;
}

static char dir[64];
static unsigned char key[CRYPTO_KEY_LEN];

static void
setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/crypto_test.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	for (int i = 0; i < CRYPTO_KEY_LEN; i++)
		key[i] = (unsigned char)(i * 7 + 1);
}

static void
teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
}

/* A file of len bytes with the given mode, created under the test directory. */
static const char *
write_file(const char *name, size_t len, mode_t mode)
{
	static char path[128];
	unsigned char buf[64] = { 0 };
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, buf, len), (ssize_t)len);
	cr_assert_eq(fchmod(fd, mode), 0);
	close(fd);
	return path;
}

static void
seal(int64_t id, const char *field, const char *pt, unsigned char **ct, size_t *ctlen)
{
	cr_assert_eq(crypto_seal(key, id, field, pt, strlen(pt), ct, ctlen), 0);
}

TestSuite(crypto, .init = setup, .fini = teardown);

Test(crypto, seal_then_open_round_trips)
{
	const char *secret = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A";
	unsigned char *ct;
	size_t ctlen, ptlen;
	char *pt;

	seal(42, "api_secret", secret, &ct, &ctlen);
	cr_assert_eq(ctlen, CRYPTO_SEAL_OVERHEAD + strlen(secret));
	cr_assert_eq(ct[0], 0x01, "version byte first");
	cr_assert(memmem(ct, ctlen, secret, 8) == NULL, "no plaintext in the sealed value");
	cr_assert_eq(crypto_open(key, 42, "api_secret", ct, ctlen, &pt, &ptlen), 0);
	cr_assert_eq(ptlen, strlen(secret));
	cr_assert_str_eq(pt, secret);
	crypto_free_secret(pt);
	free(ct);
}

Test(crypto, empty_value_round_trips)
{
	unsigned char *ct;
	size_t ctlen, ptlen;
	char *pt;

	seal(1, "listen_key", "", &ct, &ctlen);
	cr_assert_eq(ctlen, CRYPTO_SEAL_OVERHEAD);
	cr_assert_eq(crypto_open(key, 1, "listen_key", ct, ctlen, &pt, &ptlen), 0);
	cr_assert_eq(ptlen, 0);
	cr_assert_str_eq(pt, "");
	free(pt);
	free(ct);
}

Test(crypto, another_account_id_does_not_open)
{
	unsigned char *ct;
	size_t ctlen, ptlen;
	char *pt = (char *)1;

	seal(7, "api_key", "the-key", &ct, &ctlen);
	cr_assert_eq(crypto_open(key, 8, "api_key", ct, ctlen, &pt, &ptlen), -1);
	cr_assert_null(pt);
	/* "7:api_key" must not be confusable with "71:api_key" or similar. */
	cr_assert_eq(crypto_open(key, 71, "api_key", ct, ctlen, &pt, &ptlen), -1);
	free(ct);
}

Test(crypto, another_field_does_not_open)
{
	unsigned char *ct;
	size_t ctlen, ptlen;
	char *pt;

	seal(7, "api_key", "the-key", &ct, &ctlen);
	cr_assert_eq(crypto_open(key, 7, "api_secret", ct, ctlen, &pt, &ptlen), -1);
	cr_assert_eq(crypto_open(key, 7, "listen_key", ct, ctlen, &pt, &ptlen), -1);
	cr_assert_eq(crypto_open(key, 7, "api_key", ct, ctlen, &pt, &ptlen), 0);
	free(pt);
	free(ct);
}

Test(crypto, any_tampered_byte_does_not_open)
{
	unsigned char *ct;
	size_t ctlen, ptlen;
	char *pt;

	seal(3, "api_secret", "secret-value", &ct, &ctlen);
	for (size_t i = 0; i < ctlen; i++) {
		ct[i] ^= 0x01;
		cr_assert_eq(crypto_open(key, 3, "api_secret", ct, ctlen, &pt, &ptlen), -1,
		    "byte %zu flipped", i);
		ct[i] ^= 0x01;
	}
	cr_assert_eq(crypto_open(key, 3, "api_secret", ct, ctlen - 1, &pt, &ptlen), -1,
	    "truncated");
	cr_assert_eq(crypto_open(key, 3, "api_secret", ct, 5, &pt, &ptlen), -1, "too short");
	cr_assert_eq(crypto_open(key, 3, "api_secret", ct, ctlen, &pt, &ptlen), 0, "intact");
	free(pt);
	free(ct);
}

Test(crypto, another_key_does_not_open)
{
	unsigned char other[CRYPTO_KEY_LEN], *ct;
	size_t ctlen, ptlen;
	char *pt;

	memcpy(other, key, sizeof(other));
	other[31] ^= 0x80;
	seal(5, "api_key", "k", &ct, &ctlen);
	cr_assert_eq(crypto_open(other, 5, "api_key", ct, ctlen, &pt, &ptlen), -1);
	free(ct);
}

Test(crypto, every_seal_takes_a_fresh_nonce)
{
	unsigned char *a, *b;
	size_t alen, blen;

	seal(9, "api_key", "same plaintext", &a, &alen);
	seal(9, "api_key", "same plaintext", &b, &blen);
	cr_assert_eq(alen, blen);
	cr_assert_neq(memcmp(a + 1, b + 1, 12), 0, "nonces differ");
	cr_assert_neq(memcmp(a, b, alen), 0, "ciphertexts differ");
	free(a);
	free(b);
}

Test(crypto, key_file_0600_of_32_bytes_loads)
{
	unsigned char k[CRYPTO_KEY_LEN];
	char err[512];

	memset(k, 0xaa, sizeof(k));
	cr_assert_eq(crypto_key_load(write_file("ok.key", 32, 0600), k, err, sizeof(err)), 0, "%s",
	    err);
	for (int i = 0; i < CRYPTO_KEY_LEN; i++)
		cr_assert_eq(k[i], 0);
	cr_assert_eq(crypto_key_load(write_file("ro.key", 32, 0400), k, err, sizeof(err)), 0, "%s",
	    err);
}

Test(crypto, key_file_readable_by_others_is_refused)
{
	unsigned char k[CRYPTO_KEY_LEN];
	char err[512], want[256];
	const char *path;

	path = write_file("open.key", 32, 0644);
	cr_assert_eq(crypto_key_load(path, k, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s is readable by group or others (mode 0644); chmod 600 it",
	    path);
	cr_assert_str_eq(err, want);
	cr_assert_eq(crypto_key_load(write_file("grp.key", 32, 0640), k, err, sizeof(err)), -1);
	cr_assert(strstr(err, "(mode 0640)") != NULL, "%s", err);
	cr_assert_eq(crypto_key_load(write_file("w.key", 32, 0602), k, err, sizeof(err)), -1);
	cr_assert(strstr(err, "accessible by group or others (mode 0602)") != NULL, "%s", err);
}

Test(crypto, key_file_of_the_wrong_size_is_refused)
{
	unsigned char k[CRYPTO_KEY_LEN];
	char err[512];

	cr_assert_eq(crypto_key_load(write_file("short.key", 31, 0600), k, err, sizeof(err)), -1);
	cr_assert(strstr(err, "holds 31 bytes; a key file is exactly 32") != NULL, "%s", err);
	cr_assert_eq(crypto_key_load(write_file("long.key", 33, 0600), k, err, sizeof(err)), -1);
	cr_assert(strstr(err, "holds more than 32 bytes") != NULL, "%s", err);
	cr_assert_eq(crypto_key_load(write_file("empty.key", 0, 0600), k, err, sizeof(err)), -1);
	cr_assert(strstr(err, "holds 0 bytes") != NULL, "%s", err);
}

Test(crypto, key_file_missing_or_not_regular_is_refused)
{
	unsigned char k[CRYPTO_KEY_LEN];
	char err[512], path[128];

	snprintf(path, sizeof(path), "%s/none.key", dir);
	cr_assert_eq(crypto_key_load(path, k, err, sizeof(err)), -1);
	cr_assert(strstr(err, "No such file or directory") != NULL, "%s", err);
	cr_assert_eq(crypto_key_load(dir, k, err, sizeof(err)), -1);
	cr_assert(strstr(err, "is not a regular file") != NULL, "%s", err);
}

Test(crypto, keygen_makes_a_private_32_byte_key_and_never_overwrites)
{
	unsigned char a[CRYPTO_KEY_LEN], b[CRYPTO_KEY_LEN];
	char err[512], p1[128], p2[128];
	struct stat st;
	mode_t old = umask(0);

	snprintf(p1, sizeof(p1), "%s/a.key", dir);
	snprintf(p2, sizeof(p2), "%s/b.key", dir);
	cr_assert_eq(crypto_key_generate(p1, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(crypto_key_generate(p2, err, sizeof(err)), 0, "%s", err);
	umask(old);
	cr_assert_eq(stat(p1, &st), 0);
	cr_assert_eq(st.st_mode & 07777, 0600, "mode 0600 even with umask 0");
	cr_assert_eq(st.st_size, 32);
	cr_assert_eq(crypto_key_load(p1, a, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(crypto_key_load(p2, b, err, sizeof(err)), 0, "%s", err);
	cr_assert_neq(memcmp(a, b, sizeof(a)), 0, "two keys differ");
	cr_assert_eq(crypto_key_generate(p1, err, sizeof(err)), -1);
	cr_assert(strstr(err, "already exists; not overwriting") != NULL, "%s", err);
	cr_assert_eq(crypto_key_load(p1, b, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(memcmp(a, b, sizeof(a)), 0, "the existing key is untouched");
}

/* FACTS §1.5: Binance's documented signature example. */
Test(crypto, hmac_sha256_matches_the_binance_example)
{
	const char *secret = "2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9";
	const char *msg = "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=9000"
	    "&timeInForce=GTC&recvWindow=5000&timestamp=1591702613943";
	char out[65];

	crypto_hmac_sha256_hex(secret, strlen(secret), msg, strlen(msg), out);
	cr_assert_str_eq(out, "3c661234138461fcc7a7d8746c6558c9842d4e10870d2ecbedf7777cad694af9");
}

/* RFC 4231 test case 2: a short key. */
Test(crypto, hmac_sha256_rfc4231_case_2)
{
	char out[65];

	crypto_hmac_sha256_hex("Jefe", 4, "what do ya want for nothing?", 28, out);
	cr_assert_str_eq(out, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

Test(crypto, wipe_and_free_secret)
{
	char buf[8] = "secret!";
	char *s = strdup("a secret");

	crypto_wipe(buf, sizeof(buf));
	for (size_t i = 0; i < sizeof(buf); i++)
		cr_assert_eq(buf[i], 0);
	crypto_free_secret(s);
	crypto_free_secret(NULL);
}

#define CANARY	"CANARY-SECRET-vmPUZE6mv9SD5VNHk4HlWFs"

Test(crypto, free_secret_leaves_nothing_in_freed_memory)
{
	char *s = strdup(CANARY);

	watch(CANARY);
	crypto_free_secret(s);
	watched = NULL;
	cr_assert_eq(frees_seen, 1);
	cr_assert_eq(freed_with_secret, 0, "crypto_free_secret freed the secret unwiped");
}

Test(crypto, opened_secret_freed_with_free_secret_leaves_nothing)
{
	unsigned char *ct;
	size_t ctlen, ptlen;
	char *pt;

	cr_assert_eq(crypto_seal(key, 1, "api_secret", CANARY, strlen(CANARY), &ct, &ctlen), 0);
	watch(CANARY);
	cr_assert_eq(crypto_open(key, 1, "api_secret", ct, ctlen, &pt, &ptlen), 0);
	cr_assert_str_eq(pt, CANARY);
	crypto_free_secret(pt);
	free(ct);
	watched = NULL;
	cr_assert_eq(freed_with_secret, 0);
}

/* GCM decrypts before the tag is checked: the refused plaintext was in memory. */
Test(crypto, open_that_fails_the_tag_wipes_what_it_decrypted)
{
	unsigned char *ct;
	size_t ctlen, ptlen;
	char *pt;

	cr_assert_eq(crypto_seal(key, 1, "api_secret", CANARY, strlen(CANARY), &ct, &ctlen), 0);
	ct[ctlen - 1] ^= 1;		/* the tag */
	watch(CANARY);
	cr_assert_eq(crypto_open(key, 1, "api_secret", ct, ctlen, &pt, &ptlen), -1);
	watched = NULL;
	cr_assert_null(pt);
	cr_assert_geq(frees_seen, 1, "the decryption buffer was freed");
	cr_assert_eq(freed_with_secret, 0, "the unauthenticated plaintext was freed unwiped");
	free(ct);
}

/* What the account worker loads (db_accounts_load) is wiped when it lets go of it. */
Test(crypto, loaded_accounts_are_wiped_when_freed)
{
	struct db_account *v = calloc(2, sizeof(*v));

	cr_assert_not_null(v);
	v[0].api_key = strdup(CANARY "-key");
	v[0].api_secret = strdup(CANARY "-secret");
	v[0].listen_key = strdup(CANARY "-listen");
	v[1].api_secret = strdup(CANARY "-secret-2");
	watch(CANARY);
	db_account_free(v, 2);
	watched = NULL;
	cr_assert_eq(frees_seen, 5);
	cr_assert_eq(freed_with_secret, 0, "%d freed block(s) still held a credential",
	    freed_with_secret);
}
