/*
 * crypto.c: the master key file, AES-256-GCM sealing of the credentials
 * stored in exchange_accounts, the HMAC-SHA256 request signatures, and the
 * check of a CA certificates file.
 * Everything here returns 0/-1 and leaves logging to the caller: none of
 * it may ever put a key or a plaintext into a message.
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

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "crypto.h"

#define SEAL_VERSION	0x01
#define NONCE_LEN	12
#define TAG_LEN		16

void
crypto_wipe(void *p, size_t len)
{
	if (p != NULL && len > 0)
		OPENSSL_cleanse(p, len);
}

void
crypto_free_secret(char *s)
{
	if (s == NULL)
		return;
	crypto_wipe(s, strlen(s));
	free(s);
}

int
crypto_secret_open(const char *path, struct stat *st, char *err, size_t errlen)
{
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1) {
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	/* fstat the descriptor we read: no window between the check and the read. */
	if (fstat(fd, st) == -1) {
		snprintf(err, errlen, "cannot stat %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	if (!S_ISREG(st->st_mode)) {
		snprintf(err, errlen, "%s is not a regular file", path);
		close(fd);
		return -1;
	}
	return fd;
}

int
crypto_secret_read(int fd, const char *path, unsigned char *buf, size_t max, size_t *got,
    char *err, size_t errlen)
{
	ssize_t n;

	*got = 0;
	while (*got < max) {
		n = read(fd, buf + *got, max - *got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
			crypto_wipe(buf, max);
			close(fd);
			return -1;
		}
		if (n == 0)
			break;
		*got += (size_t)n;
	}
	close(fd);
	return 0;
}

int
crypto_key_load(const char *path, unsigned char key[CRYPTO_KEY_LEN], char *err, size_t errlen)
{
	unsigned char buf[CRYPTO_KEY_LEN + 1];
	struct stat st;
	size_t got = 0;
	int fd;

	if ((fd = crypto_secret_open(path, &st, err, errlen)) == -1)
		return -1;
	if (st.st_mode & (S_IRGRP | S_IROTH)) {
		snprintf(err, errlen, "%s is readable by group or others (mode %04o); chmod 600 it",
		    path, (unsigned)(st.st_mode & 07777));
		close(fd);
		return -1;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH | S_IXGRP | S_IXOTH)) {
		snprintf(err, errlen, "%s is accessible by group or others (mode %04o); chmod 600 it",
		    path, (unsigned)(st.st_mode & 07777));
		close(fd);
		return -1;
	}
	/* Read one byte more than a key: a longer file is refused, not truncated. */
	if (crypto_secret_read(fd, path, buf, sizeof(buf), &got, err, errlen) == -1)
		return -1;
	if (got != CRYPTO_KEY_LEN) {
		if (got > CRYPTO_KEY_LEN)
			snprintf(err, errlen, "%s holds more than %d bytes; a key file is exactly %d "
			    "random bytes (exfeedctl keygen makes one)", path, CRYPTO_KEY_LEN,
			    CRYPTO_KEY_LEN);
		else
			snprintf(err, errlen, "%s holds %zu bytes; a key file is exactly %d random "
			    "bytes (exfeedctl keygen makes one)", path, got, CRYPTO_KEY_LEN);
		crypto_wipe(buf, sizeof(buf));
		return -1;
	}
	memcpy(key, buf, CRYPTO_KEY_LEN);
	crypto_wipe(buf, sizeof(buf));
	return 0;
}

int
crypto_key_generate(const char *path, char *err, size_t errlen)
{
	unsigned char key[CRYPTO_KEY_LEN];
	size_t done = 0;
	ssize_t n;
	int fd;

	if (RAND_bytes(key, sizeof(key)) != 1) {
		snprintf(err, errlen, "the random number generator failed");
		return -1;
	}
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0600)) == -1) {
		if (errno == EEXIST)
			snprintf(err, errlen, "%s already exists; not overwriting a key", path);
		else
			snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
		crypto_wipe(key, sizeof(key));
		return -1;
	}
	/* Whatever the umask: owner read/write, nobody else. */
	if (fchmod(fd, 0600) == -1)
		goto fail;
	while (done < sizeof(key)) {
		n = write(fd, key + done, sizeof(key) - done);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			goto fail;
		done += (size_t)n;
	}
	if (fsync(fd) == -1)
		goto fail;
	crypto_wipe(key, sizeof(key));
	if (close(fd) == -1) {
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
		unlink(path);
		return -1;
	}
	return 0;
