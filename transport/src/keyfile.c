/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The p2p.key identity file of OptimumP2P nodes (weft/identity.h) and the
 * CRC-64 that guards it. Layout: 8 bytes little-endian CRC-64/GO-ISO of the
 * rest, then JSON {"Key":"<base64 PrivateKey protobuf>","ID":"<peer id>"}.
 *
 * Load is strict where it matters and tolerant where Go's encoder may
 * differ: the checksum must match, the JSON must be one object (whitespace
 * allowed, keys other than "Key" and "ID" skipped whatever their value,
 * each of "Key" and "ID" exactly once and a string), the key must decode
 * and the ID must name that key. Files over KEYFILE_MAX bytes are refused
 * before parsing. Save writes exactly {"Key":"...","ID":"..."} and replaces
 * the file atomically: temp file in the same directory, fsync, rename,
 * fsync of the directory, mode 0600 throughout.
 *
 * cJSON parses the JSON (see "the JSON text" below for what is checked
 * around it).
 *
 * Invariant: every buffer that held key material (file bytes, cJSON's
 * copies of the strings, protobuf, identity) is wiped on every exit path.
 */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "weft/crc64.h"
#include "weft/encoding.h"
#include "weft/identity.h"

#define KEYFILE_MAX (64 * 1024)

/* ---- load ------------------------------------------------------------------------ */

static int __attribute__((format(printf, 4, 5)))
fail(int code, char *detail, size_t cap, const char *fmt, ...)
{
    if (detail != NULL && cap > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(detail, cap, fmt, ap);
        va_end(ap);
    }
    return code;
}

/* Read the whole file, at most KEYFILE_MAX bytes; *len = size. Returns 0,
 * -errno, or 1 when the file is larger than the bound. */
static int
read_file(const char *path, uint8_t *buf, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t n = 0;
    int rc = 0;
    for (;;) {
        /* Ask for one byte beyond the bound to detect an oversized file
         * without trusting st_size. */
        ssize_t r = read(fd, buf + n, KEYFILE_MAX + 1 - n);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            break;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n > KEYFILE_MAX) {
            rc = 1;
            break;
        }
    }
    close(fd);
    *len = n;
    return rc;
}

/* ---- the JSON text ----------------------------------------------------------------- */

/*
 * cJSON builds the values. It is more lenient than this file's contract,
 * though, and says only where it stopped, not why; so one pass over the
 * raw text (jscan) comes first. It refuses what cJSON would let through:
 * control bytes between tokens other than JSON's whitespace, raw control
 * bytes inside strings, escapes that are not JSON's, \u without four hex
 * digits or with half a surrogate pair, and arrays or objects nested more
 * than JSON_MAX_DEPTH below the top-level object. It follows what the
 * top-level object expects next, which names the error at the offset
 * cJSON reports. It also writes the "shape" of the text: the same bytes
 * with every string's content blanked. cJSON parses the shape first, so a
 * grammar error is found with no key material in cJSON's hands (cJSON
 * frees what it built on a failure without wiping it); the real text is
 * parsed only once its shape is known to be good.
 */
#define JSON_MAX_DEPTH 32 /* in step with the message in json_structure() */

enum json_want { WANT_KEY, WANT_COLON, WANT_VALUE, WANT_COMMA };

typedef struct jscan {
    const char *text;
    size_t len, pos;
    char *shape;         /* NULL, or len bytes to write the shape into */
    unsigned depth;      /* arrays and objects open, the top-level object included */
    uint64_t objects;    /* bit d: the container at depth d + 1 is an object */
    int in_string, key;  /* inside a string; that string names a top-level member */
    enum json_want want; /* what the top-level object expects next */
    int closed;          /* the top-level object has ended (at pos) */
} jscan;

static int
json_is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* The four hex digits at p (n bytes available) as a code unit, or -1. */
static long
hex4(const char *p, size_t n)
{
    long v = 0;
    if (n < 4)
        return -1;
    for (int i = 0; i < 4; i++) {
        int h = weft_hex_digit((unsigned char)p[i]);
        if (h < 0)
            return -1;
        v = v << 4 | h;
    }
    return v;
}

