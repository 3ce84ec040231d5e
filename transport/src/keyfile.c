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
 * Invariant: every buffer that held key material (file bytes, base64 text,
 * protobuf, identity) is wiped on every exit path.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "weft/crc64.h"
#include "weft/encoding.h"
#include "weft/identity.h"

#define KEYFILE_MAX (64 * 1024)
#define JSON_MAX_DEPTH 32

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

typedef struct json {
    const char *p, *end;
} json;

static void
json_ws(json *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static int
hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/*
 * A JSON string at j->p. When out is not NULL the unescaped text goes there
 * (outcap bytes, NUL-terminated) and must be ASCII: both values we keep are
 * base64 or base58, so \u escapes are decoded only below 0x80. Skipped
 * strings may hold any valid escape. Returns the text length or -1.
 */
static long
json_string(json *j, char *out, size_t outcap)
{
    size_t n = 0;
    if (j->p >= j->end || *j->p != '"')
        return -1;
    j->p++;
    while (j->p < j->end) {
        unsigned char c = (unsigned char)*j->p++;
        if (c == '"') {
            if (out != NULL)
                out[n] = '\0';
            return (long)n;
        }
        if (c < 0x20)
            return -1; /* control characters must be escaped */
        if (c == '\\') {
            if (j->p >= j->end)
                return -1;
            switch (*j->p++) {
            case '"': c = '"'; break;
            case '\\': c = '\\'; break;
            case '/': c = '/'; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'n': c = '\n'; break;
            case 'r': c = '\r'; break;
            case 't': c = '\t'; break;
            case 'u': {
                if (j->end - j->p < 4)
                    return -1;
                unsigned v = 0;
                for (int i = 0; i < 4; i++) {
                    int h = hexval(j->p[i]);
                    if (h < 0)
                        return -1;
                    v = v << 4 | (unsigned)h;
                }
                j->p += 4;
                if (out != NULL && v >= 0x80)
                    return -1;
                c = (unsigned char)(v & 0x7f);
                break;
            }
            default: return -1;
            }
        } else if (out != NULL && c >= 0x80) {
            return -1;
        }
        if (out != NULL) {
            if (n + 1 >= outcap)
                return -1;
            out[n] = (char)c;
        }
        n++;
    }
    return -1; /* unterminated */
}

/* Skip any JSON value; objects and arrays nest at most JSON_MAX_DEPTH. */
static int
json_skip(json *j, int depth)
{
    json_ws(j);
    if (j->p >= j->end || depth > JSON_MAX_DEPTH)
        return -1;
    char c = *j->p;
    if (c == '"')
        return json_string(j, NULL, 0) < 0 ? -1 : 0;
    if (c == '{' || c == '[') {
        char close = c == '{' ? '}' : ']';
        j->p++;
        json_ws(j);
        if (j->p < j->end && *j->p == close) {
            j->p++;
            return 0;
        }
        for (;;) {
            if (c == '{') {
                json_ws(j);
                if (json_string(j, NULL, 0) < 0)
                    return -1;
                json_ws(j);
                if (j->p >= j->end || *j->p != ':')
                    return -1;
                j->p++;
            }
            if (json_skip(j, depth + 1) < 0)
                return -1;
            json_ws(j);
            if (j->p >= j->end)
                return -1;
            if (*j->p == close) {
                j->p++;
                return 0;
            }
            if (*j->p != ',')
                return -1;
            j->p++;
        }
    }
    /* number, true, false, null: a run of their characters, checked only
     * loosely because the value is ignored. */
    const char *start = j->p;
    while (j->p < j->end && *j->p != '\0' && strchr("0123456789+-.eEtruefalsn", *j->p) != NULL)
        j->p++;
    return j->p > start ? 0 : -1;
}

/* Whether the unescaped key text key[0..klen) is exactly name. */
static int
json_key_is(const char *key, size_t klen, const char *name)
{
    return klen == strlen(name) && memcmp(key, name, klen) == 0;
}

int
weft_keyfile_load(const char *path, weft_identity *id, char *err_detail, size_t cap)
{
    uint8_t *file = NULL;
    char *keytext = NULL;
    uint8_t *pb = NULL;
    size_t flen = 0, pbcap = 0, keycap = 0;
    char idtext[WEFT_PEER_ID_TEXT];
    char name[16];
    weft_identity tmp;
    weft_peer_id derived, claimed;
    int have_key = 0, have_id = 0;
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

    /* Decoded strings are never longer than their JSON form. */
    keycap = flen - 8 + 1;
    keytext = malloc(keycap);
    if (keytext == NULL) {
        rc = fail(-ENOMEM, err_detail, cap, "out of memory");
        goto out;
    }
    json j = {(const char *)file + 8, (const char *)file + flen};
    rc = WEFT_EPROTO;
    json_ws(&j);
    if (j.p >= j.end || *j.p != '{') {
        fail(rc, err_detail, cap, "not a JSON object");
        goto out;
    }
    j.p++;
    json_ws(&j);
    if (j.p < j.end && *j.p == '}') {
        j.p++;
    } else {
        for (;;) {
            json_ws(&j);
            json kj = j;
            long klen = json_string(&j, NULL, 0);
            if (klen < 0) {
                fail(rc, err_detail, cap, "bad JSON: expected a string key");
                goto out;
            }
            /* Re-read the key into name only if it could be one we want. */
            long nlen = klen < (long)sizeof name ? json_string(&kj, name, sizeof name) : -1;
            json_ws(&j);
            if (j.p >= j.end || *j.p != ':') {
                fail(rc, err_detail, cap, "bad JSON: expected ':'");
                goto out;
            }
            j.p++;
            json_ws(&j);
            if (nlen >= 0 && json_key_is(name, (size_t)nlen, "Key")) {
                if (have_key) {
                    fail(rc, err_detail, cap, "\"Key\" appears twice");
                    goto out;
                }
                if (json_string(&j, keytext, keycap) < 0) {
                    fail(rc, err_detail, cap, "\"Key\" is not an ASCII JSON string");
                    goto out;
                }
                have_key = 1;
            } else if (nlen >= 0 && json_key_is(name, (size_t)nlen, "ID")) {
                if (have_id) {
                    fail(rc, err_detail, cap, "\"ID\" appears twice");
                    goto out;
                }
                if (json_string(&j, idtext, sizeof idtext) < 0) {
                    fail(rc, err_detail, cap, "\"ID\" is not a short ASCII JSON string");
                    goto out;
                }
                have_id = 1;
            } else if (json_skip(&j, 1) < 0) {
                fail(rc, err_detail, cap, "bad JSON value");
                goto out;
            }
            json_ws(&j);
            if (j.p < j.end && *j.p == ',') {
                j.p++;
                continue;
            }
            if (j.p < j.end && *j.p == '}') {
                j.p++;
                break;
            }
            fail(rc, err_detail, cap, "bad JSON: expected ',' or '}'");
            goto out;
        }
    }
    json_ws(&j);
    if (j.p != j.end) {
        fail(rc, err_detail, cap, "bad JSON: bytes after the object");
        goto out;
    }
    if (!have_key || !have_id) {
        fail(rc, err_detail, cap, "missing \"%s\"", have_key ? "ID" : "Key");
        goto out;
    }

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
    if (file != NULL) {
        sodium_memzero(file, KEYFILE_MAX + 1);
        free(file);
    }
    if (keytext != NULL) {
        sodium_memzero(keytext, keycap);
        free(keytext);
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
