/* Scratch files and checks shared by the fuzz targets (see fuzz.h). */
#define _GNU_SOURCE /* memfd_create */

#include "fuzz.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

_Noreturn void fuzz_fail(const char *file, int line, const char *what)
{
    fprintf(stderr, "%s:%d: check failed: %s\n", file, line, what);
    abort();
}

const char *fuzz_file(int slot, const void *data, size_t size)
{
    static int fds[2] = {-1, -1};
    static char paths[2][32];
    FUZZ_CHECK(slot == 0 || slot == 1);
    if (fds[slot] < 0) {
        fds[slot] = memfd_create("bp_fuzz", 0);
        FUZZ_CHECK(fds[slot] >= 0);
        snprintf(paths[slot], sizeof paths[slot], "/proc/self/fd/%d", fds[slot]);
    }
    /* Readers open the path afresh (their own offset), so only the content and length matter. */
    FUZZ_CHECK(ftruncate(fds[slot], 0) == 0);
    FUZZ_CHECK(size == 0 || pwrite(fds[slot], data, size, 0) == (ssize_t)size);
    return paths[slot];
}

static char dir[256], save_path[300];

static void remove_dir(void)
{
    remove(save_path);
    rmdir(dir);
}

const char *fuzz_save_path(void)
{
    if (!dir[0]) {
        /* tmpfs when there is one: a save fsyncs, which costs nothing there. */
        const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/bp_fuzz_XXXXXX", base && base[0] ? base : "/tmp");
        FUZZ_CHECK(mkdtemp(dir) != NULL);
        snprintf(save_path, sizeof save_path, "%s/model.bpn", dir);
        atexit(remove_dir);
    }
    return save_path;
}

uint8_t *fuzz_read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    FUZZ_CHECK(f != NULL);
    FUZZ_CHECK(fseek(f, 0, SEEK_END) == 0);
    long n = ftell(f);
    FUZZ_CHECK(n > 0);
    rewind(f);
    uint8_t *b = malloc((size_t)n);
    FUZZ_CHECK(b != NULL && fread(b, 1, (size_t)n, f) == (size_t)n);
    fclose(f);
    *size = (size_t)n;
    return b;
}

void fuzz_check_dataset(bp_status st, const bp_dataset *ds, int classes)
{
    if (st != BP_OK) {
        FUZZ_CHECK(st == BP_EFORMAT && bp_last_error()[0] != '\0');
        FUZZ_CHECK(ds->count == 0 && ds->n_features == 0 && ds->n_targets == 0);
        FUZZ_CHECK(!ds->x && !ds->y && !ds->labels);
        return;
    }
    FUZZ_CHECK(ds->count >= 1 && ds->n_features >= 1);
    if (classes < 0)
        FUZZ_CHECK(ds->n_targets == 0 && !ds->y && !ds->labels);
    else
        FUZZ_CHECK(ds->n_targets >= 1 && (classes == 0 || (ds->n_targets == classes && ds->labels)));
    const size_t count = (size_t)ds->count, nt = (size_t)ds->n_targets;
    for (size_t i = 0; i < count * (size_t)ds->n_features; i++)
        FUZZ_CHECK(isfinite(ds->x[i]));
    for (size_t s = 0; s < count; s++)
        for (size_t j = 0; j < nt; j++) {
            const float y = ds->y[s * nt + j];
            FUZZ_CHECK(isfinite(y));
            FUZZ_CHECK(classes == 0 || y == ((int)j == ds->labels[s] ? 1.0f : 0.0f));
        }
    for (size_t s = 0; classes > 0 && s < count; s++)
        FUZZ_CHECK(ds->labels[s] >= 0 && ds->labels[s] < classes);
}