/* The escape after the backslash at s->pos; moves past it. NULL or the
 * reason it is not one. */
static const char *
json_escape(jscan *s)
{
    const char *p = s->text + s->pos + 1;
    size_t n = s->len - s->pos - 1;
    if (n == 0)
        return "the text ends inside a string";
    if (strchr("\"\\/bfnrt", *p) != NULL && *p != '\0') {
        s->pos += 2;
        return NULL;
    }
    if (*p != 'u')
        return "not a JSON escape";
    long v = hex4(p + 1, n - 1);
    if (v < 0)
        return "\\u wants four hex digits";
    size_t used = 6;
    if (v >= 0xDC00 && v <= 0xDFFF)
        return "\\u escape is half a surrogate pair";
    if (v >= 0xD800 && v <= 0xDBFF) {
        long lo = n >= 11 && p[5] == '\\' && p[6] == 'u' ? hex4(p + 7, n - 7) : -1;
        if (lo < 0xDC00 || lo > 0xDFFF)
            return "\\u escape is half a surrogate pair";
        used = 12;
    }
    s->pos += used;
    return NULL;
}

/* A byte outside strings: track the nesting and the top-level object. */
static const char *
json_structure(jscan *s, char c)
{
    if (c == '{' || c == '[') {
        if (s->depth > JSON_MAX_DEPTH)
            return "arrays and objects nested deeper than 32 below the top";
        if (c == '{')
            s->objects |= (uint64_t)1 << s->depth;
        else
            s->objects &= ~((uint64_t)1 << s->depth);
        if (++s->depth == 1)
            s->want = WANT_KEY;
        return NULL;
    }
    if (c == '}' || c == ']') {
        if (s->depth == 0)
            return "unbalanced bracket"; /* not reached: the object opens first */
        if ((c == '}') != (int)(s->objects >> (s->depth - 1) & 1))
            return "mismatched bracket";
        if (--s->depth == 0)
            s->closed = 1;
        else if (s->depth == 1)
            s->want = WANT_COMMA;
        return NULL;
    }
    if (s->depth != 1)
        return NULL;
    if (c == ':' && s->want == WANT_COLON)
        s->want = WANT_VALUE;
    else if (c == ',' && s->want == WANT_COMMA)
        s->want = WANT_KEY;
    else if (c != ':' && c != ',' && s->want == WANT_VALUE)
        s->want = WANT_COMMA; /* a number or a literal; cJSON checks its spelling */
    return NULL;
}

/* Scan until stop, the end of the top-level object or an error: NULL, or
 * the reason the byte at s->pos is refused. */
static const char *
jscan_run(jscan *s, size_t stop)
{
    const char *why = NULL;
    while (why == NULL && !s->closed && s->pos < stop) {
        char c = s->text[s->pos];
        size_t at = s->pos;
        if (s->in_string) {
            if (c == '"') {
                s->in_string = 0;
                if (s->depth == 1 && (s->want == WANT_KEY || s->want == WANT_VALUE))
                    s->want = s->key ? WANT_COLON : WANT_COMMA;
                s->pos++;
            } else if (c == '\\') {
                why = json_escape(s);
            } else if ((unsigned char)c < 0x20) {
                why = "raw control character in a string";
            } else {
                s->pos++;
            }
            if (s->shape != NULL) /* the closing quote stays, the content goes */
                memset(s->shape + at, s->in_string ? 'x' : '"', s->pos - at);
            continue;
        }
        if (c == '"') {
            s->in_string = 1;
            s->key = s->depth == 1 && s->want == WANT_KEY;
        } else if ((unsigned char)c < 0x20 && !json_is_ws(c)) {
            why = "control character between tokens";
        } else if (!json_is_ws(c)) {
            why = json_structure(s, c);
        }
        if (why == NULL) {
            if (s->shape != NULL)
                s->shape[at] = c;
            s->pos++;
        }
    }
    return why;
}

