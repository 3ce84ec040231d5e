/* SPDX-License-Identifier: Apache-2.0 */
/*
 * p2p.key and its CRC-64 through the public API. The CRC is checked against
 * the CRC-64/GO-ISO check value and against a bitwise implementation
 * written here (reflected polynomial 0xD800000000000000, init and final
 * xor all ones). A golden file is assembled by hand from the js-libp2p
 * vector's PrivateKey protobuf (own base64, own CRC) and must load, and
 * weft_keyfile_save of the same key must write exactly those bytes, mode
 * 0600, with no temp file left behind. Then every way a file can be bad:
 * any flipped byte, short files, truncated JSON, a wrong ID, bad base64,
 * missing, repeated or mistyped members, broken JSON, a foreign key type,
 * an oversized file, a missing file.
 *
 * Files live in a fresh mkdtemp directory per test. Random tests print
 * their seed; WEFT_TEST_SEED=<seed> replays one.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "vectors.h"
#include "weft/crc64.h"
#include "weft/identity.h"

/* ---- independent CRC-64 and base64 -------------------------------------------------- */

static uint64_t
crc_bitwise(const uint8_t *p, size_t len)
{
    uint64_t crc = UINT64_MAX;
    for (size_t i = 0; i < len; i++) {
        crc ^= p[i];
        for (int b = 0; b < 8; b++)
            crc = (crc >> 1) ^ (0xD800000000000000ull & (0 - (crc & 1)));
    }
    return ~crc;
}

static void
b64(const uint8_t *p, size_t len, char *out)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < len)
            v |= p[i + 2];
        out[o++] = a[v >> 18];
        out[o++] = a[(v >> 12) & 63];
        out[o++] = i + 1 < len ? a[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? a[v & 63] : '=';
    }
    out[o] = '\0';
}

/* ---- files ------------------------------------------------------------------------- */

static char dir[256];
static char path[300];

static void
make_dir(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/weft-keyfile-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    cr_assert(mkdtemp(dir) != NULL, "mkdtemp: %s", strerror(errno));
    snprintf(path, sizeof path, "%s/p2p.key", dir);
}

