/*
 * crypto.h: the master key, AES-256-GCM sealing of credentials, the
 * HMAC-SHA256 that exchanges sign requests with, and the check of a CA
 * certificates file (OpenSSL libcrypto).
 *
 * A sealed value is: version byte 0x01 || 12-byte random nonce ||
 * ciphertext || 16-byte tag.  The associated data is "<account_id>:<field>"
 * (field: "api_key", "api_secret", "listen_key"), so a ciphertext copied to
 * another row or column fails to open.
 */
#ifndef EXFEEDD_CRYPTO_H
#define EXFEEDD_CRYPTO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CRYPTO_KEY_LEN		32
#define CRYPTO_SEAL_OVERHEAD	(1 + 12 + 16)

/*
 * Read a 32-byte key file.  Refuses (-1, reason in err) a file that is not
 * a regular file, is readable or writable by group or others, or does not
 * hold exactly 32 bytes.
 */
/*
 * A secret file's descriptor: opened read-only (no controlling tty), the
 * stat of that descriptor in *st (its mode and owner for the caller's
 * checks: no window between check and read), a regular file.  The fd, or
 * -1 with err naming the file and the fault.
 */
struct stat;
int	 crypto_secret_open(const char *path, struct stat *st, char *err, size_t errlen);
/*
 * Read fd (then closed, whatever happens) into buf, at most max bytes;
 * *got says how many.  0, or -1 with err (buf wiped).
 */
int	 crypto_secret_read(int fd, const char *path, unsigned char *buf, size_t max,
	    size_t *got, char *err, size_t errlen);
int	 crypto_key_load(const char *path, unsigned char key[CRYPTO_KEY_LEN], char *err, size_t errlen);
/*
 * Whether the key file can serve processes running as uid (the workers,
 * after the privilege drop; (uid_t)-1: no drop): it loads (crypto_key_load's
 * checks) and, for a uid, is owned by it.  0; -1 with err when it does not
 * load; -2 with err ("... chown USER it") when uid cannot read it.
 */
int	 crypto_key_check(const char *path, uid_t uid, const char *user, char *err,
	    size_t errlen);
/*
 * Whether path is a file of PEM certificates the TLS clients can trust
 * ([exchange.*] ca_file): readable, a regular file, and at least one
 * certificate that parses.  0, or -1 with the reason in err.
 */
int	 crypto_ca_file_check(const char *path, char *err, size_t errlen);
/* Create path (O_EXCL, mode 0600) holding 32 random bytes. */
int	 crypto_key_generate(const char *path, char *err, size_t errlen);

/* Seal: *out is malloc'd, CRYPTO_SEAL_OVERHEAD + ptlen bytes. */
int	 crypto_seal(const unsigned char key[CRYPTO_KEY_LEN], int64_t account_id, const char *field,
	    const void *pt, size_t ptlen, unsigned char **out, size_t *outlen);
/* Open: *pt is malloc'd and NUL-terminated; -1 if anything does not authenticate. */
int	 crypto_open(const unsigned char key[CRYPTO_KEY_LEN], int64_t account_id, const char *field,
	    const unsigned char *ct, size_t ctlen, char **pt, size_t *ptlen);

/* Lowercase hex HMAC-SHA256 of msg under key: out holds 65 bytes. */
void	 crypto_hmac_sha256_hex(const void *key, size_t keylen, const void *msg, size_t msglen,
	    char out[65]);
/*
 * Zero memory the compiler may not optimise away; free_secret wipes then
 * frees a string (up to its NUL: a secret never holds one).
 *
 * What is wiped, and what is not: every temporary buffer that held a
 * decrypted credential, a listen key or a key file (here, db.c, net.c,
 * exfeedctl.c, the account worker) is wiped before it is freed or goes out
 * of scope.  Not wiped, because the process needs them for its whole life
 * or they are a library's: the master key and each account's API key and
 * secret in an account worker (wiped when the account goes or the worker
 * exits), the API key in libwebsockets' request headers, listen keys in the
 * WebSocket URL lws keeps and in the user-data stream's frames, the
 * database conninfo (with any password) and the gateway's JWT secret in
 * every process's configuration, and OpenSSL's own internal copies.
 */
void	 crypto_wipe(void *, size_t);
void	 crypto_free_secret(char *);

#endif
