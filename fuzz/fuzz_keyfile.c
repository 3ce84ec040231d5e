/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_keyfile: the p2p.key reader (transport/src/keyfile.c,
 * weft_keyfile_load) that loads a node's identity from IDENTITY_DIR.
 *
 * Input: byte 0 is the mode. Mode 0 writes the rest as the file; mode 1
 * puts the CRC-64 of the rest in front, so inputs reach the JSON and key
 * checks; mode 2 takes a 32-byte seed, saves that identity with
 * weft_keyfile_save, then applies edits (offset byte, value byte,
 * operation: set, insert, delete) to its JSON and fixes the CRC when
 * bit 7 of the mode byte is clear. The file lives in a private temporary
 * directory, rewritten for each input.
 *
 * Oracles: the result is 0 or one of the documented codes; on failure the
 * identity passed in is untouched and the detail is one non-empty
 * printable line; on success the detail is empty, the file's JSON (parsed
 * here with cJSON) has exactly one "Key" and one "ID", the identity's
 * peer id is the "ID" the file claims, saving and reloading it gives the
 * same identity, and a signature made with it verifies; a file whose
 * CRC-64 does not match is always WEFT_ECHECKSUM; an unedited saved file
 * always loads to the identity it was made from.
 */
#include "fuzz_util.h"

#include <errno.h>
#include <sodium.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "weft/common.h"
#include "weft/crc64.h"
#include "weft/identity.h"

static char g_dir[64], g_path[96], g_path2[96];

static void
cleanup(void)
{
    unlink(g_path);
    unlink(g_path2);
    rmdir(g_dir);
}

static void
setup(void)
{
    if (g_dir[0])
        return;
    FZ_CHECK(sodium_init() >= 0);
    /* tmpfs when there is one: every save fsyncs */
    const char *tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%.40s/weft-fzkey.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    FZ_CHECK(mkdtemp(g_dir) != NULL);
    snprintf(g_path, sizeof g_path, "%s/p2p.key", g_dir);
    snprintf(g_path2, sizeof g_path2, "%s/again.key", g_dir);
    atexit(cleanup);
}

static void
write_file(const char *path, const uint8_t *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    FZ_CHECK(f != NULL);
    FZ_CHECK(n == 0 || fwrite(p, 1, n, f) == n);
    FZ_CHECK(fclose(f) == 0);
}

static uint8_t *
read_all(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    FZ_CHECK(f != NULL);
    uint8_t *p = malloc(70000);
    FZ_CHECK(p != NULL);
    *n = fread(p, 1, 70000, f);
    fclose(f);
    return p;
}

static void
put_crc(uint8_t *file, size_t n)
{
    uint64_t c = weft_crc64_iso(file + 8, n - 8);
    for (int i = 0; i < 8; i++)
        file[i] = (uint8_t)(c >> (8 * i));
}

static int
same_identity(const weft_identity *a, const weft_identity *b)
{
    return memcmp(a, b, sizeof *a) == 0;
}

static void
check_loaded(const uint8_t *file, size_t n, const weft_identity *id)
{
    /* the file's own claim, read here */
    cJSON *o = cJSON_ParseWithLength((const char *)file + 8, n - 8);
    FZ_CHECK(cJSON_IsObject(o));
    int keys = 0, ids = 0;
    const char *idtext = NULL;
    for (const cJSON *m = o->child; m; m = m->next) {
        if (strcmp(m->string, "Key") == 0)
            keys++;
        if (strcmp(m->string, "ID") == 0) {
            ids++;
            idtext = cJSON_IsString(m) ? m->valuestring : NULL;
        }
    }
    FZ_CHECK(keys == 1 && ids == 1 && idtext != NULL);
    weft_peer_id claimed, derived;
    FZ_CHECK(weft_peer_id_parse(idtext, &claimed) == 0);
    weft_peer_id_from_pubkey(id->pk, &derived);
    FZ_CHECK(weft_peer_id_equal(&claimed, &derived));
    cJSON_Delete(o);

    /* the identity works and survives a save and a load */
    uint8_t sig[64];
    weft_sign(id, (const uint8_t *)"weft", 4, sig);
    FZ_CHECK(crypto_sign_verify_detached(sig, (const uint8_t *)"weft", 4, id->pk) == 0);
    FZ_CHECK(weft_keyfile_save(g_path2, id) == 0);
    weft_identity again;
    char err[160];
    FZ_CHECK(weft_keyfile_load(g_path2, &again, err, sizeof err) == 0);
    FZ_CHECK(same_identity(&again, id));
}

