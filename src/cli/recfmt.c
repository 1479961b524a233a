/* recfmt.c - shared field writers; see recfmt.h. */
#include "recfmt.h"

ds_err rec_done(ds_rec *r, ds_batch *b)
{
    return b ? ds_rec_end_batch(r, b) : ds_rec_end(r);
}

void rec_opt_hex(ds_rec *r, const char *name, uint64_t v, uint64_t none)
{
    if (v == none)
        ds_rec_null(r, name);
    else
        ds_rec_hex(r, name, v);
}

void rec_bits(ds_rec *r, const char *name, uint32_t bits, unsigned count,
              const char *(*namer)(unsigned))
{
    const char *v[32];
    size_t n = 0;
    for (unsigned i = 0; i < count && i < 32; i++)
        if (bits & (1u << i))
            v[n++] = namer(i);
    ds_rec_str_array(r, name, v, n);
}

void rec_ms(ds_rec *r, const char *name, uint64_t ns, bool null)
{
    if (null)
        ds_rec_null(r, name);
    else
        ds_rec_fixed(r, name, (int64_t)(ns / 1000), 3);
}
