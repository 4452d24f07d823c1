/* Fuzz target: bp_dataset_load_idx on an image file and a label file, each plain or gzip.
 * Input: num_classes - 1, a flags byte, the image file's length (2 bytes, little-endian; capped to
 * what follows), the image file, then the label file (the rest). Flag bit 0 (images) and bit 1
 * (labels) gzip that file here before the loader sees it, at level (flags >> 2) mod 10, so the
 * mutations reach the IDX parser through a valid gzip stream; without them the bytes go as they
 * are, and damaged gzip streams (the seeds include gzip files) reach zlib.
 * Promise checked: those of fuzz_check_dataset, and pixels in [0, 1]. */
#include "fuzz.h"

#include <backprop.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* The scratch file slot holding data, gzipped at level when gz. */
static const char *stage(int slot, const uint8_t *data, size_t size, int gz, int level)
{
    if (!gz)
        return fuzz_file(slot, data, size);
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    FUZZ_CHECK(deflateInit2(&zs, level, Z_DEFLATED, 15 + 16 /* gzip wrapper */, 8,
                            Z_DEFAULT_STRATEGY) == Z_OK);
    uLong bound = deflateBound(&zs, (uLong)size);
    unsigned char *out = malloc(bound);
    FUZZ_CHECK(out != NULL);
    zs.next_in = (Bytef *)(uintptr_t)data; /* zlib's API is not const-correct; it only reads */
    zs.avail_in = (uInt)size;
    zs.next_out = out;
    zs.avail_out = (uInt)bound;
    FUZZ_CHECK(deflate(&zs, Z_FINISH) == Z_STREAM_END);
    const char *path = fuzz_file(slot, out, zs.total_out);
    deflateEnd(&zs);
    free(out);
    return path;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bp_dataset ds;
    if (size < 4)
        return 0;
    const int classes = 1 + data[0], flags = data[1], level = (flags >> 2) % 10;
    size_t image_size = (size_t)data[2] | (size_t)data[3] << 8;
    data += 4;
    size -= 4;
    if (image_size > size)
        image_size = size;
    const char *images = stage(0, data, image_size, flags & 1, level);
    const char *labels = stage(1, data + image_size, size - image_size, flags & 2, level);
    bp_status st = bp_dataset_load_idx(&ds, images, labels, classes);
    fuzz_check_dataset(st, &ds, classes);
    for (size_t i = 0; st == BP_OK && i < (size_t)ds.count * (size_t)ds.n_features; i++)
        FUZZ_CHECK(ds.x[i] >= 0.0f && ds.x[i] <= 1.0f);
    bp_dataset_free(&ds);
    return 0;
}
