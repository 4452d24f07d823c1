/* backprop plot, and train --plot: the training curves of a --log file (loss and accuracy per
 * epoch, training and evaluation set) drawn by gnuplot into a PNG. gnuplot is optional: without
 * it the program says so and draws nothing. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int cli_plot_available(void)
{
    const char *path = getenv("PATH");
    char file[4096];
    if (!path)
        return 0;
    for (const char *p = path;; p++) {
        const char *end = strchr(p, ':');
        int len = end ? (int)(end - p) : (int)strlen(p);
        snprintf(file, sizeof file, "%.*s%sgnuplot", len, p, len ? "/" : "./");
        if (access(file, X_OK) == 0)
            return 1;
        if (!end)
            return 0;
        p = end;
    }
}

/* The first control character of path (a byte below 0x20, or 0x7f), 0 if none. */
static int control_byte(const char *path)
{
    for (const unsigned char *s = (const unsigned char *)path; *s; s++)
        if (*s < 0x20 || *s == 0x7f)
            return *s;
    return 0;
}

int cli_plot_name_check(const cli_command *cmd, const char *flag, const char *path)
{
    int c = path ? control_byte(path) : 0;
    if (c)
        return cli_usage_error(cmd, "%s: the file name holds the control character 0x%02x, which "
                               "a gnuplot script cannot quote", flag, c);
    return CLI_OK;
}

/* s as a gnuplot single-quoted string ('' is a quote inside one) into f; a control character,
 * which would end the script's line, as '?' (only a title can hold one: names are checked). A file
 * name (path) that is relative starts with "./": gnuplot reads '<cmd' and writes '|cmd' as pipes
 * to a shell command, and '-', '+', '++' and '' as special files. */
static void put_quoted(FILE *f, const char *s, int path)
{
    fputc('\'', f);
    if (path && s[0] != '/')
        fputs("./", f);
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c == '\'')
            fputc('\'', f);
        fputc(*c < 0x20 || *c == 0x7f ? '?' : *c, f);
    }
    fputc('\'', f);
}

/* What the log's evaluation columns are named ("test" or "val"), from its header line. The log
 * must be a regular file: gnuplot reads it once per panel, and opening a FIFO would wait for a
 * writer (O_NONBLOCK: it does not). */
static int eval_name(const char *cmd, const char *log, char *name, size_t size)
{
    char header[256];
    struct stat sb;
    int fd = open(log, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return cli_error(cmd, "%s: %s", log, strerror(errno));
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return cli_error(cmd, "%s: not a regular file (gnuplot reads the log twice)", log);
    }
    FILE *f = fdopen(fd, "r");
    if (!f) {
        close(fd);
        return cli_error(cmd, "%s: %s", log, strerror(errno));
    }
    int ok = fgets(header, sizeof header, f) != NULL &&
             strncmp(header, "epoch,train_loss,train_accuracy,", 32) == 0;
    fclose(f);
    if (!ok)
        return cli_error(cmd, "%s: not a log of backprop train --log (its header is not "
                         "epoch,train_loss,train_accuracy,...)", log);
    const char *s = header + 32, *us = strchr(s, '_');
    snprintf(name, size, "%.*s", us ? (int)(us - s) : 0, s);
    return CLI_OK;
}

/* The gnuplot script: two panels side by side, loss and accuracy against the epoch. */
static void write_script(FILE *g, const char *log, const char *title, const char *png,
                         const char *eval)
{
    fputs("set terminal pngcairo size 1000,420 font ',10'\nset output ", g);
    put_quoted(g, png, 1);
    fputs("\nset datafile separator ','\nset key top right\nset grid\nset xlabel 'epoch'\n"
          "set multiplot layout 1,2 title ", g);
    put_quoted(g, title, 0);
    fprintf(g, "\nset ylabel 'loss (mean cost per sample)'\nplot ");
    put_quoted(g, log, 1);
    fprintf(g, " using 1:2 with linespoints title 'train', '' using 1:4 with linespoints "
               "title '%s'\nset ylabel 'accuracy'\nset key bottom right\nplot ", eval);
    put_quoted(g, log, 1);
    fprintf(g, " using 1:3 with linespoints title 'train', '' using 1:5 with linespoints "
               "title '%s'\nunset multiplot\n", eval);
}

int cli_plot_log(const char *cmd, const char *log, const char *title, const char *png)
{
    char eval[32];
    bp_file *out = NULL;
    bp_status st;
    int rc = CLI_OK;
    if (!cli_plot_available())
        return cli_error(cmd, "cannot draw %s: gnuplot is not installed (apt-get install "
                         "gnuplot-nox); the log has the same numbers", png);
    if (control_byte(log) || control_byte(png))
        return cli_error(cmd, "cannot draw: a file name with a control character");
    if ((rc = eval_name(cmd, log, eval, sizeof eval)))
        return rc;
    /* gnuplot draws into the temporary file of the library's safe writer, committed if it
     * succeeds: the PNG is whole or untouched, and never anything but a regular file replaced */
    if ((st = bp_file_create(&out, png)))
        return cli_fail(cmd, st, "cannot draw %s", png);
    fflush(NULL);
    FILE *g = popen("gnuplot", "w"); /* its messages go to our stderr */
    if (!g) {
        bp_file_discard(out);
        return cli_error(cmd, "cannot run gnuplot: %s", strerror(errno));
    }
    write_script(g, log, title, bp_file_temp_path(out), eval);
    int status = pclose(g);
    if (status != 0) {
        bp_file_discard(out);
        return cli_error(cmd, "gnuplot failed (status %d) drawing %s", status, png);
    }
    if ((st = bp_file_commit(out)))
        return cli_fail(cmd, st, "cannot save %s", png);
    return CLI_OK;
}

int cli_plot(const cli_subcommand *self, int argc, char **argv)
{
    const cli_command cmd = {
        .sub = self, .positional = "LOG.csv FILE.png",
        .description = "Draws the loss and the accuracy per epoch, on the training set and on the "
                       "evaluation set, of a log written by `backprop train --log LOG.csv` into "
                       "FILE.png, with gnuplot (Debian package gnuplot-nox). `backprop train --plot "
                       "FILE.png` does the same at the end of training."};
    const char *paths[2] = {NULL, NULL};
    int count = 0, rc;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            cli_print_help(&cmd);
            return CLI_OK;
        }
        if (argv[i][0] == '-' && argv[i][1])
            return cli_usage_error(&cmd, "unknown flag '%s' (plot takes no flags)", argv[i]);
        if (count == 2)
            return cli_usage_error(&cmd, "unexpected argument '%s'", argv[i]);
        paths[count++] = argv[i];
    }
    if (count < 2)
        return cli_usage_error(&cmd, "expected LOG.csv and FILE.png, got %s",
                               count ? "only LOG.csv" : "neither");
    const cli_path output = {"FILE.png", paths[1], NULL}, input = {"LOG.csv", paths[0], NULL};
    if ((rc = cli_plot_name_check(&cmd, "LOG.csv", paths[0])) ||
        (rc = cli_plot_name_check(&cmd, "FILE.png", paths[1])) ||
        (rc = cli_outputs_check(&cmd, &output, 1, &input, 1, NULL)) ||
        (rc = cli_plot_log(self->name, paths[0], paths[0], paths[1])))
        return rc;
    printf("plot %s\n", paths[1]);
    return CLI_OK;
}
