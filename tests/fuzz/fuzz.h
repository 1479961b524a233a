/* fuzz.h - what the fuzz targets share: the sparse input format and a
 * way to hand an input to the library as a file.
 *
 * Every target defines LLVMFuzzerTestOneInput.  Built with clang and
 * -fsanitize=fuzzer (meson -Dfuzz=true) it is a libFuzzer binary; built
 * with replay.c it replays files (the seed corpus and every reproducer in
 * tests/fuzz/regress/) as an ordinary test in every build.
 *
 * Sparse input: a small input can describe a large dump.
 *     "DSFZ" <u64 apparent size> { <u64 offset> <u16 len> <len bytes> }...
 * (little-endian) makes a sparse file of that size holding the chunks at
 * their offsets; chunks past the end or cut short are dropped.  Any other
 * input is the file's content as it is.  The apparent size is capped per
 * target so one execution stays fast. */
#ifndef DS_FUZZ_H
#define DS_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Write the input (decoded when sparse) to a fresh anonymous file and
 * return its descriptor (-1 on failure); *path gets "/proc/self/fd/N". */
int fuzz_input_file(const uint8_t *data, size_t size, uint64_t max_size, char *path,
                    size_t cap);

#endif
