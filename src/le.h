/* le.h - little-endian loads from byte buffers.
 *
 * Dump structures are read into byte buffers and picked apart by offset;
 * these loads go through memcpy, so they are safe at any alignment (and
 * compile to one move on x86).  Every target dumpscan reads is
 * little-endian, as is every host it is built for (meson checks nothing
 * else; a big-endian host would need byte swaps here, and only here). */
#ifndef DS_LE_H
#define DS_LE_H

#include <stdint.h>
#include <string.h>

static inline uint16_t ds_le16(const void *p)
{
    uint16_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

static inline uint32_t ds_le32(const void *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

static inline uint64_t ds_le64(const void *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

#endif
