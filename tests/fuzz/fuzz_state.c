/* fuzz_state.c - the --state line parser: any bytes, split at newlines,
 * must parse or be refused without reading past the line; a parsed line
 * must format back to itself. */
#include <assert.h>
#include <string.h>

#include "../../src/cli/state.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t start = 0;
    for (size_t i = 0; i <= size; i++) {
        if (i < size && data[i] != '\n')
            continue;
        bulk_state_key k;
        size_t len = i - start;
        if (bulk_state_parse((const char *)data + start, len, &k)) {
            char buf[BULK_STATE_LINE_MAX];
            size_t n = bulk_state_format(&k, buf);
            assert(n == len + 1 && memcmp(buf, data + start, len) == 0);
        }
        start = i + 1;
    }
    return 0;
}
