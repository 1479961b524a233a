/* recfmt.h - small field writers shared by the commands' record builders:
 * optional hex values, bit sets as word arrays, milliseconds, and
 * finishing a record into a batch or straight to the writer. */
#ifndef DS_CLI_RECFMT_H
#define DS_CLI_RECFMT_H

#include <stdbool.h>
#include <stdint.h>

#include "../../output/writer.h"

/* Finish a record into b, or write it now when b is NULL (the caller
 * then holds the output turn). */
ds_err rec_done(ds_rec *r, ds_batch *b);

/* hex, or null when v == none */
void rec_opt_hex(ds_rec *r, const char *name, uint64_t v, uint64_t none);

/* The names of the set bits of bits[0..count) as a string array. */
void rec_bits(ds_rec *r, const char *name, uint32_t bits, unsigned count,
              const char *(*namer)(unsigned));

/* ns as milliseconds with 3 decimals, or null. */
void rec_ms(ds_rec *r, const char *name, uint64_t ns, bool null);

#endif