fail:
	snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
	crypto_wipe(key, sizeof(key));
	close(fd);
	unlink(path);
	return -1;
}

static int
crypto_aad(int64_t account_id, const char *field, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%" PRId64 ":%s", account_id, field);

	return n < 0 || (size_t)n >= len ? -1 : n;
}

int
crypto_seal(const unsigned char key[CRYPTO_KEY_LEN], int64_t account_id, const char *field,
    const void *pt, size_t ptlen, unsigned char **out, size_t *outlen)
{
	EVP_CIPHER_CTX *ctx;
	unsigned char *buf, *nonce, *ct;
	char aad[128];
	int aadlen, n, total = 0;

	*out = NULL;
	*outlen = 0;
	if ((aadlen = crypto_aad(account_id, field, aad, sizeof(aad))) == -1 || ptlen > INT32_MAX)
		return -1;
	if ((buf = malloc(CRYPTO_SEAL_OVERHEAD + ptlen)) == NULL)
		return -1;
	buf[0] = SEAL_VERSION;
	nonce = buf + 1;
	ct = nonce + NONCE_LEN;
	if (RAND_bytes(nonce, NONCE_LEN) != 1) {
		free(buf);
		return -1;
	}
	if ((ctx = EVP_CIPHER_CTX_new()) == NULL) {
		free(buf);
		return -1;
	}
	if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) != 1 ||
	    EVP_EncryptInit_ex(ctx, NULL, NULL, key, nonce) != 1 ||
	    EVP_EncryptUpdate(ctx, NULL, &n, (const unsigned char *)aad, aadlen) != 1 ||
	    (ptlen > 0 && EVP_EncryptUpdate(ctx, ct, &n, pt, (int)ptlen) != 1))
		goto fail;
	total = ptlen > 0 ? n : 0;
	if (EVP_EncryptFinal_ex(ctx, ct + total, &n) != 1)
		goto fail;
	total += n;
	if ((size_t)total != ptlen ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, ct + total) != 1)
		goto fail;
	EVP_CIPHER_CTX_free(ctx);
	*out = buf;
	*outlen = CRYPTO_SEAL_OVERHEAD + ptlen;
	return 0;
fail:
	EVP_CIPHER_CTX_free(ctx);
	crypto_wipe(buf, CRYPTO_SEAL_OVERHEAD + ptlen);
	free(buf);
	return -1;
}

int
crypto_open(const unsigned char key[CRYPTO_KEY_LEN], int64_t account_id, const char *field,
    const unsigned char *sealed, size_t sealedlen, char **pt, size_t *ptlen)
{
	EVP_CIPHER_CTX *ctx;
	const unsigned char *nonce, *ct, *tag;
	unsigned char tagbuf[TAG_LEN];
	size_t ctlen;
	char aad[128], *buf;
	int aadlen, n, total = 0;

	*pt = NULL;
	*ptlen = 0;
	if (sealedlen < CRYPTO_SEAL_OVERHEAD || sealed[0] != SEAL_VERSION ||
	    sealedlen - CRYPTO_SEAL_OVERHEAD > INT32_MAX)
		return -1;
	if ((aadlen = crypto_aad(account_id, field, aad, sizeof(aad))) == -1)
		return -1;
	nonce = sealed + 1;
	ct = nonce + NONCE_LEN;
	ctlen = sealedlen - CRYPTO_SEAL_OVERHEAD;
	tag = ct + ctlen;
	memcpy(tagbuf, tag, TAG_LEN);	/* the ctrl takes a non-const pointer */
	if ((buf = malloc(ctlen + 1)) == NULL)
		return -1;
	if ((ctx = EVP_CIPHER_CTX_new()) == NULL) {
		free(buf);
		return -1;
	}
	if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) != 1 ||
	    EVP_DecryptInit_ex(ctx, NULL, NULL, key, nonce) != 1 ||
	    EVP_DecryptUpdate(ctx, NULL, &n, (const unsigned char *)aad, aadlen) != 1 ||
	    (ctlen > 0 && EVP_DecryptUpdate(ctx, (unsigned char *)buf, &n, ct, (int)ctlen) != 1))
		goto fail;
	total = ctlen > 0 ? n : 0;
	if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tagbuf) != 1 ||
	    EVP_DecryptFinal_ex(ctx, (unsigned char *)buf + total, &n) != 1)
		goto fail;
	total += n;
	if ((size_t)total != ctlen)
		goto fail;
	EVP_CIPHER_CTX_free(ctx);
	buf[ctlen] = '\0';
	*pt = buf;
	*ptlen = ctlen;
	return 0;
