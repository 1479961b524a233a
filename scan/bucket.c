/* bucket.c - blame and bucket rules; see bucket.h. */
#include "bucket.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <xxhash.h>

#include "../src/bugcheck_info.h"

static const char *const kernel_modules[] = {
    "ntoskrnl.exe", "ntkrnlmp.exe", "ntkrnlpa.exe", "ntkrpamp.exe", "hal.dll",
    "halacpi.dll",  "halmacpi.dll", "halaacpi.dll", "halapic.dll",  "halmps.dll",
};

bool ds_is_kernel_module(const char *name)
{
    for (size_t i = 0; i < sizeof(kernel_modules) / sizeof(kernel_modules[0]); i++)
        if (strcasecmp(name, kernel_modules[i]) == 0)
            return true;
    return false;
}

uint64_t ds_bucket_make(uint32_t code, const char *module, uint64_t offset, char *bucket,
                        char *bucket_module, size_t cap)
{
    uint32_t base = ds_bugcheck_base_code(code);
    char lower[128];
    size_t n = 0;
    for (; module && module[n] && n + 1 < sizeof(lower); n++)
        lower[n] = (char)tolower((unsigned char)module[n]);
    lower[n] = 0;
    if (n == 0) {
        snprintf(bucket, cap, "0x%" PRIX32 "_UNKNOWN", base);
        snprintf(bucket_module, cap, "0x%" PRIX32 "_UNKNOWN", base);
    } else {
        snprintf(bucket, cap, "0x%" PRIX32 "_%s+0x%" PRIx64, base, lower, offset);
        snprintf(bucket_module, cap, "0x%" PRIX32 "_%s", base, lower);
    }
    return XXH3_64bits(bucket, strlen(bucket));
}
