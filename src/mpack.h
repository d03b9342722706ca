/*
 * mpack.h: small helpers over msgpack-c for building and reading the maps
 * every message between our processes carries, and a msgpack → JSON printer.
 */
#ifndef EXFEEDD_MPACK_H
#define EXFEEDD_MPACK_H

#include <stdint.h>
#include <stdio.h>

#include <msgpack.h>

void	 mp_str(msgpack_packer *, const char *);
void	 mp_kv_str(msgpack_packer *, const char *key, const char *val);
void	 mp_kv_i64(msgpack_packer *, const char *key, int64_t val);
void	 mp_kv_u64(msgpack_packer *, const char *key, uint64_t val);
void	 mp_kv_bool(msgpack_packer *, const char *key, int val);

const msgpack_object *mp_get(const msgpack_object *map, const char *key);
/* Typed lookups: 0 on success, -1 if absent or of another type. */
int	 mp_get_str(const msgpack_object *map, const char *key, char *buf, size_t len);
int	 mp_get_i64(const msgpack_object *map, const char *key, int64_t *);
int	 mp_get_bool(const msgpack_object *map, const char *key, int *);

/*
 * o as JSON text on fp, whatever it holds: invalid UTF-8 becomes U+FFFD,
 * NaN and infinities null, a key that is not a string its JSON as a string.
 */
void	 mp_to_json(const msgpack_object *, FILE *);
/*
 * Whether buf[0..len) starts with one whole msgpack object whose every
 * header announces no more than the bytes left (each element takes at
 * least one): msgpack-c reserves memory for an announced count before it
 * reads the elements, so a 5-byte array32 header would cost gigabytes.
 * 0 with *used (may be NULL) its length, or -1.
 */
int	 mp_check_sizes(const void *buf, size_t len, size_t *used);

#endif
