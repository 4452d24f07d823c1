/* IDX datasets (MNIST / Fashion-MNIST), plain or gzip-compressed. */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* gzread takes an unsigned count and returns an int: read at most this much per call. */
#define READ_CHUNK ((size_t)1 << 30)
/* First size of the data buffer; it then doubles with what really arrives. */
#define FIRST_BUFFER ((size_t)1 << 16)

/* An open IDX file. gzread reads plain files transparently, so one path serves both kinds. */
typedef struct reader {
    gzFile gz;
    const char *path;
} reader;

/* One IDX file in memory: count samples of width bytes each. */
typedef struct idx_file {
    int count;
    int width;
    unsigned char *bytes;
} idx_file;

/* zlib prefixes its messages with the path; keep only the reason. */
static const char *zlib_reason(const char *msg, const char *path)
{
    size_t n = strlen(path);
    return strncmp(msg, path, n) == 0 && msg[n] == ':' ? msg + n + 2 : msg;
}

/* Reads up to n bytes; *got < n only at the end of the file. Fails on a read error or a damaged
 * gzip stream. zlib reports a stream that stops before its trailer as Z_BUF_ERROR yet lets gzread
 * return what it could decompress, so the error state is checked after every read (zlib works
 * ahead of the caller, so it may notice the damage before the bytes requested run out). */
static bp_status read_upto(reader *r, unsigned char *buf, size_t n, size_t *got)
{
    int err;
    const char *msg;
    *got = 0;
    while (*got < n) {
        size_t want = n - *got < READ_CHUNK ? n - *got : READ_CHUNK;
        int k = gzread(r->gz, buf + *got, (unsigned)want);
        if (k <= 0)
            break;
        *got += (size_t)k;
    }
    msg = gzerror(r->gz, &err);
    switch (err) {
    case Z_OK:
        return BP_OK;
    case Z_BUF_ERROR:
        return bp__fail(BP_EFORMAT, "%s: truncated gzip stream: unexpected end of the compressed "
                        "data", r->path);
    case Z_ERRNO:
        return bp__fail(BP_EIO, "%s: cannot read: %s", r->path, zlib_reason(msg, r->path));
    case Z_MEM_ERROR:
        return bp__fail(BP_ENOMEM, "%s: out of memory while decompressing", r->path);
    default:
        return bp__fail(BP_EFORMAT, "%s: corrupt gzip stream: %s", r->path,
                        zlib_reason(msg, r->path));
    }
}

/* Reads exactly size bytes of data and checks that nothing follows. The buffer grows with the data
 * really present instead of being allocated at the size the header claims, so a header that lies
 * costs no more memory than the file holds. */
static bp_status read_data(reader *r, size_t size, unsigned char **out)
{
    const size_t limit = size + 1; /* one byte more reveals trailing data */
    unsigned char *buf = NULL;
    size_t cap = 0, len = 0;
    bp_status st = BP_OK;
    while (len == cap && cap < limit) {
        size_t got, next = cap == 0 ? FIRST_BUFFER : cap > limit / 2 ? limit : 2 * cap;
        unsigned char *p;
        if (next > limit)
            next = limit;
        p = bp__realloc(buf, next);
        if (!p) {
            st = bp__fail(BP_ENOMEM, "%s: cannot allocate %zu bytes", r->path, next);
            break;
        }
        buf = p;
        cap = next;
        st = read_upto(r, buf + len, cap - len, &got);
        if (st != BP_OK)
            break;
        len += got;
    }
    if (st == BP_OK && len < size)
        st = bp__fail(BP_EFORMAT, "%s: truncated: header says %zu bytes of data, file has %zu",
                      r->path, size, len);
    else if (st == BP_OK && len > size)
        st = bp__fail(BP_EFORMAT, "%s: trailing bytes after the %zu bytes of data", r->path, size);
    if (st != BP_OK) {
        bp__free(buf);
        return st;
    }
    *out = buf;
    return BP_OK;
}

