/* The pre-flight of a command's files: before any data is loaded, every output must be writable
 * (bp_file_check: a writable directory, not a directory, device or FIFO itself) and name a file
 * that no other output and no input names, so that a long run never ends in a failed save or in
 * one of its outputs written over another or over its own data. "Names the same file" is decided on
 * what the paths resolve to: the same device and inode for a file that exists (so that "m.bpn",
 * "./m.bpn", a symbolic or a hard link to it all count), the same resolved directory and name for
 * one that does not yet. */
#define _XOPEN_SOURCE 700 /* realpath */

#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* What a path names, for comparisons: the file (exists) or the place it would be created. */
typedef struct file_id {
    int exists;
    dev_t dev;
    ino_t ino;
    char *where; /* !exists: realpath of the directory, '/', the last component (malloc'ed) */
} file_id;

/* The directory part's realpath joined to the name; NULL if the directory cannot be resolved
 * (then the path cannot be created either, which bp_file_check reports first). */
static char *resolve_new(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *name = slash ? slash + 1 : path;
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    char *real = dir ? realpath(dir, NULL) : NULL, *where = NULL;
    if (real && (where = malloc(strlen(real) + strlen(name) + 2)))
        sprintf(where, "%s/%s", real, name);
    free(real);
    free(dir);
    return where;
}

/* Identify path; 0 when it neither exists nor can be resolved (nothing to compare). */
static int identify(const char *path, file_id *id)
{
    struct stat sb;
    memset(id, 0, sizeof *id);
    if (stat(path, &sb) == 0) {
        id->exists = 1;
        id->dev = sb.st_dev;
        id->ino = sb.st_ino;
        return 1;
    }
    return errno == ENOENT && (id->where = resolve_new(path)) != NULL;
}

static int same_file(const file_id *a, const file_id *b)
{
    if (a->exists != b->exists)
        return 0;
    return a->exists ? a->dev == b->dev && a->ino == b->ino : strcmp(a->where, b->where) == 0;
}

/* outputs[i] against the outputs before it and against every input. */
static int check_distinct(const cli_command *cmd, const cli_path *outputs, const file_id *out_ids,
                          int i, const cli_path *inputs, int n_in)
{
    for (int j = 0; j < i; j++)
        if (outputs[j].path && same_file(&out_ids[i], &out_ids[j]))
            return cli_usage_error(cmd, "%s %s and %s %s name the same file: each output needs "
                                   "its own", outputs[j].flag, outputs[j].path, outputs[i].flag,
                                   outputs[i].path);
    for (int j = 0; j < n_in; j++) {
        file_id in;
        int clash;
        if (!inputs[j].path || !identify(inputs[j].path, &in))
            continue;
        clash = same_file(&out_ids[i], &in) &&
                !(inputs[j].may_be && strcmp(inputs[j].may_be, outputs[i].flag) == 0);
        free(in.where);
        if (clash)
            return cli_usage_error(cmd, "%s %s names the same file as the input %s %s: it would "
                                   "be written over", outputs[i].flag, outputs[i].path,
                                   inputs[j].flag, inputs[j].path);
    }
    return CLI_OK;
}

/* The files the data flags would read: the CSV files, or each IDX file of the directory, plain
 * and .gz. in has room for DATA_INPUTS entries; their paths are malloc'ed (free_inputs). */
enum { DATA_INPUTS = 8 };

static int data_inputs(const cli_data_opts *o, cli_path *in)
{
    static const char *const bases[] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                        "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};
    const char *dir = cli_data_dir(o);
    int n = 0;
    if (o->train_csv || o->test_csv) {
        const char *csv[] = {o->train_csv, o->test_csv};
        for (int k = 0; k < 2; k++)
            if (csv[k] && (in[n].path = strdup(csv[k])))
                in[n++].flag = k ? "--test-csv" : "--train-csv";
        return n;
    }
    for (int k = 0; k < DATA_INPUTS; k++) {
        size_t size = strlen(dir) + strlen(bases[k / 2]) + sizeof "/.gz";
        char *path = malloc(size);
        if (!path)
            continue; /* out of memory: the data load will say so */
        snprintf(path, size, "%s/%s%s", dir, bases[k / 2], k % 2 ? ".gz" : "");
        in[n].flag = "--data";
        in[n++].path = path;
    }
    return n;
}

/* Each output: writable, then distinct from the outputs before it and from every input. */
static int check_each(const cli_command *cmd, const cli_path *outputs, int n_out, file_id *ids,
                      const cli_path *inputs, int n_in)
{
    for (int i = 0; i < n_out; i++) {
        int rc;
        if (!outputs[i].path)
            continue;
        if (bp_file_check(outputs[i].path) != BP_OK)
            return cli_usage_error(cmd, "%s %s: %s", outputs[i].flag, outputs[i].path,
                                   bp_last_error());
        if (!identify(outputs[i].path, &ids[i]))
            return cli_usage_error(cmd, "%s %s: cannot resolve its directory: %s",
                                   outputs[i].flag, outputs[i].path, strerror(errno));
        if ((rc = check_distinct(cmd, outputs, ids, i, inputs, n_in)))
            return rc;
    }
    return CLI_OK;
}

int cli_outputs_check(const cli_command *cmd, const cli_path *outputs, int n_out,
                      const cli_path *inputs, int n_in, const cli_data_opts *data)
{
    file_id ids[CLI_MAX_OUTPUTS] = {{0}};
    cli_path *all;
    int n_all = n_in, rc;
    if (n_out > CLI_MAX_OUTPUTS)
        return cli_error(cmd->sub->name, "%d outputs: at most %d", n_out, CLI_MAX_OUTPUTS);
    if (!(all = calloc((size_t)n_in + DATA_INPUTS, sizeof *all)))
        return cli_error(cmd->sub->name, "out of memory");
    if (n_in > 0)
        memcpy(all, inputs, (size_t)n_in * sizeof *all);
    if (data)
        n_all += data_inputs(data, all + n_in);
    rc = check_each(cmd, outputs, n_out, ids, all, n_all);
    for (int i = 0; i < n_out; i++)
        free(ids[i].where);
    for (int i = n_in; i < n_all; i++)
        free((char *)all[i].path);
    free(all);
    return rc;
}
