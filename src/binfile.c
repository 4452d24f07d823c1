/* Files of the library and the program: the one safe way to write any of them (a temporary file
 * beside the target, created exclusively and never through a link, then fsync, rename and a sync
 * of the directory; only a regular file is ever replaced); and for the binary formats the
 * little-endian codec, writes folded into a CRC-32 and the reader that checks the file's real
 * length before each field. The formats themselves live in model_io.c and checkpoint.c. */
#define _GNU_SOURCE /* statx; S_ISVTX */

#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define CHUNK BP__IO_CHUNK

/* Little-endian integer of width bytes (4 or 8), whatever the host's byte order. */
unsigned char *bp__put_le(unsigned char *p, uint64_t v, int width)
{
    for (int i = 0; i < width; i++)
        p[i] = (unsigned char)(v >> (8 * i));
    return p + width;
}

uint64_t bp__get_le(const unsigned char *p, int width)
{
    uint64_t v = 0;
    for (int i = 0; i < width; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

unsigned char *bp__put_signature(unsigned char *p, const unsigned char magic[BP__MAGIC_BYTES],
                                 uint32_t version)
{
    memcpy(p, magic, BP__MAGIC_BYTES);
    return bp__put_le(p + BP__MAGIC_BYTES, version, 4);
}

/* ---------------------------------------------------------------- save */

/* Write n (<= CHUNK) bytes and fold them into the running CRC. */
int bp__emit(FILE *f, unsigned long *crc, const unsigned char *p, size_t n)
{
    *crc = crc32(*crc, p, (uInt)n);
    return fwrite(p, 1, n, f) == n;
}

int bp__emit_floats(FILE *f, unsigned long *crc, const float *v, size_t n)
{
    unsigned char buf[CHUNK], *p;
    for (size_t i = 0; i < n;) {
        for (p = buf; i < n && p < buf + CHUNK; i++) {
            uint32_t bits; /* the float's IEEE 754 bits, so its bytes do not depend on the host */
            memcpy(&bits, &v[i], sizeof bits);
            p = bp__put_le(p, bits, 4);
        }
        if (!bp__emit(f, crc, buf, (size_t)(p - buf)))
            return 0;
    }
    return 1;
}

static bp_status io_error(const char *path, const char *what)
{
    return bp__fail_errno(errno, path, what);
}

/* Make the rename durable by syncing the directory that holds it (tmp: a scratch copy of the path,
 * cut here at its last '/'). Failure is ignored: the new file's data is already on disk and rename
 * is atomic, so at worst a crash undoes the rename and leaves the previous file, never a damaged
 * one; and some file systems refuse fsync on a directory, which must not fail a good save. */
static void sync_dir(char *tmp)
{
    char *slash = strrchr(tmp, '/');
    if (slash)
        slash[slash == tmp] = '\0'; /* "/m.bin" lives in "/", "d/m.bin" in "d" */
    int fd = open(slash ? tmp : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

/* Bytes of the directory part of path ("d/" of "d/m.bin": 2; 0 without a '/'). */
static size_t dir_bytes(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? (size_t)(slash - path) + 1 : 0;
}

/* Whether path is a symbolic link to one of /proc's links to open files, as /dev/stdout is to
 * /proc/self/fd/1: the file it reaches is whatever that descriptor holds, and the rename would
 * replace the link itself (in /dev) with a regular file. */
static int links_to_a_descriptor(const char *path)
{
    char target[64];
    ssize_t n = readlink(path, target, sizeof target - 1);
    if (n <= 0)
        return 0;
    target[n] = '\0';
    return (strncmp(target, "/proc/", 6) == 0 && strstr(target, "/fd/")) ||
           strncmp(target, "/dev/fd/", 8) == 0;
}

/* Whether path itself (not what a link names) is a mount point, as a file bind-mounted into a
 * container is: rename cannot replace it (EBUSY). statx says so on Linux 5.8 and later; where
 * it cannot, the rename still does. */
static int is_mount_point(const char *path)
{
#ifdef STATX_ATTR_MOUNT_ROOT
    struct statx sx;
    return statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_TYPE, &sx) == 0 &&
           (sx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
           (sx.stx_attributes & STATX_ATTR_MOUNT_ROOT);
#else
    (void)path;
    return 0;
#endif
}

/* What is at path (sb: its stat) fit to be replaced: a regular file, reached by no descriptor's
 * link, not a mount point. */
static bp_status replaceable(const char *path, const struct stat *sb)
{
    if (S_ISDIR(sb->st_mode))
        return bp__fail(BP_EIO, "%s: is a directory: refusing to replace it", path);
    if (!S_ISREG(sb->st_mode))
        return bp__fail(BP_EIO, "%s: not a regular file (a device, FIFO or socket): refusing to "
                        "replace it", path);
    if (links_to_a_descriptor(path))
        return bp__fail(BP_EIO, "%s: a link to an open file descriptor (as /dev/stdout is): "
                        "refusing to replace the link with a file", path);
    if (is_mount_point(path))
        return bp__fail(BP_EIO, "%s: a mount point (a file mounted there, as into a container): "
                        "it cannot be replaced, only written in place", path);
    return BP_OK;
}

/* stat, then on ENOENT lstat, to tell nothing from a link to nothing. A name that appears between
 * the two calls is another writer's rename landing (two runs writing one log): not a link, so it
 * is looked at again, once more at most. */
bp_status bp__out_check(const char *path, struct stat *old, int *exists)
{
    struct stat sb;
    *exists = 0;
    if (!path[0])
        return bp__fail(BP_EIO, "an empty file name");
    if (path[strlen(path) - 1] == '/')
        return bp__fail(BP_EIO, "%s: ends in '/': names a directory, not a file", path);
    for (int look = 0; look < 2; look++) {
        if (stat(path, &sb) == 0) {
            bp_status st = replaceable(path, &sb);
            *exists = !st;
            if (!st && old)
                *old = sb;
            return st;
        }
        if (errno != ENOENT)
            return io_error(path, "cannot check it");
        if (lstat(path, &sb) != 0)
            return BP_OK; /* nothing there */
        if (S_ISLNK(sb.st_mode))
            return bp__fail(BP_EIO, "%s: a symbolic link to nothing: refusing to replace it",
                            path);
    }
    return bp__fail(BP_EIO, "%s: appears and vanishes while it is checked", path);
}

/* The temporary file's name: the target's directory, then as much of its name as fits NAME_MAX
 * beside the suffix ".tmp.PID.N" (N < 1000), so that a 255-byte name still has one. */
#ifndef NAME_MAX
#define NAME_MAX 255
#endif
enum { TMP_SUFFIX_MAX = sizeof ".tmp.-9223372036854775808.999" - 1 };

static void temp_name(char *tmp, const char *path, unsigned n)
{
    size_t dir = dir_bytes(path), base = strlen(path + dir);
    if (base > NAME_MAX - TMP_SUFFIX_MAX)
        base = NAME_MAX - TMP_SUFFIX_MAX;
    memcpy(tmp, path, dir + base);
    snprintf(tmp + dir + base, TMP_SUFFIX_MAX + 1, ".tmp.%ld.%u", (long)getpid(), n);
}

/* A new file at the first free temporary name of path (into tmp), created exclusively, never
 * through a link (mode 0666 so that the umask applies as for any new file; mkstemp would force
 * 0600); -1 with errno when none can be created. */
static int create_exclusive(char *tmp, const char *path)
{
    int fd = -1;
    for (unsigned n = 0; fd < 0 && n < 1000; n++) {
        temp_name(tmp, path, n);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    return fd;
}

/* Create the temporary file, then give it the replaced file's mode. */
static int create_temp(char *tmp, const char *path, const struct stat *old, int exists)
{
    int fd = create_exclusive(tmp, path);
    if (fd >= 0 && exists && fchmod(fd, old->st_mode & 0777) != 0) { /* never set-id bits */
        int err = errno;
        close(fd);
        remove(tmp);
        errno = err;
        return -1;
    }
    return fd;
}

/* Prove that a file can be created beside path, by creating one as the temporary file would be
 * and removing it: permission bits, access() (which judges by the real user and, for root, grants
 * nearly everything), read-only mounts, immutable directories, file systems out of inodes and
 * security modules all answer as they will for the real write. */
static bp_status probe_dir(const char *path)
{
    size_t len = strlen(path);
    char small[512], *tmp = len + TMP_SUFFIX_MAX < sizeof small ? small
                                                                : bp__malloc(len + TMP_SUFFIX_MAX + 1);
    bp_status st = BP_OK;
    if (!tmp)
        return bp__fail(BP_ENOMEM, "%s: temporary file name", path);
    int fd = create_exclusive(tmp, path);
    if (fd < 0)
        st = io_error(path, "cannot create a file in its directory");
    else {
        close(fd);
        unlink(tmp);
    }
    if (tmp != small)
        bp__free(tmp);
    return st;
}

bp_status bp__out_open(bp__out *o, const char *path)
{
    struct stat old;
    int exists;
    bp_status st;
    size_t len = strlen(path);
    o->f = NULL;
    o->tmp = o->path = NULL;
    if ((st = bp__out_check(path, &old, &exists)))
        return st;
    if (!(o->tmp = bp__malloc(2 * len + TMP_SUFFIX_MAX + 2)))
        return bp__fail(BP_ENOMEM, "%s: temporary file name", path);
    o->path = o->tmp + len + TMP_SUFFIX_MAX + 1;
    memcpy(o->path, path, len + 1);
    int fd = create_temp(o->tmp, path, &old, exists);
    if (fd < 0) {
        st = io_error(path, "cannot create a temporary file beside it");
    } else if (!(o->f = fdopen(fd, "wb"))) {
        st = io_error(path, "cannot open the temporary file");
        close(fd);
        remove(o->tmp);
    }
    if (st) {
        bp__free(o->tmp);
        o->tmp = o->path = NULL;
    }
    return st;
}

void bp__out_discard(bp__out *o)
{
    if (o->f)
        fclose(o->f);
    if (o->tmp) {
        remove(o->tmp);
        bp__free(o->tmp);
    }
    o->f = NULL;
    o->tmp = o->path = NULL;
}

bp_status bp__out_commit(bp__out *o)
{
    bp_status st = BP_OK;
    int exists;
    if (fflush(o->f) != 0 || fsync(fileno(o->f)) != 0)
        st = io_error(o->path, "cannot write the temporary file");
    if (fclose(o->f) != 0 && st == BP_OK)
        st = io_error(o->path, "cannot close the temporary file");
    o->f = NULL;
    /* Checked again: what the path names may have changed while the file was written. */
    if (st == BP_OK && (st = bp__out_check(o->path, NULL, &exists)) == BP_OK &&
        rename(o->tmp, o->path) != 0)
        st = io_error(o->path, "cannot rename the temporary file over it");
    if (st) {
        bp__out_discard(o);
        return st;
    }
    sync_dir(o->tmp);
    bp__free(o->tmp);
    o->tmp = o->path = NULL;
    return BP_OK;
}

bp_status bp__save_atomic(const char *path, int (*write)(FILE *f, const void *ctx), const void *ctx)
{
    bp__out o;
    bp_status st = bp__out_open(&o, path);
    if (st)
        return st;
    if (!write(o.f, ctx)) {
        st = io_error(path, "cannot write the temporary file");
        bp__out_discard(&o);
        return st;
    }
    return bp__out_commit(&o);
}

/* ---------------------------------------------------------------- safe writing, public */
struct bp_file {
    bp__out out;
};

/* In a sticky directory (/tmp) only the owner of an entry (the file, or the link that names it),
 * the directory's owner or a privileged process may replace it: the rename over another user's
 * would fail after the work. Root is taken to hold that privilege (CAP_FOWNER); where it does
 * not, the rename still says so. */
static bp_status check_sticky(const char *path)
{
    size_t n = dir_bytes(path);
    char small[256], *dir = n < sizeof small ? small : bp__malloc(n + 1);
    struct stat entry, sb;
    bp_status st = BP_OK;
    if (!dir)
        return bp__fail(BP_ENOMEM, "%s: its directory's name", path);
    memcpy(dir, n ? path : ".", n ? n : 1);
    dir[n ? n : 1] = '\0';
    uid_t me = geteuid();
    if (me != 0 && lstat(path, &entry) == 0 && entry.st_uid != me && stat(dir, &sb) == 0 &&
        (sb.st_mode & S_ISVTX) && sb.st_uid != me)
        st = bp__fail(BP_EIO, "%s: another user's file in a sticky directory: only its owner "
                      "may replace it", path);
    if (dir != small)
        bp__free(dir);
    return st;
}

bp_status bp_file_check(const char *path)
{
    int exists;
    bp_status st;
    bp__clear_error();
    if (!path)
        return bp__fail(BP_ENULL, "path is NULL");
    if ((st = bp__out_check(path, NULL, &exists)) || (exists && (st = check_sticky(path))))
        return st;
    return probe_dir(path);
}

bp_status bp_file_create(bp_file **out, const char *path)
{
    bp__clear_error();
    if (!out || !path)
        return bp__fail(BP_ENULL, "%s is NULL", out ? "path" : "out");
    *out = NULL;
    bp_file *f = bp__malloc(sizeof *f);
    if (!f)
        return bp__fail(BP_ENOMEM, "%s: the file's handle", path);
    bp_status st = bp__out_open(&f->out, path);
    if (st)
        bp__free(f);
    else
        *out = f;
    return st;
}

bp_status bp_file_write(bp_file *f, const void *data, size_t bytes)
{
    bp__clear_error();
    if (!f || (!data && bytes))
        return bp__fail(BP_ENULL, "%s is NULL", f ? "data" : "file");
    if (!f->out.f)
        return bp__fail(BP_EIO, "%s: an earlier write failed", f->out.path);
    /* flushed at once, so that a reader following the temporary file sees each write whole */
    if ((bytes && fwrite(data, 1, bytes, f->out.f) != bytes) || fflush(f->out.f) != 0) {
        bp_status st = io_error(f->out.path, "cannot write the temporary file");
        fclose(f->out.f);
        f->out.f = NULL;
        return st;
    }
    return BP_OK;
}

const char *bp_file_temp_path(const bp_file *f) { return f ? f->out.tmp : NULL; }

bp_status bp_file_commit(bp_file *f)
{
    bp__clear_error();
    if (!f)
        return bp__fail(BP_ENULL, "file is NULL");
    bp_status st = f->out.f ? bp__out_commit(&f->out)
                            : bp__fail(BP_EIO, "%s: an earlier write failed", f->out.path);
    bp__out_discard(&f->out);
    bp__free(f);
    return st;
}

void bp_file_discard(bp_file *f)
{
    if (!f)
        return;
    bp__out_discard(&f->out);
    bp__free(f);
}

/* ---------------------------------------------------------------- load */

typedef bp__reader reader; /* internal.h */

bp_status bp__load_file(const char *path, bp_status (*read)(bp__reader *r, void *ctx), void *ctx)
{
    /* O_NONBLOCK: opening a FIFO must not wait for a writer; only regular files are read (the
     * length check needs a real length), and for those the flag changes nothing. */
    int fd = open(path, O_RDONLY | O_NONBLOCK);
    if (fd < 0)
        return io_error(path, "cannot open");
    struct stat sb;
    FILE *f = NULL;
    bp_status st;
    if (fstat(fd, &sb) != 0)
        st = io_error(path, "cannot stat");
    else if (!S_ISREG(sb.st_mode))
        st = bp__fail(BP_EIO, "%s: not a regular file", path);
    else if (!(f = fdopen(fd, "rb")))
        st = io_error(path, "cannot open");
    else {
        reader r = {f, path, (uint64_t)sb.st_size, 0, crc32(0L, Z_NULL, 0), NULL};
        st = read(&r, ctx);
    }
    if (f)
        fclose(f);
    else
        close(fd);
    return st;
}

bp_status bp__load_memory(const void *data, size_t size, const char *name,
                          bp_status (*read)(bp__reader *r, void *ctx), void *ctx)
{
    reader r = {NULL, name, (uint64_t)size, 0, crc32(0L, Z_NULL, 0), data};
    return read(&r, ctx);
}

/* BP_EFORMAT with "path: byte off: " and the message. */
bp_status bp__bad(const reader *r, uint64_t off, const char *fmt, ...)
{
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return bp__fail(BP_EFORMAT, "%s: byte %" PRIu64 ": %s", r->path, off, msg);
}

/* The next n (<= CHUNK) bytes, field `what`, folded into the CRC. The length is checked first, so a
 * short file is reported as truncated at the field where it ends. */
bp_status bp__read_bytes(reader *r, unsigned char *buf, size_t n, const char *what)
{
    if (r->len - r->off < n)
        return bp__bad(r, r->off, "truncated in the %s (the file has %" PRIu64 " bytes)", what,
                       r->len);
    if (r->mem)
        memcpy(buf, r->mem + r->off, n);
    else if (fread(buf, 1, n, r->f) != n) {
        if (!ferror(r->f))
            return bp__fail(BP_EIO, "%s: byte %" PRIu64 ": the file shrank while reading the %s",
                            r->path, r->off, what);
        char field[96];
        snprintf(field, sizeof field, "byte %" PRIu64 ": cannot read the %s", r->off, what);
        return bp__fail_errno(errno, r->path, field);
    }
    r->crc = crc32(r->crc, buf, (uInt)n);
    r->off += n;
    return BP_OK;
}

/* The next little-endian integer of width bytes; *at = its offset, for error messages. */
bp_status bp__read_uint(reader *r, int width, const char *what, uint64_t *v, uint64_t *at)
{
    unsigned char buf[8];
    *at = r->off;
    bp_status st = bp__read_bytes(r, buf, (size_t)width, what);
    *v = bp__get_le(buf, width);
    return st;
}

/* The next n parameters, decoded into params. */
bp_status bp__read_floats(reader *r, float *params, size_t n, const char *what)
{
    unsigned char buf[CHUNK];
    for (size_t i = 0; i < n;) {
        size_t k = n - i < CHUNK / 4 ? n - i : CHUNK / 4;
        bp_status st = bp__read_bytes(r, buf, 4 * k, what);
        if (st)
            return st;
        for (size_t j = 0; j < k; j++, i++) {
            uint32_t bits = (uint32_t)bp__get_le(buf + 4 * j, 4);
            memcpy(&params[i], &bits, sizeof bits);
        }
    }
    return BP_OK;
}

bp_status bp__read_signature(reader *r, const unsigned char magic[BP__MAGIC_BYTES],
                             uint32_t newest, const char *kind, uint32_t *version)
{
    unsigned char sig[BP__MAGIC_BYTES];
    uint64_t v, at;
    bp_status st;
    if ((st = bp__read_bytes(r, sig, sizeof sig, "magic")))
        return st;
    if (memcmp(sig, magic, sizeof sig) != 0)
        return bp__bad(r, r->off - sizeof sig, "bad magic: not a backprop %s (or one mangled as "
                       "text)", kind);
    if ((st = bp__read_uint(r, 4, "format version", &v, &at)))
        return st;
    if (v < 1 || v > newest)
        return bp__bad(r, at, "format version %" PRIu64 " not supported (only 1..%d)", v,
                       (int)newest);
    *version = (uint32_t)v;
    return BP_OK;
}

bp_status bp__check_length(const reader *r, uint64_t total)
{
    if (r->len < total)
        return bp__bad(r, r->len, "truncated: the file has %" PRIu64 " bytes, its header says "
                       "%" PRIu64, r->len, total);
    if (r->len > total)
        return bp__bad(r, total, "%" PRIu64 " trailing bytes after the checksum", r->len - total);
    return BP_OK;
}

bp_status bp__read_checksum(reader *r)
{
    unsigned long crc = r->crc; /* of every byte before the checksum field */
    uint64_t v, at;
    bp_status st = bp__read_uint(r, 4, "checksum", &v, &at);
    if (!st && v != crc)
        st = bp__bad(r, at, "CRC-32 checksum mismatch: stored %08" PRIx64 ", computed %08lx", v,
                     crc);
    return st;
}