/* Validates the header (magic, type, rank 1..max_rank, dimensions) and reads the data. */
static bp_status parse_idx(reader *r, int max_rank, idx_file *out)
{
    unsigned char head[4 + 4 * 4];
    size_t got, total = 1;
    int rank, d;
    bp_status st = read_upto(r, head, 4, &got);
    if (st != BP_OK)
        return st;
    if (got < 4)
        return bp__fail(BP_EFORMAT, "%s: truncated header: %zu of 4 bytes", r->path, got);
    if (head[0] != 0 || head[1] != 0)
        return bp__fail(BP_EFORMAT, "%s: bad magic %02x %02x, an IDX file starts with 00 00",
                        r->path, head[0], head[1]);
    switch (head[2]) {
    case 0x08:
        break;
    case 0x09: case 0x0B: case 0x0C: case 0x0D: case 0x0E:
        return bp__fail(BP_EFORMAT, "%s: unsupported type 0x%02X, only 0x08 (unsigned byte)",
                        r->path, head[2]);
    default:
        return bp__fail(BP_EFORMAT, "%s: bad type byte 0x%02X", r->path, head[2]);
    }
    rank = head[3];
    if (rank < 1 || rank > max_rank)
        return bp__fail(BP_EFORMAT, "%s: rank %d, expected %s", r->path, rank,
                        max_rank == 1 ? "1" : "1..4");
    st = read_upto(r, head + 4, 4 * (size_t)rank, &got);
    if (st != BP_OK)
        return st;
    if (got < 4 * (size_t)rank)
        return bp__fail(BP_EFORMAT, "%s: truncated header: %zu of %d dimension bytes", r->path, got,
                        4 * rank);
    for (d = 0; d < rank; d++) {
        const unsigned char *b = head + 4 + 4 * d;
        uint32_t dim = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
        if (dim == 0)
            return bp__fail(BP_EFORMAT, "%s: dimension %d is 0", r->path, d);
        if (d == 0 && dim > INT_MAX)
            return bp__fail(BP_EFORMAT, "%s: dimension overflow: %lu samples exceed INT_MAX",
                            r->path, (unsigned long)dim);
        if (!bp__mul_size(total, dim, &total) || total == SIZE_MAX)
            return bp__fail(BP_EFORMAT, "%s: dimension overflow: the product of the %d dimensions "
                            "does not fit size_t", r->path, rank);
        if (d == 0)
            out->count = (int)dim;
    }
    if (total / (size_t)out->count > INT_MAX)
        return bp__fail(BP_EFORMAT, "%s: dimension overflow: %zu values per sample exceed INT_MAX",
                        r->path, total / (size_t)out->count);
    out->width = (int)(total / (size_t)out->count);
    return read_data(r, total, &out->bytes);
}

/* Bytes of the scan's input and output buffers. */
#define SCAN_CHUNK ((size_t)1 << 14)

/* The next input bytes into z (buf of SCAN_CHUNK), keeping the keep unread ones in front: 0 at the
 * end of the file. */
static size_t refill(FILE *f, z_stream *z, unsigned char *buf)
{
    size_t keep = z->avail_in;
    memmove(buf, z->next_in, keep);
    z->next_in = buf;
    z->avail_in = (uInt)(keep + fread(buf + keep, 1, SCAN_CHUNK - keep, f));
    return z->avail_in - keep;
}

/* After gzread took the file: whether it ends with its last gzip member. Members that follow one
 * another are one stream, as gzread reads them, but gzread skips silently whatever else follows
 * the last, so the compressed bytes are scanned again (inflate, the output discarded) to find
 * where the last member ends. */
static bp_status check_gzip_end(const char *path)
{
    unsigned char in[SCAN_CHUNK], out[SCAN_CHUNK];
    z_stream z;
    bp_status st = BP_OK;
    FILE *f = fopen(path, "rb");
    if (!f)
        return bp__fail_errno(errno, path, "cannot open it again to find the end of its data");
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) {
        fclose(f);
        return bp__fail(BP_ENOMEM, "%s: out of memory while decompressing", path);
    }
    z.next_in = in;
    for (;;) {
        if (z.avail_in == 0 && refill(f, &z, in) == 0)
            break; /* a member's end is found below, so this is the file's end inside one */
        z.next_out = out;
        z.avail_out = sizeof out;
        int ret = inflate(&z, Z_NO_FLUSH);
        if (ret == Z_STREAM_END) {
            while (z.avail_in < 2 && refill(f, &z, in) > 0)
                continue;
            if (z.avail_in == 0)
                break; /* the last member ends the file */
            if (z.avail_in >= 2 && z.next_in[0] == 0x1f && z.next_in[1] == 0x8b) {
                inflateReset(&z);
                continue;
            }
            st = bp__fail(BP_EFORMAT, "%s: trailing bytes after the gzip stream", path);
            break;
        }
        if (ret != Z_OK && ret != Z_BUF_ERROR) { /* gzread accepted it: not seen in practice */
            st = bp__fail(BP_EFORMAT, "%s: corrupt gzip stream", path);
            break;
        }
    }
    if (!st && ferror(f))
        st = bp__fail(BP_EIO, "%s: cannot read it again to find the end of its data", path);
    inflateEnd(&z);
    fclose(f);
    return st;
}

