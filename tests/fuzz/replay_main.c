/* Replays saved inputs through a fuzz target without libFuzzer: linked with one target's
 * LLVMFuzzerTestOneInput, built by any compiler in the normal build, so that the seed corpus and
 * the regression inputs (tests/fuzz/regressions/TARGET) run in every build, under the sanitizers
 * and under valgrind too. Arguments: files, or directories whose files are replayed in name order;
 * a missing directory is skipped (a target may have no regression yet). Fails if a check of the
 * target aborts, or if no input at all was found. */
#define _POSIX_C_SOURCE 200809L

#include "fuzz.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

static size_t replayed;

static void replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    struct stat sb;
    if (!f || fstat(fileno(f), &sb) != 0) {
        perror(path);
        exit(1);
    }
    size_t size = (size_t)sb.st_size;
    uint8_t *data = malloc(size ? size : 1);
    if (!data || fread(data, 1, size, f) != size) {
        fprintf(stderr, "%s: cannot read\n", path);
        exit(1);
    }
    fclose(f);
    fprintf(stderr, "replay %s (%zu bytes)\n", path, size);
    LLVMFuzzerTestOneInput(data, size);
    free(data);
    replayed++;
}

static void replay_dir(const char *dir)
{
    struct dirent **names;
    int n = scandir(dir, &names, NULL, alphasort);
    if (n < 0) {
        fprintf(stderr, "%s: no such directory, skipped\n", dir);
        return;
    }
    for (int i = 0; i < n; i++) {
        char path[4096];
        struct stat sb;
        snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
        if (names[i]->d_name[0] != '.' && stat(path, &sb) == 0 && S_ISREG(sb.st_mode))
            replay_file(path);
        free(names[i]);
    }
    free(names);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        struct stat sb;
        if (stat(argv[i], &sb) == 0 && S_ISREG(sb.st_mode))
            replay_file(argv[i]);
        else
            replay_dir(argv[i]);
    }
    printf("%zu inputs replayed without a failure\n", replayed);
    return replayed ? 0 : 1;
}