fail:
	/* The tag did not authenticate: what was decrypted is not to be trusted or kept. */
	EVP_CIPHER_CTX_free(ctx);
	crypto_wipe(buf, ctlen + 1);
	free(buf);
	return -1;
}

void
crypto_hmac_sha256_hex(const void *key, size_t keylen, const void *msg, size_t msglen,
    char out[65])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (HMAC(EVP_sha256(), key, (int)keylen, msg, msglen, md, &mdlen) == NULL || mdlen != 32) {
		/* Cannot happen with a working libcrypto; an empty signature fails loudly upstream. */
		out[0] = '\0';
		return;
	}
	for (unsigned int i = 0; i < mdlen; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 0xf];
	}
	out[64] = '\0';
	crypto_wipe(md, sizeof(md));
}

int
crypto_key_check(const char *path, uid_t uid, const char *user, char *err, size_t errlen)
{
	unsigned char key[CRYPTO_KEY_LEN];
	struct stat st;

	if (crypto_key_load(path, key, err, errlen) == -1)
		return -1;
	crypto_wipe(key, sizeof(key));
	if (uid != (uid_t)-1 && stat(path, &st) == 0 && st.st_uid != uid) {
		snprintf(err, errlen, "%s is owned by uid %ld, but the workers run as %s and "
		    "cannot read it; chown %s it", path, (long)st.st_uid, user, user);
		return -2;
	}
	return 0;
}

/*
 * The same reading of the file as the TLS clients' (lws loads it with
 * SSL_CTX_load_verify_file, which reads PEM blocks as this does), so that a
 * file they would not load is refused where it is named, not found out
 * connection by connection.
 */
int
crypto_ca_file_check(const char *path, char *err, size_t errlen)
{
	STACK_OF(X509_INFO) *infos;
	struct stat st;
	FILE *fp;
	BIO *bio;
	int certs = 0;

	if ((fp = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fileno(fp), &st) == -1 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s is not a regular file", path);
		fclose(fp);
		return -1;
	}
	if ((bio = BIO_new_fp(fp, BIO_CLOSE)) == NULL) {
		snprintf(err, errlen, "cannot read %s: out of memory", path);
		fclose(fp);
		return -1;
	}
	ERR_clear_error();
	infos = PEM_X509_INFO_read_bio(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (infos == NULL) {
		unsigned long e = ERR_peek_last_error();

		snprintf(err, errlen, "%s is not a file of PEM certificates (%s)", path,
		    e ? ERR_reason_error_string(e) : "unreadable");
		ERR_clear_error();
		return -1;
	}
	for (int i = 0; i < sk_X509_INFO_num(infos); i++)
		if (sk_X509_INFO_value(infos, i)->x509 != NULL)
			certs++;
	sk_X509_INFO_pop_free(infos, X509_INFO_free);
	if (certs == 0) {
		snprintf(err, errlen, "%s holds no PEM certificate", path);
		return -1;
	}
	return 0;
}