static bp_status read_idx(const char *path, int max_rank, idx_file *out)
{
    reader r = {NULL, path};
    bp_status st;
    r.gz = gzopen(path, "rb");
    if (!r.gz)
        return bp__fail_errno(errno, path, "cannot open");
    st = parse_idx(&r, max_rank, out);
    if (st == BP_OK && !gzdirect(r.gz) && (st = check_gzip_end(path)) != BP_OK) {
        bp__free(out->bytes);
        out->bytes = NULL;
    }
    gzclose_r(r.gz);
    return st;
}

/* Pixels scaled to [0,1] as the columns of ds->x (allocated), the count and width of ds set. */
static bp_status build_images(bp_dataset *ds, const idx_file *img)
{
    bp_status st = BP_OK;
    size_t n = (size_t)img->count * (size_t)img->width;
    ds->count = img->count;
    ds->n_features = img->width;
    if (!(ds->x = bp__realloc_array(NULL, n, 1, sizeof *ds->x, &st)))
        return st;
    for (size_t i = 0; i < n; i++)
        ds->x[i] = (float)img->bytes[i] / 255.0f;
    return BP_OK;
}

/* Pixels scaled to [0,1] as columns, labels as indices and one-hot columns. */
static bp_status build_dataset(bp_dataset *ds, const idx_file *img, const idx_file *lab,
                               int num_classes)
{
    bp_status st = build_images(ds, img);
    int s;
    ds->n_targets = num_classes;
    size_t count = (size_t)img->count;
    if (st ||
        !(ds->y = bp__realloc_array(NULL, count, (size_t)num_classes, sizeof *ds->y, &st)) ||
        !(ds->labels = bp__realloc_array(NULL, count, 1, sizeof *ds->labels, &st)))
        return st;
    memset(ds->y, 0, count * (size_t)num_classes * sizeof *ds->y);
    for (s = 0; s < img->count; s++) {
        ds->labels[s] = lab->bytes[s];
        ds->y[(size_t)s * (size_t)num_classes + lab->bytes[s]] = 1.0f;
    }
    return BP_OK;
}

bp_status bp_dataset_load_idx(bp_dataset *out, const char *images_path, const char *labels_path,
                              int num_classes)
{
    idx_file img = {0, 0, NULL}, lab = {0, 0, NULL};
    bp_status st;
    int s;
    bp__clear_error();
    if (!out)
        return bp__fail(BP_ENULL, "out is NULL");
    memset(out, 0, sizeof *out);
    if (!images_path || !labels_path)
        return bp__fail(BP_ENULL, "%s is NULL", images_path ? "labels_path" : "images_path");
    if (num_classes < 1 || num_classes > 256)
        return bp__fail(BP_EDIM, "num_classes is %d, expected 1..256", num_classes);
    st = read_idx(images_path, 4, &img);
    if (st == BP_OK)
        st = read_idx(labels_path, 1, &lab);
    if (st == BP_OK && img.count != lab.count)
        st = bp__fail(BP_EFORMAT, "count mismatch: %s has %d images, %s has %d labels", images_path,
                      img.count, labels_path, lab.count);
    for (s = 0; st == BP_OK && s < lab.count; s++)
        if (lab.bytes[s] >= num_classes)
            st = bp__fail(BP_EFORMAT, "%s: sample %d: label %d is not below num_classes %d",
                          labels_path, s, lab.bytes[s], num_classes);
    if (st == BP_OK)
        st = build_dataset(out, &img, &lab, num_classes);
    bp__free(img.bytes);
    bp__free(lab.bytes);
    if (st != BP_OK)
        bp_dataset_free(out);
    return st;
}

/* ---------------------------------------------------------------- images alone */
bp_status bp_dataset_load_idx_images(bp_dataset *out, const char *images_path)
{
    idx_file img = {0, 0, NULL};
    bp_status st;
    bp__clear_error();
    if (!out)
        return bp__fail(BP_ENULL, "out is NULL");
    memset(out, 0, sizeof *out);
    if (!images_path)
        return bp__fail(BP_ENULL, "images_path is NULL");
    st = read_idx(images_path, 4, &img);
    if (st == BP_OK)
        st = build_images(out, &img);
    bp__free(img.bytes);
    if (st != BP_OK)
        bp_dataset_free(out);
    return st;
}
