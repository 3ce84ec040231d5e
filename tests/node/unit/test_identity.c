/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The node's identity (node/src/daemon.c) through weft_node_main, the way
 * the guides' scripts use it: "generate-key" creates IDENTITY_DIR/p2p.key
 * (mode 0600, directories 0700) or keeps the one there, "peer-id" prints
 * the id of the key present, and a corrupt key is refused with a clear
 * error by both and by the daemon itself, before it starts anything.
 *
 * Each test works in its own temporary directory and unsets IDENTITY_DIR
 * when it ends; stdout and stderr go to files there (fd 1 and 2).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "weft/common.h"
#include "weft/identity.h"
#include "weft/node_daemon.h"

static char g_tmp[256];
static int g_saved[3] = {-1, -1, -1};

/* fd 1 or 2 into TMP/out.1 or TMP/out.2 */
static void
capture(int fd)
{
    char path[300];
    snprintf(path, sizeof path, "%s/out.%d", g_tmp, fd);
    int f = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    cr_assert_geq(f, 0);
    g_saved[fd] = dup(fd);
    cr_assert_geq(dup2(f, fd), 0);
    close(f);
}

static void
release(int fd)
{
    if (g_saved[fd] < 0)
        return;
    dup2(g_saved[fd], fd);
    close(g_saved[fd]);
    g_saved[fd] = -1;
}

static void
setup(void)
{
    snprintf(g_tmp, sizeof g_tmp, "/tmp/weft-node-id-XXXXXX");
    cr_assert_not_null(mkdtemp(g_tmp));
    unsetenv("IDENTITY_DIR");
    fflush(stdout);
    fflush(stderr);
    capture(1);
    capture(2);
}

static void
rm_rf(const char *path)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", path);
}

static void
teardown(void)
{
    fflush(stdout);
    fflush(stderr);
    release(1);
    release(2);
    unsetenv("IDENTITY_DIR");
    rm_rf(g_tmp);
}

TestSuite(node_identity, .init = setup, .fini = teardown);

/* Run weft_node_main with up to 2 arguments after the program name. */
static int
run(const char *a1, const char *a2)
{
    char prog[] = "weft-node", b1[64] = "", b2[64] = "";
    snprintf(b1, sizeof b1, "%s", a1 ? a1 : "");
    snprintf(b2, sizeof b2, "%s", a2 ? a2 : "");
    char *argv[4] = {prog, a1 ? b1 : NULL, a2 ? b2 : NULL, NULL};
    int argc = 1 + (a1 != NULL) + (a2 != NULL);
    int rc = weft_node_main(argc, argv);
    fflush(stdout);
    fflush(stderr);
    return rc;
}

/* Everything written to fd 1 or 2 so far (a static buffer per fd). */
static char *
output(int fd)
{
    static char buf[3][8192];
    char path[300];
    snprintf(path, sizeof path, "%s/out.%d", g_tmp, fd);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f);
    size_t n = fread(buf[fd], 1, sizeof buf[fd] - 1, f);
    fclose(f);
    buf[fd][n] = 0;
    return buf[fd];
}

static size_t
read_file(const char *path, uint8_t *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    return n;
}

static void
write_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    cr_assert_eq(fwrite(p, 1, n, f), n);
    fclose(f);
}

static void
key_path(char *out, size_t cap, const char *dir)
{
    snprintf(out, cap, "%s/p2p.key", dir);
}

Test(node_identity, generate_creates_the_key_0600)
{
    char dir[300], path[320];
    snprintf(dir, sizeof dir, "%s/a/b", g_tmp); /* directories made as needed */
    setenv("IDENTITY_DIR", dir, 1);
    cr_assert_eq(run("generate-key", NULL), 0);
    key_path(path, sizeof path, dir);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0, "no %s", path);
    cr_expect_eq(st.st_mode & 0777, 0600, "p2p.key mode %o", st.st_mode & 0777);
    cr_assert_eq(stat(dir, &st), 0);
    cr_expect_eq(st.st_mode & 0777, 0700, "IDENTITY_DIR mode %o", st.st_mode & 0777);

    /* the file loads, and the id printed is the one it holds */
    weft_identity id;
    char detail[256];
    cr_assert_eq(weft_keyfile_load(path, &id, detail, sizeof detail), 0, "%s", detail);
    weft_peer_id pid;
    weft_peer_id_from_pubkey(id.pk, &pid);
    char text[WEFT_PEER_ID_TEXT];
    cr_assert_gt(weft_peer_id_to_text(&pid, text, sizeof text), 0);
    char want[1024];
    snprintf(want, sizeof want, "generated key %s\npeer id: %s\n", path, text);
    cr_expect_str_eq(output(1), want);
}

