/*
 * fuzz.h: what the libFuzzer targets in t/fuzz share: the property every
 * event must have on its way to the database, and a failure that libFuzzer
 * reports as a crash with the input that caused it.
 */
#ifndef EXFEEDD_FUZZ_H
#define EXFEEDD_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include "event.h"

struct wsql;

/* The property does not hold: print why and abort (libFuzzer keeps the input). */
void	 fuzz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
#define FUZZ_ASSERT(cond, ...) do { if (!(cond)) fuzz_fail(__VA_ARGS__); } while (0)

/*
 * What the writer does to an event before SQL, and what must hold: it
 * passes ev_validate, ev_pack → ev_unpack gives the same event (same
 * msgpack bytes, same JSON), the JSON parses and names the same values,
 * kafka_value makes its value in both formats (json: the payload as is;
 * unknown: the raw frame; protobuf: a message protobuf-c unpacks and packs
 * back to the same bytes, with the event's id), with check_id ev_make_id
 * gives its id again, and wsql_add takes it into w.  Aborts otherwise.
 */
void	 fuzz_event_writer(const struct event *, struct wsql *w, int check_id);
/*
 * The statements gathered in w, in their prepared form: every column of a
 * statement one well-formed PostgreSQL array literal, all of the same
 * length, event_log's payloads valid JSON; nevents events went in.
 */
void	 fuzz_wsql_check(struct wsql *w, size_t nevents);

#endif
