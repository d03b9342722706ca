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

void	 mp_to_json(const msgpack_object *, FILE *);

#endif