static void
remove_dir(void)
{
    DIR *d = opendir(dir);
    if (d != NULL) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char p[600];
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

TestSuite(keyfile, .init = make_dir, .fini = remove_dir);

static void
write_raw(const void *p, size_t len)
{
    FILE *f = fopen(path, "wb");
    cr_assert(f != NULL);
    cr_assert(fwrite(p, 1, len, f) == len);
    cr_assert(fclose(f) == 0);
}

/* Write 8-byte LE CRC (computed here) || json. */
static void
write_with_crc(const char *json)
{
    size_t n = strlen(json);
    uint8_t *buf = malloc(8 + n);
    cr_assert(buf != NULL);
    uint64_t crc = crc_bitwise((const uint8_t *)json, n);
    for (int i = 0; i < 8; i++)
        buf[i] = (uint8_t)(crc >> (8 * i));
    memcpy(buf + 8, json, n);
    write_raw(buf, 8 + n);
    free(buf);
}

static uint8_t *
read_raw(size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert(f != NULL);
    uint8_t *buf = malloc(1 << 17);
    *len = fread(buf, 1, 1 << 17, f);
    fclose(f);
    return buf;
}

/* The vector identity and its key text (base64) and ID. */
typedef struct golden {
    weft_identity id;
    uint8_t pb[68];
    char key[128];
    char *peer;
    char json[512];
} golden;

static void
golden_init(golden *g)
{
    char *hex = vec_str("identity", "private_key_protobuf", NULL);
    cr_assert(unhex(hex, g->pb, sizeof g->pb) == 68);
    free(hex);
    b64(g->pb, sizeof g->pb, g->key);
    g->peer = vec_str("identity", "peer_id_base58btc", NULL);
    memset(&g->id, 0, sizeof g->id);
    memcpy(g->id.sk, g->pb + 4, 64);
    memcpy(g->id.pk, g->pb + 4 + 32, 32);
    snprintf(g->json, sizeof g->json, "{\"Key\":\"%s\",\"ID\":\"%s\"}", g->key, g->peer);
}

/* Expand tmpl with $K = the key's base64 and $I = its peer id. */
static void
fill(char *out, size_t cap, const char *tmpl, const golden *g)
{
    size_t o = 0;
    for (const char *t = tmpl; *t; t++) {
        const char *ins = NULL;
        if (t[0] == '$' && t[1] == 'K')
            ins = g->key;
        else if (t[0] == '$' && t[1] == 'I')
            ins = g->peer;
        if (ins != NULL) {
            size_t n = strlen(ins);
            cr_assert(o + n < cap);
            memcpy(out + o, ins, n);
            o += n;
            t++;
        } else {
            cr_assert(o + 1 < cap);
            out[o++] = *t;
        }
    }
    out[o] = '\0';
}

static int
load(weft_identity *id, char *detail, size_t cap)
{
    memset(id, 0, sizeof *id);
    return weft_keyfile_load(path, id, detail, cap);
}

/* Load must fail with want, and its detail must contain needle. */
static void
expect_load_error(int want, const char *needle, const char *what)
{
    weft_identity id;
    char detail[256];
    static const uint8_t zero[sizeof(weft_identity)];
    int rc = load(&id, detail, sizeof detail);
    cr_expect_eq(rc, want, "%s: got %d (%s: %s), want %d", what, rc, weft_strerror(rc), detail,
                 want);
    cr_expect(strstr(detail, needle) != NULL, "%s: detail \"%s\" lacks \"%s\"", what, detail,
              needle);
    cr_expect_arr_eq(&id, zero, sizeof id, "%s: identity written on failure", what);
}

/* ---- CRC ------------------------------------------------------------------------------ */

Test(keyfile, crc64_check_value)
{
    const uint8_t *check = (const uint8_t *)"123456789";
    cr_assert_eq(crc_bitwise(check, 9), 0xb90956c775a41001ull);
    cr_assert_eq(weft_crc64_iso(check, 9), 0xb90956c775a41001ull);
    cr_assert_eq(weft_crc64_iso(NULL, 0), 0);

    const char *s = getenv("WEFT_TEST_SEED");
    uint64_t seed = s && *s ? strtoull(s, NULL, 0) : (uint64_t)time(NULL), x = seed;
    uint8_t buf[300];
    for (size_t len = 0; len <= sizeof buf; len++) {
        for (size_t i = 0; i < len; i++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            buf[i] = (uint8_t)(x >> 56);
        }
        cr_assert_eq(weft_crc64_iso(buf, len), crc_bitwise(buf, len),
                     "length %zu [seed=%" PRIu64 "]", len, seed);
    }
}

/* ---- golden file ------------------------------------------------------------------------ */

Test(keyfile, golden_loads)
{
    golden g;
    weft_identity id;
    char detail[128] = "junk";
    golden_init(&g);
    write_with_crc(g.json);
    cr_assert_eq(load(&id, detail, sizeof detail), 0, "%s", detail);
    cr_assert_str_eq(detail, "");
    cr_assert_arr_eq(id.sk, g.id.sk, 64);
    cr_assert_arr_eq(id.pk, g.id.pk, 32);
    cr_assert_eq(weft_keyfile_load(path, &id, NULL, 0), 0);
    free(g.peer);
}

/* The same key in JSON laid out differently, as other writers may. */
Test(keyfile, golden_variants_load)
{
    golden g;
    weft_identity id;
    char detail[256], json[1024], key_escaped[200];
    golden_init(&g);

    /* "/" written as "\/" (the key has one), "1" as "\u0031". */
    size_t o = 0;
    for (const char *k = g.key; *k; k++) {
        if (*k == '/')
            key_escaped[o++] = '\\';
        key_escaped[o++] = *k;
    }
    key_escaped[o] = '\0';
    cr_assert(strchr(g.key, '/') != NULL);
    cr_assert(g.peer[0] == '1');

    static const char *const forms[] = {
        "{\"Key\": \"$K\", \"ID\": \"$I\"}",
        " \r\n\t{ \"ID\" : \"$I\" ,\n \"Key\" :\t\"$K\" } \n",
        ("{\"Comment\":\"made by \\\"hand\\\" \\u00e9\",\"Key\":\"$K\",\"Extra\":[1,-2.5e3,{\"a\":"
         "[true,false,null]},[]],\"ID\":\"$I\",\"Z\":{},"
         "\"Esc\":\"\\\\ \\b\\f\\n\\r\\t\\/\\\"\\uABcd\"}"),
    };
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        fill(json, sizeof json, forms[i], &g);
        write_with_crc(json);
        cr_expect_eq(load(&id, detail, sizeof detail), 0, "form %zu: %s", i, detail);
        cr_expect_arr_eq(id.sk, g.id.sk, 64, "form %zu", i);
    }
    snprintf(json, sizeof json, "{\"Key\":\"%s\",\"ID\":\"\\u0031%s\"}", key_escaped, g.peer + 1);
    write_with_crc(json);
    cr_expect_eq(load(&id, detail, sizeof detail), 0, "escapes: %s", detail);
    cr_expect_arr_eq(id.sk, g.id.sk, 64);

    /* The ID may also be given as a CIDv1. */
    char *cid = vec_str("identity", "peer_id_cidv1_base32", NULL);
    snprintf(json, sizeof json, "{\"Key\":\"%s\",\"ID\":\"%s\"}", g.key, cid);
    write_with_crc(json);
    cr_expect_eq(load(&id, detail, sizeof detail), 0, "cid: %s", detail);
    free(cid);
    free(g.peer);
}

