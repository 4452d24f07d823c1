/* Shared by the fuzz targets of tests/fuzz: the libFuzzer entry point each one defines, the scratch
 * files through which fuzzed bytes reach the loaders (they take paths), and the check that turns a
 * broken promise of the library into a crash libFuzzer records. */
#ifndef BP_FUZZ_H_INCLUDED
#define BP_FUZZ_H_INCLUDED

#include <backprop.h>
#include <stddef.h>
#include <stdint.h>

/* Defined by each target; called by libFuzzer, or by replay_main.c for every saved input. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Path of scratch file number slot (0 or 1) now holding exactly the size bytes of data. The file
 * is an in-memory, unnamed regular file (memfd) reached as /proc/self/fd/N: no disk traffic per
 * execution and nothing left behind, yet the loaders see a real path and a real length. */
const char *fuzz_file(int slot, const void *data, size_t size);

/* A path in a fresh private directory, both removed at exit, for a target that saves: a save
 * renames a temporary file created beside the path, which needs a real directory. */
const char *fuzz_save_path(void);

/* The whole file at path (malloc'ed, the caller frees it), *size its length; a failure to read
 * it fails the harness. */
uint8_t *fuzz_read_file(const char *path, size_t *size);

/* Print the failed condition and abort: libFuzzer saves the input as a crash, the replay driver
 * fails. Used both for a broken promise of the library and for a harness that cannot set up. */
_Noreturn void fuzz_fail(const char *file, int line, const char *what);
#define FUZZ_CHECK(cond) ((cond) ? (void)0 : fuzz_fail(__FILE__, __LINE__, #cond))

/* What both dataset loaders promise, given their status st: a refusal is BP_EFORMAT with a detail
 * and a zeroed dataset; an accepted file gives at least one sample and one feature, finite values,
 * and for class data (classes > 0; 0 for regression targets) labels in [0, classes) with their
 * one-hot target columns; for features alone (classes < 0) no targets, y and labels NULL. */
void fuzz_check_dataset(bp_status st, const bp_dataset *ds, int classes);

#endif