/* What the scan's state says was wrong at the byte it stopped on. */
static const char *
jscan_expected(const jscan *s)
{
    if (s->depth > 1 || (s->in_string && !s->key))
        return "bad JSON value";
    if (s->in_string)
        return "bad JSON: bad string key";
    switch (s->want) {
    case WANT_KEY: return "bad JSON: expected a string key";
    case WANT_COLON: return "bad JSON: expected ':'";
    case WANT_COMMA: return "bad JSON: expected ',' or '}'";
    default: return "bad JSON value";
    }
}

/* Wipe every string cJSON copied out of the text (names and values). */
static void
json_wipe(cJSON *item)
{
    for (; item != NULL; item = item->next) {
        if (item->string != NULL)
            sodium_memzero(item->string, strlen(item->string));
        if (item->valuestring != NULL)
            sodium_memzero(item->valuestring, strlen(item->valuestring));
        json_wipe(item->child);
    }
}

static int
json_ascii(const char *str)
{
    for (; *str; str++)
        if ((unsigned char)*str >= 0x80)
            return 0;
    return 1;
}

/*
 * Parse the JSON part of the file (text, len) with cJSON into *root and
 * find "Key" and "ID" among its members. Returns 0, or WEFT_EPROTO /
 * -ENOMEM with the detail written.
 */
static int
json_load(const char *text, size_t len, cJSON **root, const char **key, const char **idtext,
          char *err_detail, size_t cap)
{
    jscan s = {.text = text, .len = len};
    const char *why, *end = NULL;
    size_t open = 0;
    int rc = WEFT_EPROTO;

    *root = NULL;
    while (open < len && json_is_ws(text[open]))
        open++;
    if (open == len || text[open] != '{')
        return fail(rc, err_detail, cap, "not a JSON object");
    s.shape = malloc(len);
    if (s.shape == NULL)
        return fail(-ENOMEM, err_detail, cap, "out of memory");
    why = jscan_run(&s, len);
    if (why != NULL) {
        fail(rc, err_detail, cap, "%s: %s at byte %zu", jscan_expected(&s), why, s.pos);
        goto out;
    }
    if (!s.closed) {
        fail(rc, err_detail, cap, "%s: the text ends inside the object", jscan_expected(&s));
        goto out;
    }

    /* The shape first: its errors are the text's, at the same offsets. */
    cJSON *shape = cJSON_ParseWithLengthOpts(s.shape, s.pos, &end, 0);
    if (shape == NULL) {
        size_t at = end != NULL && end >= s.shape ? (size_t)(end - s.shape) : 0;
        jscan to = {.text = text, .len = len};
        jscan_run(&to, at);
        fail(rc, err_detail, cap, "%s near byte %zu", jscan_expected(&to), at);
        goto out;
    }
    cJSON_Delete(shape);
    for (size_t i = s.pos; i < len; i++) {
        if (!json_is_ws(text[i])) {
            fail(rc, err_detail, cap, "bad JSON: bytes after the object (byte %zu)", i);
            goto out;
        }
    }
    *root = cJSON_ParseWithLengthOpts(text, s.pos, NULL, 0);
    if (*root == NULL) {
        /* The shape parsed and the strings were checked: only memory is short. */
        rc = fail(-ENOMEM, err_detail, cap, "out of memory");
        goto out;
    }

    /* cJSON keeps repeated names; every member is looked at. */
    *key = *idtext = NULL;
    for (const cJSON *m = (*root)->child; m != NULL; m = m->next) {
        if (strcmp(m->string, "Key") == 0) {
            if (*key != NULL) {
                fail(rc, err_detail, cap, "\"Key\" appears twice");
                goto out;
            }
            if (!cJSON_IsString(m) || !json_ascii(m->valuestring)) {
                fail(rc, err_detail, cap, "\"Key\" is not an ASCII JSON string");
                goto out;
            }
            *key = m->valuestring;
        } else if (strcmp(m->string, "ID") == 0) {
            if (*idtext != NULL) {
                fail(rc, err_detail, cap, "\"ID\" appears twice");
                goto out;
            }
            if (!cJSON_IsString(m) || !json_ascii(m->valuestring) ||
                strlen(m->valuestring) >= WEFT_PEER_ID_TEXT) {
                fail(rc, err_detail, cap, "\"ID\" is not a short ASCII JSON string");
                goto out;
            }
            *idtext = m->valuestring;
        }
    }
    if (*key == NULL || *idtext == NULL) {
        fail(rc, err_detail, cap, "missing \"%s\"", *key != NULL ? "ID" : "Key");
        goto out;
    }
    rc = 0;
out:
    free(s.shape); /* string contents blanked: no key material */
    return rc;
}