Test(keyfile, save_writes_golden_bytes)
{
    golden g;
    struct stat st;
    golden_init(&g);
    cr_assert_eq(weft_keyfile_save(path, &g.id), 0);

    size_t len;
    uint8_t *got = read_raw(&len);
    size_t jl = strlen(g.json);
    cr_assert_eq(len, 8 + jl, "file is %zu bytes, want %zu", len, 8 + jl);
    uint64_t crc = crc_bitwise((const uint8_t *)g.json, jl);
    for (int i = 0; i < 8; i++)
        cr_assert_eq(got[i], (uint8_t)(crc >> (8 * i)), "CRC byte %d", i);
    cr_assert_arr_eq(got + 8, g.json, jl, "JSON differs: %.*s", (int)jl, (const char *)got + 8);
    free(got);

    cr_assert_eq(stat(path, &st), 0);
    cr_assert(S_ISREG(st.st_mode));
    cr_assert_eq(st.st_mode & 07777, 0600, "mode %o", st.st_mode & 07777);

    /* Nothing but p2p.key in the directory. */
    DIR *d = opendir(dir);
    cr_assert(d != NULL);
    struct dirent *e;
    int files = 0;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        cr_expect_str_eq(e->d_name, "p2p.key");
        files++;
    }
    closedir(d);
    cr_assert_eq(files, 1);
    free(g.peer);
}

Test(keyfile, save_load_round_trip_and_replace)
{
    weft_identity a, b, got;
    char detail[128];
    struct stat st;
    cr_assert_eq(weft_identity_generate(&a), 0);
    cr_assert_eq(weft_identity_generate(&b), 0);

    cr_assert_eq(weft_keyfile_save(path, &a), 0);
    cr_assert_eq(load(&got, detail, sizeof detail), 0, "%s", detail);
    cr_assert_arr_eq(&got, &a, sizeof a);

    /* Replacing keeps 0600 even if the old file was wider. */
    cr_assert_eq(chmod(path, 0644), 0);
    cr_assert_eq(weft_keyfile_save(path, &b), 0);
    cr_assert_eq(load(&got, detail, sizeof detail), 0, "%s", detail);
    cr_assert_arr_eq(&got, &b, sizeof b);
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_mode & 07777, 0600);

    /* A relative path (temp file in the current directory). */
    char cwd[4096];
    cr_assert(getcwd(cwd, sizeof cwd) != NULL);
    cr_assert_eq(chdir(dir), 0);
    cr_assert_eq(weft_keyfile_save("rel.key", &a), 0);
    cr_assert_eq(weft_keyfile_load("rel.key", &got, detail, sizeof detail), 0, "%s", detail);
    cr_assert_eq(chdir(cwd), 0);
    cr_assert_arr_eq(&got, &a, sizeof a);
}

Test(keyfile, save_errors)
{
    weft_identity a;
    weft_identity_from_seed(&a, (const uint8_t *)"0123456789abcdef0123456789abcdef");
    char bad[400];
    snprintf(bad, sizeof bad, "%s/missing/p2p.key", dir);
    cr_assert_eq(weft_keyfile_save(bad, &a), -ENOENT);
    cr_assert_eq(weft_keyfile_save(NULL, &a), WEFT_EINVAL);
    /* A directory in the way: rename fails, and the temp file is gone. */
    cr_assert_eq(mkdir(path, 0700), 0);
    int rc = weft_keyfile_save(path, &a);
    cr_assert(rc == -EISDIR || rc == -ENOTEMPTY || rc == -EEXIST, "rc %d", rc);
    cr_assert_eq(rmdir(path), 0);
    DIR *d = opendir(dir);
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        cr_expect(e->d_name[0] == '.', "left behind: %s", e->d_name);
    closedir(d);
}

