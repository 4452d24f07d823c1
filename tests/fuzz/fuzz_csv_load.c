/* Fuzz target: bp_dataset_load_csv on any text.
 * Input: a byte whose bits 0 and 1 pick the kind (0 classes, 1 regression targets, 2 and 3
 * features alone), a byte n - 1 (classes or target columns, 1..256; unused for features), then
 * the file. Promise checked: those of fuzz_check_dataset. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bp_dataset ds;
    if (size < 2)
        return 0;
    const bp_csv_kind kind = data[0] & 2   ? BP_CSV_FEATURES
                             : data[0] & 1 ? BP_CSV_TARGETS
                                           : BP_CSV_CLASSES;
    const int n = kind == BP_CSV_FEATURES ? 0 : 1 + data[1];
    bp_status st = bp_dataset_load_csv(&ds, fuzz_file(0, data + 2, size - 2), kind, n);
    fuzz_check_dataset(st, &ds, kind == BP_CSV_CLASSES ? n : kind == BP_CSV_FEATURES ? -1 : 0);
    FUZZ_CHECK(st != BP_OK || kind == BP_CSV_CLASSES || ds.n_targets == n);
    bp_dataset_free(&ds);
    return 0;
}
