/* The program's transient status line on a terminal: a line while data loads, the training bar.
 * It is cut to the terminal's width, so it never wraps (a wrapped line cannot be redrawn in place
 * and would leave lines behind), and every message on stderr erases it first. */
#include "cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static int drawn; /* a status line is on the terminal */

int cli_term_is_tty(void) { return isatty(STDERR_FILENO); }

int cli_term_width(void)
{
    struct winsize ws;
    const char *env = getenv("COLUMNS");
    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    if (env && atoi(env) > 0)
        return atoi(env);
    return 80;
}

void cli_status(const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    if (!cli_term_is_tty())
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    /* One column short of the width: a character in the last column makes some terminals wrap. */
    int width = cli_term_width() - 1;
    if (width < 1)
        width = 1;
    if ((int)strlen(line) > width)
        line[width] = '\0';
    fprintf(stderr, "\r\033[K%s", line); /* \033[K: erase to the end of the line */
    fflush(stderr);
    drawn = 1;
}

void cli_status_clear(void)
{
    if (!drawn)
        return;
    fputs("\r\033[K", stderr);
    fflush(stderr);
    drawn = 0;
}