/* ---- bad files -------------------------------------------------------------------------- */

Test(keyfile, any_flipped_byte_is_checksum_mismatch)
{
    golden g;
    golden_init(&g);
    cr_assert_eq(weft_keyfile_save(path, &g.id), 0);
    size_t len;
    uint8_t *good = read_raw(&len);
    for (size_t i = 0; i < len; i++) {
        for (int bit = 0; bit < 8; bit += 7) {
            good[i] ^= (uint8_t)(1u << bit);
            write_raw(good, len);
            char what[64];
            snprintf(what, sizeof what, "byte %zu bit %d", i, bit);
            expect_load_error(WEFT_ECHECKSUM, "checksum mismatch", what);
            good[i] ^= (uint8_t)(1u << bit);
        }
    }
    free(good);
    free(g.peer);
}

Test(keyfile, short_and_truncated)
{
    golden g;
    golden_init(&g);
    cr_assert_eq(weft_keyfile_save(path, &g.id), 0);
    size_t len;
    uint8_t *good = read_raw(&len);
    /* Under 8 bytes: no room for the CRC. */
    for (size_t n = 0; n < 8; n++) {
        write_raw(good, n);
        expect_load_error(WEFT_ECHECKSUM, "checksum mismatch", "short file");
    }
    /* Cut anywhere in the JSON: the stored CRC no longer matches. */
    write_raw(good, len - 1);
    expect_load_error(WEFT_ECHECKSUM, "checksum mismatch", "cut file");
    /* Cut JSON with a CRC that matches what is left: a JSON error. */
    for (size_t cut = 0; cut < strlen(g.json); cut += 7) {
        char part[512];
        memcpy(part, g.json, cut);
        part[cut] = '\0';
        write_with_crc(part);
        char what[64];
        snprintf(what, sizeof what, "JSON cut at %zu", cut);
        expect_load_error(WEFT_EPROTO, "", what);
    }
    free(good);
    free(g.peer);
}

Test(keyfile, wrong_id)
{
    golden g;
    char json[512];
    golden_init(&g);
    char *other = vec_str("identity_spec_vector", "peer_id_base58btc", NULL);
    snprintf(json, sizeof json, "{\"Key\":\"%s\",\"ID\":\"%s\"}", g.key, other);
    write_with_crc(json);
    expect_load_error(WEFT_EPROTO, "does not match", "other peer's ID");
    snprintf(json, sizeof json, "{\"Key\":\"%s\",\"ID\":\"%s\"}", g.key, "12D3KooWnotvalid");
    write_with_crc(json);
    expect_load_error(WEFT_EPROTO, "not a peer id", "invalid ID");
    snprintf(json, sizeof json, "{\"Key\":\"%s\",\"ID\":\"\"}", g.key);
    write_with_crc(json);
    expect_load_error(WEFT_EPROTO, "not a peer id", "empty ID");
    free(other);
    free(g.peer);
}

Test(keyfile, bad_base64_and_bad_key)
{
    golden g;
    char json[512], key[128];
    golden_init(&g);
    const char *bad[] = {"!!!!", "CAESQA", "CAESQA=", "CAE=SQAA", "Q0FFU1FB\\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(json, sizeof json, "{\"Key\":\"%s\",\"ID\":\"%s\"}", bad[i], g.peer);
        write_with_crc(json);
        expect_load_error(WEFT_EPROTO, "base64", bad[i]);
    }
    /* The key without its last padding character. */
    snprintf(key, sizeof key, "%s", g.key);
    key[strlen(key) - 1] = '\0';
    snprintf(json, sizeof json, "{\"Key\":\"%s\",\"ID\":\"%s\"}", key, g.peer);
    write_with_crc(json);
    expect_load_error(WEFT_EPROTO, "base64", "unpadded key");

    /* Valid base64 of a bad protobuf: public half altered. */
    uint8_t pb[68];
    memcpy(pb, g.pb, sizeof pb);
    pb[67] ^= 1;
    b64(pb, sizeof pb, key);
    snprintf(json, sizeof json, "{\"Key\":\"%s\",\"ID\":\"%s\"}", key, g.peer);
    write_with_crc(json);
    expect_load_error(WEFT_EPROTO, "PrivateKey", "mismatched public half");

    /* A key of another type (RSA, Data shortened). */
    static const uint8_t rsa[] = {0x08, 0x00, 0x12, 0x03, 1, 2, 3};
    b64(rsa, sizeof rsa, key);
    snprintf(json, sizeof json, "{\"Key\":\"%s\",\"ID\":\"%s\"}", key, g.peer);
    write_with_crc(json);
    expect_load_error(WEFT_ENOTSUP, "Ed25519", "RSA key");
    free(g.peer);
}