/* Wipe and free what json_load built. */
static void
json_free(cJSON *root)
{
    if (root != NULL) {
        json_wipe(root);
        cJSON_Delete(root);
    }
}

int
weft_keyfile_load(const char *path, weft_identity *id, char *err_detail, size_t cap)
{
    uint8_t *file = NULL;
    uint8_t *pb = NULL;
    cJSON *root = NULL;
    const char *keytext = NULL, *idtext = NULL;
    size_t flen = 0, pbcap = 0;
    weft_identity tmp;
    weft_peer_id derived, claimed;
    int rc;

    memset(&tmp, 0, sizeof tmp);
    if (err_detail != NULL && cap > 0)
        err_detail[0] = '\0';
    if (path == NULL || id == NULL)
        return WEFT_EINVAL;
    file = malloc(KEYFILE_MAX + 1);
    if (file == NULL)
        return fail(-ENOMEM, err_detail, cap, "out of memory");
    rc = read_file(path, file, &flen);
    if (rc < 0) {
        rc = fail(rc, err_detail, cap, "%s: %s", path, strerror(-rc));
        goto out;
    }
    if (rc > 0) {
        rc = fail(WEFT_EPROTO, err_detail, cap, "%s: larger than %d bytes", path, KEYFILE_MAX);
        goto out;
    }
    if (flen < 8) {
        rc = fail(WEFT_ECHECKSUM, err_detail, cap,
                  "checksum mismatch: %zu-byte file has no room for the 8-byte CRC", flen);
        goto out;
    }
    uint64_t stored = 0;
    for (int i = 7; i >= 0; i--)
        stored = stored << 8 | file[i];
    uint64_t actual = weft_crc64_iso(file + 8, flen - 8);
    if (stored != actual) {
        rc = fail(WEFT_ECHECKSUM, err_detail, cap,
                  "checksum mismatch: file says %016llx, content gives %016llx",
                  (unsigned long long)stored, (unsigned long long)actual);
        goto out;
    }

    rc = json_load((const char *)file + 8, flen - 8, &root, &keytext, &idtext, err_detail, cap);
    if (rc < 0)
        goto out;
    rc = WEFT_EPROTO;
    size_t klen = strlen(keytext);
    pbcap = klen / 4 * 3 + 1;
    pb = malloc(pbcap);
    if (pb == NULL) {
        rc = fail(-ENOMEM, err_detail, cap, "out of memory");
        goto out;
    }
    int pblen = weft_base64_decode(keytext, klen, pb, pbcap);
    if (pblen < 0) {
        fail(rc, err_detail, cap, "\"Key\" is not valid base64");
        goto out;
    }
    int krc = weft_privkey_pb_decode(pb, (size_t)pblen, &tmp);
    if (krc == WEFT_ENOTSUP) {
        rc = fail(krc, err_detail, cap, "\"Key\" is not an Ed25519 key");
        goto out;
    }
    if (krc < 0) {
        fail(rc, err_detail, cap, "\"Key\" is not a valid Ed25519 PrivateKey protobuf");
        goto out;
    }
    if (weft_peer_id_parse(idtext, &claimed) < 0) {
        fail(rc, err_detail, cap, "\"ID\" is not a peer id");
        goto out;
    }
    weft_peer_id_from_pubkey(tmp.pk, &derived);
    if (!weft_peer_id_equal(&claimed, &derived)) {
        char want[WEFT_PEER_ID_TEXT];
        if (weft_peer_id_to_text(&derived, want, sizeof want) < 0)
            want[0] = '\0';
        fail(rc, err_detail, cap, "\"ID\" %s does not match the key (peer id %s)", idtext, want);
        goto out;
    }
    *id = tmp;
    rc = 0;
out:
    sodium_memzero(&tmp, sizeof tmp);
    json_free(root);
    if (file != NULL) {
        sodium_memzero(file, KEYFILE_MAX + 1);
        free(file);
    }
    if (pb != NULL) {
        sodium_memzero(pb, pbcap);
        free(pb);
    }
    return rc;
}

