/* The one safe way the library writes a file (bp_file_*, and bp_model_save through it): what it
 * refuses to replace (directories, a name ending in '/', devices, FIFOs, links to those, to
 * nothing or to an open descriptor's name), what it replaces and how (a regular file or a link to
 * one, keeping the mode), names at the 255-byte limit, a temporary name planted beforehand as a
 * link, discard and failed writes, the check's probe (writability proven by creating a file, as
 * root acting as another user too). */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, symlink, mkfifo, lstat */

#include "bp_test.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];

static void path_in(char *buf, size_t size, const char *name)
{
    int n = snprintf(buf, size, "%s/%s", dir, name);
    assert_true(n > 0 && (size_t)n < size);
}

static void put(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

/* The whole (short) file as a string; "" for an empty one. */
static char *get(const char *path)
{
    static char buf[256];
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* Entries of dir other than . and .. */
static int entries(void)
{
    DIR *d = opendir(dir);
    int n = 0;
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

static void clear_dir(void)
{
    DIR *d = opendir(dir);
    char p[512];
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        path_in(p, sizeof p, e->d_name);
        if (remove(p) != 0)
            rmdir(p);
    }
    closedir(d);
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/bp_files_XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    clear_dir();
    return rmdir(dir);
}

static int per_test(void **state)
{
    (void)state;
    clear_dir();
    return 0;
}

/* Write text to path through bp_file and commit. */
static bp_status write_all(const char *path, const char *text)
{
    bp_file *f = NULL;
    bp_status st = bp_file_create(&f, path);
    if (st) {
        assert_null(f);
        return st;
    }
    assert_non_null(bp_file_temp_path(f));
    if ((st = bp_file_write(f, text, strlen(text)))) {
        bp_file_discard(f);
        return st;
    }
    return bp_file_commit(f);
}

/* ---------------------------------------------------------------- what is replaced */
static void writes_new_and_replaces_regular(void **state)
{
    (void)state;
    char p[256];
    path_in(p, sizeof p, "out.txt");
    bpt_ok(bp_file_check(p));
    assert_int_equal(entries(), 0); /* the check creates nothing */
    bpt_ok(write_all(p, "first\n"));
    assert_string_equal(get(p), "first\n");
    bpt_ok(write_all(p, "second\n"));
    assert_string_equal(get(p), "second\n");
    assert_int_equal(entries(), 1); /* no temporary file left */
}

static void keeps_the_mode(void **state)
{
    (void)state;
    char p[256];
    struct stat sb;
    path_in(p, sizeof p, "mode.txt");
    put(p, "old");
    assert_int_equal(chmod(p, 0640), 0);
    bpt_ok(write_all(p, "new"));
    assert_int_equal(stat(p, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0640);
    assert_int_equal(chmod(p, 0604), 0); /* another mode: not the umask's by chance */
    bpt_ok(write_all(p, "newer"));
    assert_int_equal(stat(p, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0604);
    assert_int_equal(chmod(p, 04750), 0); /* the permission bits are kept, a set-id bit never */
    bpt_ok(write_all(p, "newest"));
    assert_int_equal(stat(p, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0750);
}

/* A link to a regular file is replaced by the new file; the file it pointed to is untouched. */
static void replaces_link_to_regular(void **state)
{
    (void)state;
    char target[256], link[256];
    struct stat sb;
    path_in(target, sizeof target, "target.txt");
    path_in(link, sizeof link, "link.txt");
    put(target, "target");
    assert_int_equal(chmod(target, 0600), 0);
    assert_int_equal(symlink("target.txt", link), 0);
    bpt_ok(write_all(link, "through the link"));
    assert_string_equal(get(target), "target");
    assert_int_equal(lstat(link, &sb), 0);
    assert_true(S_ISREG(sb.st_mode));
    assert_int_equal(sb.st_mode & 07777, 0600); /* the mode of the file the link named */
    assert_string_equal(get(link), "through the link");
}

/* ---------------------------------------------------------------- what is refused */
static void refuse(const char *path, const char *keywords)
{
    bp_file *f = (bp_file *)&f; /* a failed create must reset it */
    bpt_assert_status(bp_file_check(path), BP_EIO, keywords);
    bpt_assert_status(bp_file_create(&f, path), BP_EIO, keywords);
    assert_null(f);
}

static void refuses_directories(void **state)
{
    (void)state;
    char p[256], slash[256];
    path_in(p, sizeof p, "sub");
    assert_int_equal(mkdir(p, 0700), 0);
    refuse(p, "directory");
    path_in(slash, sizeof slash, "sub/");
    refuse(slash, "directory|'/'");
    path_in(slash, sizeof slash, "new/"); /* not there: still a directory's name */
    refuse(slash, "'/'");
    refuse("", "empty");
    assert_int_equal(entries(), 1);
}

static void refuses_devices_fifos_and_dangling_links(void **state)
{
    (void)state;
    char fifo[256], link[256], dangling[256];
    struct stat sb;
    refuse("/dev/null", "regular");
    assert_int_equal(stat("/dev/null", &sb), 0);
    assert_true(S_ISCHR(sb.st_mode));
    path_in(fifo, sizeof fifo, "fifo");
    assert_int_equal(mkfifo(fifo, 0600), 0);
    refuse(fifo, "regular");
    assert_int_equal(stat(fifo, &sb), 0);
    assert_true(S_ISFIFO(sb.st_mode));
    path_in(link, sizeof link, "to-zero");
    assert_int_equal(symlink("/dev/zero", link), 0);
    refuse(link, "regular");
    path_in(dangling, sizeof dangling, "dangling");
    assert_int_equal(symlink("nowhere", dangling), 0);
    refuse(dangling, "link to nothing");
    path_in(link, sizeof link, "missing/x.bpn");
    refuse(link, "no such file");
    assert_int_equal(entries(), 3);
}

/* A link to an open descriptor's name (as /dev/stdout links to /proc/self/fd/1), here to a
 * descriptor of a regular file: refused, so that the link (in /dev for /dev/stdout) is never
 * replaced by a file; a link to the file itself is replaced as any link to a regular file. */
static void refuses_links_to_descriptors(void **state)
{
    (void)state;
    char file[256], link[256], fd_name[64];
    struct stat sb;
    path_in(file, sizeof file, "held.txt");
    put(file, "held");
    FILE *held = fopen(file, "r");
    assert_non_null(held);
    snprintf(fd_name, sizeof fd_name, "/proc/self/fd/%d", fileno(held));
    path_in(link, sizeof link, "stdout-like");
    assert_int_equal(symlink(fd_name, link), 0);
    refuse(link, "open file descriptor");
    assert_int_equal(lstat(link, &sb), 0);
    assert_true(S_ISLNK(sb.st_mode));
    assert_string_equal(get(file), "held");
    assert_int_equal(remove(link), 0);
    assert_int_equal(symlink("held.txt", link), 0);
    bpt_ok(bp_file_check(link));
    fclose(held);
}

/* bp_model_save goes the same way: /dev/null stays a device. */
static void model_save_refuses_a_device(void **state)
{
    (void)state;
    static const int sizes[] = {2, 2};
    static const bp_activation acts[] = {BP_SIGMOID};
    bp_net *net = bpt_net(2, sizes, acts, BP_QUADRATIC);
    char p[256];
    struct stat sb;
    bpt_assert_status(bp_model_save(net, "/dev/null"), BP_EIO, "regular");
    assert_int_equal(stat("/dev/null", &sb), 0);
    assert_true(S_ISCHR(sb.st_mode));
    path_in(p, sizeof p, "d");
    assert_int_equal(mkdir(p, 0700), 0);
    bpt_assert_status(bp_model_save(net, p), BP_EIO, "directory");
    bp_net_free(net);
}

/* The check proves that a file can be created by creating one: a directory this process may not
 * write in is refused even where access() says yes (it answers for the real user: root, here
 * acting as nobody, passed it). Root runs the check as nobody; anyone else on a 0555 directory. */
static void check_proves_writability(void **state)
{
    (void)state;
    char sub[256], p[300];
    path_in(sub, sizeof sub, "sub");
    assert_int_equal(mkdir(sub, 0755), 0);
    snprintf(p, sizeof p, "%s/m.bpn", sub);
    bpt_ok(bp_file_check(p));
    assert_int_equal(chmod(sub, 0555), 0);
    if (geteuid() == 0) {
        assert_int_equal(chmod(dir, 0711), 0);
        assert_int_equal(access(sub, W_OK), 0); /* the real user is root */
        assert_int_equal(seteuid(65534), 0);
    }
    bp_status st = bp_file_check(p);
    if (getuid() == 0)
        assert_int_equal(seteuid(0), 0);
    bpt_assert_status(st, BP_EIO, "cannot create a file in its directory: Permission denied");
    assert_int_equal(chmod(sub, 0700), 0);
    assert_int_equal(rmdir(sub), 0);
    assert_int_equal(chmod(dir, 0700), 0);
}

/* In a sticky directory only a file's owner (or root) may replace it: another user's file is
 * refused by the check, one's own is not. Run as nobody by root; skipped for anyone else. */
static void check_refuses_others_file_in_sticky_dir(void **state)
{
    (void)state;
    char sub[256], theirs[300], mine[300];
    if (geteuid() != 0)
        skip();
    path_in(sub, sizeof sub, "sticky");
    assert_int_equal(mkdir(sub, 0755), 0);
    assert_int_equal(chmod(sub, 01777), 0);
    snprintf(theirs, sizeof theirs, "%s/theirs", sub);
    snprintf(mine, sizeof mine, "%s/mine", sub);
    put(theirs, "root's");
    put(mine, "nobody's");
    assert_int_equal(chmod(theirs, 0666), 0); /* writable: the sticky bit alone forbids it */
    assert_int_equal(chown(mine, 65534, 65534), 0);
    assert_int_equal(chmod(dir, 0711), 0);
    assert_int_equal(seteuid(65534), 0);
    char why[256];
    bp_status refused = bp_file_check(theirs);
    snprintf(why, sizeof why, "%s", bp_last_error());
    bp_status own = bp_file_check(mine);
    assert_int_equal(seteuid(0), 0);
    assert_int_equal(chmod(dir, 0700), 0);
    bpt_ok(own);
    assert_int_equal(refused, BP_EIO);
    assert_non_null(strstr(why, "another user's file in a sticky directory"));
    bpt_ok(bp_file_check(theirs)); /* root may */
    assert_int_equal(remove(theirs), 0);
    assert_int_equal(remove(mine), 0);
    assert_int_equal(rmdir(sub), 0);
}

/* The probe is made as the temporary file is: a link planted at its name is neither followed nor
 * removed, and nothing of the probe remains. */
static void probe_follows_no_link(void **state)
{
    (void)state;
    char p[256], victim[256], trap[300];
    path_in(p, sizeof p, "m.bpn");
    path_in(victim, sizeof victim, "victim");
    put(victim, "precious");
    snprintf(trap, sizeof trap, "%s.tmp.%ld.0", p, (long)getpid());
    assert_int_equal(symlink("victim", trap), 0);
    bpt_ok(bp_file_check(p));
    assert_string_equal(get(victim), "precious");
    assert_int_equal(access(trap, F_OK), 0);
    assert_int_equal(entries(), 2); /* victim and the link */
}

/* ---------------------------------------------------------------- names and links */
/* A 255-byte name (NAME_MAX) still gets a temporary file beside it. */
static void longest_name(void **state)
{
    (void)state;
    char name[256], p[512];
    memset(name, 'n', 255);
    name[255] = '\0';
    path_in(p, sizeof p, name);
    bpt_ok(write_all(p, "long"));
    assert_string_equal(get(p), "long");
    name[254] = '\0';
    path_in(p, sizeof p, name);
    bpt_ok(write_all(p, "254"));
    assert_string_equal(get(p), "254");
    assert_int_equal(entries(), 2);
}

/* A link planted where the temporary file goes is never followed nor replaced. */
static void planted_temporary_link(void **state)
{
    (void)state;
    char p[256], victim[256], trap[300];
    path_in(p, sizeof p, "log.csv");
    path_in(victim, sizeof victim, "victim");
    put(victim, "precious");
    for (int n = 0; n < 3; n++) {
        snprintf(trap, sizeof trap, "%s.tmp.%ld.%d", p, (long)getpid(), n);
        assert_int_equal(symlink("victim", trap), 0);
    }
    bpt_ok(write_all(p, "rows"));
    assert_string_equal(get(victim), "precious");
    assert_string_equal(get(p), "rows");
    assert_int_equal(entries(), 5); /* victim, log.csv, the 3 links */
}

/* ---------------------------------------------------------------- discard, failures */
static void discard_leaves_nothing(void **state)
{
    (void)state;
    char p[256];
    bp_file *f = NULL;
    path_in(p, sizeof p, "kept.txt");
    put(p, "before");
    bpt_ok(bp_file_create(&f, p));
    bpt_ok(bp_file_write(f, "after", 5));
    assert_int_equal(access(bp_file_temp_path(f), F_OK), 0);
    bp_file_discard(f);
    bp_file_discard(NULL);
    assert_string_equal(get(p), "before");
    assert_int_equal(entries(), 1);
}

/* The target turned into a directory while the file was written: the commit refuses. */
static void commit_checks_again(void **state)
{
    (void)state;
    char p[256];
    bp_file *f = NULL;
    path_in(p, sizeof p, "late");
    bpt_ok(bp_file_create(&f, p));
    bpt_ok(bp_file_write(f, "x", 1));
    assert_int_equal(mkdir(p, 0700), 0);
    bpt_assert_status(bp_file_commit(f), BP_EIO, "directory");
    assert_int_equal(entries(), 1);
}

static void null_arguments(void **state)
{
    (void)state;
    bp_file *f = NULL;
    char p[256];
    bpt_assert_status(bp_file_check(NULL), BP_ENULL, "path");
    bpt_assert_status(bp_file_create(NULL, "x"), BP_ENULL, "out");
    bpt_assert_status(bp_file_create(&f, NULL), BP_ENULL, "path");
    bpt_assert_status(bp_file_write(NULL, "x", 1), BP_ENULL, "file");
    bpt_assert_status(bp_file_commit(NULL), BP_ENULL, "file");
    assert_null(bp_file_temp_path(NULL));
    path_in(p, sizeof p, "n");
    bpt_ok(bp_file_create(&f, p));
    bpt_assert_status(bp_file_write(f, NULL, 1), BP_ENULL, "data");
    bpt_ok(bp_file_write(f, NULL, 0));
    bpt_ok(bp_file_commit(f));
    assert_string_equal(get(p), "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(writes_new_and_replaces_regular, per_test),
        cmocka_unit_test_setup(keeps_the_mode, per_test),
        cmocka_unit_test_setup(replaces_link_to_regular, per_test),
        cmocka_unit_test_setup(refuses_directories, per_test),
        cmocka_unit_test_setup(refuses_devices_fifos_and_dangling_links, per_test),
        cmocka_unit_test_setup(refuses_links_to_descriptors, per_test),
        cmocka_unit_test_setup(model_save_refuses_a_device, per_test),
        cmocka_unit_test_setup(check_proves_writability, per_test),
        cmocka_unit_test_setup(probe_follows_no_link, per_test),
        cmocka_unit_test_setup(check_refuses_others_file_in_sticky_dir, per_test),
        cmocka_unit_test_setup(longest_name, per_test),
        cmocka_unit_test_setup(planted_temporary_link, per_test),
        cmocka_unit_test_setup(discard_leaves_nothing, per_test),
        cmocka_unit_test_setup(commit_checks_again, per_test),
        cmocka_unit_test_setup(null_arguments, per_test),
    };
    return cmocka_run_group_tests_name("files", tests, setup, teardown);
}