Test(keyfile, bad_json)
{
    golden g;
    char json[1024];
    golden_init(&g);
    static const struct {
        const char *tmpl, *needle;
    } cases[] = {
        {"", "object"},
        {"[]", "object"},
        {"{}", "missing \"Key\""},
        {"{\"Key\":\"$K\"}", "missing \"ID\""},
        {"{\"ID\":\"$I\"}", "missing \"Key\""},
        {"{\"key\":\"$K\",\"id\":\"$I\"}", "missing"},
        {"{\"Key\":\"$K\",\"Key\":\"$K\",\"ID\":\"$I\"}", "twice"},
        {"{\"Key\":\"$K\",\"ID\":\"$I\",\"ID\":\"$I\"}", "twice"},
        {"{\"Key\":\"$K\",\"ID\":\"$I\"}x", "after"},
        {"{\"Key\":\"$K\",\"ID\":\"$I\"}{}", "after"},
        {"{\"Key\":\"$K\",\"ID\":\"$I\",}", "key"},
        {"{\"Key\":\"$K\" \"ID\":\"$I\"}", "','"},
        {"{\"Key\" \"$K\",\"ID\":\"$I\"}", "':'"},
        {"{\"Key\":\"$K\",\"ID\":\"$I\"", "','"},
        {"{\"Key\":\"$K,\"ID\":\"$I\"}", ""},
        {"{\"Key\":12,\"ID\":\"$I\"}", "Key"},
        {"{\"Key\":\"$K\",\"ID\":null}", "ID"},
        {"{\"Key\":\"$K\",\"ID\":\"$I\",\"X\":\"a\\x\"}", "value"},
        {"{\"Key\":\"$K\",\"ID\":\"$I\",\"X\":\"\\u12g4\"}", "value"},
        {"{\"Key\":\"$K\",\"ID\":\"$I\",\"X\":\"tab\there\"}", "value"},
        {"{\"Key\":\"$K\",\"ID\":\"$I\",\"X\":[1,2}", "value"},
        {"{\"Key\":\"$K\",\"ID\":\"$I\",\"X\":}", "value"},
        {"{\"Key\":\"$K\",\"ID\":\"$I\",\"X\":\"\\", "value"},
        {"{\"Key\":\"$K\",\"ID\":\"$I\",\"X\":\"\\u12", "value"},
        {"{\"Key\":\"\\u00e9$K\",\"ID\":\"$I\"}", "ASCII"},
        {"{\"Key\":\"$K\",\"ID\":\"$I\\\"}", ""},
        {("{\"Key\":\"$K\",\"ID\":\"$I\",\"Deep\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]"
          "]]]]]"
          "]]]]]]]]]]]]]]]]]]]]]]]]]]}"),
         "value"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fill(json, sizeof json, cases[i].tmpl, &g);
        write_with_crc(json);
        expect_load_error(WEFT_EPROTO, cases[i].needle, json);
    }
    free(g.peer);
}

Test(keyfile, size_bound_and_missing_file)
{
    golden g;
    golden_init(&g);
    /* An ignored member big enough to pass 64 KiB. */
    size_t big = 64 * 1024;
    char *json = malloc(big + 512);
    int o = snprintf(json, big + 512, "{\"Key\":\"%s\",\"ID\":\"%s\",\"Pad\":\"", g.key, g.peer);
    size_t room = 64 * 1024 - 8 - (size_t)o - 2; /* file exactly 64 KiB */
    memset(json + o, 'x', room);
    memcpy(json + o + room, "\"}", 3);
    write_with_crc(json);
    weft_identity id;
    char detail[256];
    cr_assert_eq(load(&id, detail, sizeof detail), 0, "64 KiB file: %s", detail);
    json[o] = 'y';
    memmove(json + o + 1, json + o, room + 3);
    write_with_crc(json);
    expect_load_error(WEFT_EPROTO, "larger", "64 KiB + 1");
    free(json);

    unlink(path);
    expect_load_error(-ENOENT, "p2p.key", "missing file");
    cr_assert_eq(mkdir(path, 0700), 0);
    expect_load_error(-EISDIR, "", "directory");
    rmdir(path);
    cr_assert_eq(weft_keyfile_load(NULL, &id, NULL, 0), WEFT_EINVAL);
    free(g.peer);
}