static int
load_checked(const uint8_t *file, size_t n)
{
    write_file(g_path, file, n);
    weft_identity id;
    memset(&id, 0xA5, sizeof id);
    weft_identity before = id;
    char err[200];
    memset(err, 'z', sizeof err);
    int rc = weft_keyfile_load(g_path, &id, err, sizeof err);
    FZ_CHECK(memchr(err, 0, sizeof err) != NULL);
    if (rc == 0) {
        FZ_CHECK(err[0] == 0);
        check_loaded(file, n, &id);
        return 0;
    }
    FZ_CHECK(rc == WEFT_ECHECKSUM || rc == WEFT_EPROTO || rc == WEFT_ENOTSUP || rc == -ENOMEM);
    FZ_CHECK(same_identity(&id, &before));
    size_t el = strlen(err);
    FZ_CHECK(el > 0);
    for (size_t i = 0; i < el; i++)
        FZ_CHECK((unsigned char)err[i] >= 0x20 && err[i] != 0x7f);
    int crc_ok = n >= 8;
    if (crc_ok) {
        uint64_t stored = 0;
        for (int i = 7; i >= 0; i--)
            stored = stored << 8 | file[i];
        crc_ok = stored == weft_crc64_iso(file + 8, n - 8);
    }
    FZ_CHECK(crc_ok == (rc != WEFT_ECHECKSUM));
    return rc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup();
    fz_reader r = {data, size};
    uint8_t mode = fz_u8(&r);
    if (r.n > 65000) /* the size limit has its own answer */
        return 0;
    switch (mode & 3) {
    case 0: load_checked(r.p, r.n); break;
    case 1: {
        uint8_t *f = malloc(r.n + 8);
        FZ_CHECK(f != NULL);
        memcpy(f + 8, r.p, r.n);
        put_crc(f, r.n + 8);
        load_checked(f, r.n + 8);
        free(f);
        break;
    }
    default: {
        uint8_t seed[32];
        fz_bytes(&r, seed, sizeof seed);
        weft_identity made;
        weft_identity_from_seed(&made, seed);
        FZ_CHECK(weft_keyfile_save(g_path, &made) == 0);
        size_t n;
        uint8_t *f = read_all(g_path, &n);
        FZ_CHECK(n >= 8 && n < 1000);
        int edited = 0;
        while (r.n >= 3 && n < 60000) {
            size_t at = 8 + fz_u8(&r) % (n - 8 + 1);
            uint8_t v = fz_u8(&r), op = fz_u8(&r) % 3;
            if (op == 0 && at < n) {
                edited |= f[at] != v;
                f[at] = v;
            } else if (op == 1) {
                memmove(f + at + 1, f + at, n - at);
                f[at] = v;
                n++;
                edited = 1;
            } else if (at < n) {
                memmove(f + at, f + at + 1, n - at - 1);
                n--;
                edited = 1;
            }
        }
        if (!(mode & 0x80))
            put_crc(f, n);
        int rc = load_checked(f, n);
        if (!edited) {
            FZ_CHECK(rc == 0);
            weft_identity back;
            FZ_CHECK(weft_keyfile_load(g_path, &back, NULL, 0) == 0);
            FZ_CHECK(same_identity(&back, &made));
        }
        free(f);
        break;
    }
    }
    return 0;
}
