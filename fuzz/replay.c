/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Plain replay driver for the fuzz targets, for any C compiler: runs
 * LLVMFuzzerTestOneInput once on the empty input, then on every file named on
 * the command line and on every regular file of every directory named (not
 * recursive, dot files skipped, in name order so runs are repeatable).
 * Each input sits in a heap buffer of exactly its size, as libFuzzer gives
 * it, so sanitizers see reads past the end.
 *
 * Exits 0 when every input ran, 1 on an unreadable path or when no file was
 * found at all (an empty seed directory is a configuration error, not a
 * pass). A failing check inside a target aborts the process.
 *
 *   fuzz_decoder_replay fuzz/corpus/decoder [crash-1234 ...]
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_util.h"

static int
run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t cap = 4096, len = 0;
    uint8_t *buf = malloc(cap);
    for (;;) {
        if (buf == NULL) {
            fprintf(stderr, "replay: %s: out of memory\n", path);
            fclose(f);
            return -1;
        }
        len += fread(buf + len, 1, cap - len, f);
        if (len < cap)
            break;
        uint8_t *bigger = realloc(buf, cap * 2);
        if (bigger == NULL)
            free(buf);
        buf = bigger;
        cap *= 2;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        fprintf(stderr, "replay: %s: read error\n", path);
        free(buf);
        return -1;
    }

    uint8_t *exact = malloc(len ? len : 1);
    if (exact == NULL) {
        free(buf);
        return -1;
    }
    if (len)
        memcpy(exact, buf, len);
    free(buf);
    (void)LLVMFuzzerTestOneInput(exact, len);
    free(exact);
    return 0;
}

static int
by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs every regular file in dir; returns how many, or -1. */
static long
run_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
        return -1;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **more = realloc(names, cap * sizeof *names);
            if (more == NULL)
                break;
            names = more;
        }
        names[n] = strdup(e->d_name);
        if (names[n] != NULL)
            n++;
    }
    closedir(d);
    if (n > 0)
        qsort(names, n, sizeof *names, by_name);

    long ran = 0;
    for (size_t i = 0; i < n; i++) {
        size_t plen = strlen(dir) + strlen(names[i]) + 2;
        char *path = malloc(plen);
        struct stat st;
        if (path != NULL) {
            snprintf(path, plen, "%s/%s", dir, names[i]);
            if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
                if (run_file(path) != 0)
                    ran = -1;
                else if (ran >= 0)
                    ran++;
            }
        }
        free(path);
        free(names[i]);
    }
    free(names);
    return ran;
}

int
main(int argc, char **argv)
{
    static const uint8_t empty[1];
    long total = 0;
    int failed = 0;

    (void)LLVMFuzzerTestOneInput(empty, 0);
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
            failed = 1;
        } else if (S_ISDIR(st.st_mode)) {
            long n = run_dir(argv[i]);
            if (n < 0)
                failed = 1;
            else
                total += n;
        } else if (run_file(argv[i]) != 0) {
            failed = 1;
        } else {
            total++;
        }
    }
    const char *env = getenv("WEFT_GF_IMPL");
    printf("replay: %ld input%s run%s%s\n", total, total == 1 ? "" : "s",
           env ? ", WEFT_GF_IMPL=" : "", env ? env : "");
    if (total == 0) {
        fprintf(stderr, "replay: no input files found\n");
        return 1;
    }
    return failed;
}