Test(node_identity, generate_keeps_an_existing_key)
{
    setenv("IDENTITY_DIR", g_tmp, 1);
    cr_assert_eq(run("generate-key", "--output-peer-id"), 0);
    char path[320];
    key_path(path, sizeof path, g_tmp);
    static uint8_t before[8192], after[8192];
    size_t nb = read_file(path, before, sizeof before);
    cr_assert_eq(run("generate-key", "-output-peer-id"), 0); /* Go-style flag too */
    size_t na = read_file(path, after, sizeof after);
    cr_expect_eq(na, nb);
    cr_expect_eq(memcmp(before, after, nb), 0, "the key was rewritten");
    /* both runs print the same id, alone on a line */
    char *out = output(1);
    char *nl = strchr(out, '\n');
    cr_assert_not_null(nl);
    *nl = 0;
    cr_expect_eq(strncmp(out, "12D3KooW", 8), 0, "not a peer id: %s", out);
    cr_expect_eq(strncmp(nl + 1, out, strlen(out)), 0, "ids differ: %s / %s", out, nl + 1);
    cr_expect_str_eq(nl + 1 + strlen(out), "\n");
    char want[400];
    snprintf(want, sizeof want, "weft-node: %s exists; kept it\n", path);
    cr_expect_str_eq(output(2), want);
}

Test(node_identity, peer_id_prints_the_id_of_the_key)
{
    setenv("IDENTITY_DIR", g_tmp, 1);
    /* a key made outside the node, from a fixed seed */
    uint8_t seed[32] = {42};
    weft_identity id;
    weft_identity_from_seed(&id, seed);
    char path[320];
    key_path(path, sizeof path, g_tmp);
    cr_assert_eq(weft_keyfile_save(path, &id), 0);
    weft_peer_id pid;
    weft_peer_id_from_pubkey(id.pk, &pid);
    char text[WEFT_PEER_ID_TEXT], want[WEFT_PEER_ID_TEXT + 2];
    cr_assert_gt(weft_peer_id_to_text(&pid, text, sizeof text), 0);
    snprintf(want, sizeof want, "%s\n", text);
    cr_assert_eq(run("peer-id", NULL), 0);
    cr_expect_str_eq(output(1), want);
}

Test(node_identity, peer_id_without_a_key_creates_nothing)
{
    setenv("IDENTITY_DIR", g_tmp, 1);
    cr_expect_eq(run("peer-id", NULL), 1);
    char path[320];
    key_path(path, sizeof path, g_tmp);
    cr_expect_neq(access(path, F_OK), 0, "peer-id created %s", path);
    char *err = output(2);
    char want[400];
    snprintf(want, sizeof want, "weft-node: identity %s: ", path);
    cr_expect_eq(strncmp(err, want, strlen(want)), 0, "%s", err);
    cr_expect_not_null(strstr(err, "No such file or directory"), "%s", err);
}

/* A valid key with one byte of its JSON changed. */
static void
corrupt_key(char *path, size_t cap)
{
    uint8_t seed[32] = {7};
    weft_identity id;
    weft_identity_from_seed(&id, seed);
    key_path(path, cap, g_tmp);
    cr_assert_eq(weft_keyfile_save(path, &id), 0);
    uint8_t buf[8192];
    size_t n = read_file(path, buf, sizeof buf);
    cr_assert_gt(n, 20);
    buf[n / 2] ^= 0x01;
    write_file(path, buf, n);
}