/* ---- save ------------------------------------------------------------------------ */

static int
write_all(int fd, const uint8_t *p, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* fsync the directory holding path, so the rename itself is durable. */
static int
sync_parent(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir;
    if (slash == NULL)
        dir = strdup(".");
    else if (slash == path)
        dir = strdup("/");
    else
        dir = strndup(path, (size_t)(slash - path));
    if (dir == NULL)
        return -ENOMEM;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(dir);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) < 0 ? -errno : 0;
    close(fd);
    return rc;
}

int
weft_keyfile_save(const char *path, const weft_identity *id)
{
    /* 8 CRC bytes + {"Key":"<92>","ID":"<<= 88>"} comfortably fits. */
    uint8_t buf[8 + 256];
    uint8_t pb[68];
    char b64[96], idtext[WEFT_PEER_ID_TEXT];
    char *tmp = NULL;
    int fd = -1, rc;
    weft_peer_id pid;

    if (path == NULL || id == NULL)
        return WEFT_EINVAL;
    weft_privkey_pb_encode(id, pb);
    rc = weft_base64_encode(pb, sizeof pb, b64, sizeof b64);
    if (rc < 0)
        goto out;
    weft_peer_id_from_pubkey(id->pk, &pid);
    rc = weft_peer_id_to_text(&pid, idtext, sizeof idtext);
    if (rc < 0)
        goto out;
    int n =
        snprintf((char *)buf + 8, sizeof buf - 8, "{\"Key\":\"%s\",\"ID\":\"%s\"}", b64, idtext);
    if (n < 0 || (size_t)n >= sizeof buf - 8) {
        rc = WEFT_ENOSPC; /* cannot happen for Ed25519 */
        goto out;
    }
    uint64_t crc = weft_crc64_iso(buf + 8, (size_t)n);
    for (int i = 0; i < 8; i++)
        buf[i] = (uint8_t)(crc >> (8 * i));

    size_t plen = strlen(path);
    tmp = malloc(plen + sizeof ".tmp.XXXXXX");
    if (tmp == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp.XXXXXX", sizeof ".tmp.XXXXXX");
    fd = mkostemp(tmp, O_CLOEXEC); /* created 0600 */
    if (fd < 0) {
        rc = -errno;
        free(tmp);
        tmp = NULL;
        goto out;
    }
    if (fchmod(fd, 0600) < 0) {
        rc = -errno;
        goto out;
    }
    rc = write_all(fd, buf, 8 + (size_t)n);
    if (rc < 0)
        goto out;
    if (fsync(fd) < 0) {
        rc = -errno;
        goto out;
    }
    if (close(fd) < 0) {
        fd = -1;
        rc = -errno;
        goto out;
    }
    fd = -1;
    if (rename(tmp, path) < 0) {
        rc = -errno;
        goto out;
    }
    free(tmp);
    tmp = NULL; /* renamed: nothing left to remove */
    rc = sync_parent(path);
out:
    if (fd >= 0)
        close(fd);
    if (tmp != NULL) {
        unlink(tmp);
        free(tmp);
    }
    sodium_memzero(buf, sizeof buf);
    sodium_memzero(pb, sizeof pb);
    sodium_memzero(b64, sizeof b64);
    return rc;
}
