/* Binary files shared by model files and checkpoints: the little-endian codec, writes folded into a
 * CRC-32, the atomic save through a temporary file and rename, and the reader that checks the
 * file's real length before each field. The formats themselves live in model_io.c and
 * checkpoint.c. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
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
    int fd = open(slash ? tmp : ".", O_RDONLY);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

bp_status bp__save_atomic(const char *path, int (*write)(FILE *f, const void *ctx), const void *ctx)
{
    /* path.tmp.PID.N, created with O_EXCL (so threads and processes never share one) and mode
     * 0666 so that the umask applies as for any new file (mkstemp would force 0600). */
    size_t size = strlen(path) + 48;
    char *tmp = bp__malloc(size);
    if (!tmp)
        return bp__fail(BP_ENOMEM, "%s: temporary file name", path);
    int fd = -1;
    for (unsigned n = 0; fd < 0 && n < 1000; n++) {
        snprintf(tmp, size, "%s.tmp.%ld.%u", path, (long)getpid(), n);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0666);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    if (fd < 0) {
        bp_status st = io_error(path, "cannot create a temporary file beside it");
        bp__free(tmp);
        return st;
    }
    bp_status st = BP_OK;
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        st = io_error(path, "cannot open the temporary file");
        close(fd);
    } else {
        if (!write(f, ctx) || fflush(f) != 0 || fsync(fileno(f)) != 0)
            st = io_error(path, "cannot write the temporary file");
        if (fclose(f) != 0 && st == BP_OK)
            st = io_error(path, "cannot close the temporary file");
    }
    if (st == BP_OK && rename(tmp, path) != 0)
        st = io_error(path, "cannot rename the temporary file over it");
    if (st == BP_OK)
        sync_dir(tmp);
    else
        remove(tmp);
    bp__free(tmp);
    return st;
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
        reader r = {f, path, (uint64_t)sb.st_size, 0, crc32(0L, Z_NULL, 0)};
        st = read(&r, ctx);
    }
    if (f)
        fclose(f);
    else
        close(fd);
    return st;
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
    if (fread(buf, 1, n, r->f) != n) {
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

bp_status bp__read_signature_range(reader *r, const unsigned char magic[BP__MAGIC_BYTES],
                                   uint32_t oldest, uint32_t newest, const char *kind,
                                   uint32_t *version)
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
    if (v < oldest || v > newest) {
        if (oldest == newest)
            return bp__bad(r, at, "format version %" PRIu64 " not supported (only %d)", v,
                           (int)newest);
        return bp__bad(r, at, "format version %" PRIu64 " not supported (only %d to %d)", v,
                       (int)oldest, (int)newest);
    }
    *version = (uint32_t)v;
    return BP_OK;
}

bp_status bp__read_signature(reader *r, const unsigned char magic[BP__MAGIC_BYTES],
                             uint32_t version, const char *kind)
{
    uint32_t v;
    return bp__read_signature_range(r, magic, version, version, kind, &v);
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