static void
expect_checksum_error(const char *path)
{
    char *err = output(2);
    char want[400];
    snprintf(want, sizeof want, "weft-node: identity %s: ", path);
    cr_expect_eq(strncmp(err, want, strlen(want)), 0, "%s", err);
    cr_expect_not_null(strstr(err, "checksum mismatch"), "%s", err);
    cr_expect_eq(strchr(err, '\n'), err + strlen(err) - 1, "not one line: %s", err);
}

Test(node_identity, corrupt_key_is_refused_by_peer_id)
{
    setenv("IDENTITY_DIR", g_tmp, 1);
    char path[320];
    corrupt_key(path, sizeof path);
    cr_expect_eq(run("peer-id", NULL), 1);
    expect_checksum_error(path);
    cr_expect_str_eq(output(1), "");
}

Test(node_identity, corrupt_key_is_not_replaced_by_generate)
{
    setenv("IDENTITY_DIR", g_tmp, 1);
    char path[320];
    corrupt_key(path, sizeof path);
    static uint8_t before[8192], after[8192];
    size_t nb = read_file(path, before, sizeof before);
    cr_expect_eq(run("generate-key", NULL), 1);
    expect_checksum_error(path);
    size_t na = read_file(path, after, sizeof after);
    cr_expect(na == nb && !memcmp(before, after, nb), "the corrupt key was overwritten");
}

Test(node_identity, corrupt_key_stops_the_daemon_before_it_starts, .timeout = 20)
{
    setenv("IDENTITY_DIR", g_tmp, 1);
    char path[320];
    corrupt_key(path, sizeof path);
    /* the run path: configuration, then the identity, and out */
    cr_expect_eq(run(NULL, NULL), 1);
    expect_checksum_error(path);
}

Test(node_identity, short_file_is_refused)
{
    setenv("IDENTITY_DIR", g_tmp, 1);
    char path[320];
    key_path(path, sizeof path, g_tmp);
    write_file(path, "\x01\x02\x03", 3);
    cr_expect_eq(run("peer-id", NULL), 1);
    expect_checksum_error(path);
}

Test(node_identity, unusable_identity_dir)
{
    /* a regular file where the directory should be */
    char file[300];
    snprintf(file, sizeof file, "%s/plain", g_tmp);
    write_file(file, "x", 1);
    char dir[320];
    snprintf(dir, sizeof dir, "%s/sub", file);
    setenv("IDENTITY_DIR", dir, 1);
    cr_expect_eq(run("generate-key", NULL), 1);
    char *err = output(2);
    cr_expect_not_null(strstr(err, "weft-node: identity "), "%s", err);
    cr_expect_not_null(strstr(err, dir), "%s", err);
}

Test(node_identity, arguments)
{
    setenv("IDENTITY_DIR", g_tmp, 1);
    cr_expect_eq(run("generate-key", "--force"), 2);
    cr_expect_eq(run("peer-id", "--output-peer-id"), 2, "the flag is generate-key's only");
    cr_expect_eq(run("frobnicate", NULL), 2);
    char *err = output(2);
    cr_expect_not_null(strstr(err, "weft-node generate-key: unknown argument '--force'"), "%s",
                       err);
    cr_expect_not_null(strstr(err, "weft-node: unknown argument 'frobnicate'"), "%s", err);
    char path[320];
    key_path(path, sizeof path, g_tmp);
    cr_expect_neq(access(path, F_OK), 0, "a refused command created the key");
    /* IDENTITY_DIR is validated like the rest of the environment */
    setenv("IDENTITY_DIR", "/tmp/a\nb", 1);
    cr_expect_eq(run("peer-id", NULL), 2);
}

Test(node_identity, check_config)
{
    setenv("SIDECAR_PORT", "70000", 1);
    cr_expect_eq(run("check-config", NULL), 2);
    cr_expect_str_eq(output(2),
                     "weft-node: SIDECAR_PORT=\"70000\": expected a TCP port in 1..65535 "
                     "(\"8080\" or \":8080\")\n");
    unsetenv("SIDECAR_PORT");
    cr_expect_eq(run("check-config", NULL), 0);
    char *out = output(1);
    cr_expect_eq(out[0], '{', "%s", out);
    cr_expect_not_null(strstr(out, "\"SIDECAR_PORT\":33212"), "%s", out);
}
