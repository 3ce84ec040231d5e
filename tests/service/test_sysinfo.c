/* SPDX-License-Identifier: Apache-2.0 */
/*
 * System figures for the health endpoints (percentages in range, resident
 * memory, CPU use that rises while this process spins, partial results when
 * the disk path is bad) and the GeoIP lookup: open failures with a message,
 * "unknown" without a database, and real lookups in a tiny MaxMind DB that
 * the test writes itself (one IPv4 network, 10.0.0.0/8 -> New Zealand).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "weft/clock.h"
#include "weft/common.h"
#include "weft/svc_sysinfo.h"

static void
assert_sane(const weft_sysinfo *si)
{
    cr_assert(si->cpu_percent >= 0 && si->cpu_percent <= 100, "cpu %f", si->cpu_percent);
    cr_assert(si->mem_percent > 0 && si->mem_percent <= 100, "mem %f", si->mem_percent);
    cr_assert(si->disk_percent >= 0 && si->disk_percent <= 100, "disk %f", si->disk_percent);
    cr_assert_gt(si->rss_bytes, 0);
    cr_assert_geq(si->proc_cpu_seconds, 0);
}

/* This thread's CPU time in seconds (weft/clock.h has no CPU clock). */
static double
thread_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

Test(sysinfo, sample_is_in_range)
{
    weft_sysinfo si;
    cr_assert_eq(weft_sysinfo_sample(NULL, &si), 0);
    assert_sane(&si);
    /* a few MiB at least: this process maps libc, Criterion, h2o */
    cr_assert_gt(si.rss_bytes, (uint64_t)1 << 20);
    cr_assert_eq(weft_sysinfo_sample("/tmp", &si), 0);
    assert_sane(&si);
}

Test(sysinfo, busy_loop_shows_cpu_use)
{
    weft_sysinfo a, b;
    volatile uint64_t x = 0;

    cr_assert_eq(weft_sysinfo_sample(NULL, &a), 0);
    /* 200 ms of this thread's own CPU time, so a loaded machine only makes
     * it take longer (capped at 10 s of wall time) */
    double cpu_end = thread_cpu_s() + 0.2;
    int64_t wall_end = weft_mono_ns() + 10 * 1000000000LL;
    while (thread_cpu_s() < cpu_end && weft_mono_ns() < wall_end)
        for (int i = 0; i < 10000; i++)
            x += (uint64_t)i * 2654435761u;
    cr_assert_neq(x, 0);
    cr_assert_eq(weft_sysinfo_sample(NULL, &b), 0);
    assert_sane(&b);
    cr_assert_gt(b.cpu_percent, 0.0, "machine cpu %f after spinning", b.cpu_percent);
    cr_assert_geq(b.proc_cpu_seconds - a.proc_cpu_seconds, 0.15, "process cpu went %f -> %f",
                  a.proc_cpu_seconds, b.proc_cpu_seconds);
}

Test(sysinfo, bad_disk_path_still_fills_the_rest)
{
    weft_sysinfo si;
    cr_assert_eq(weft_sysinfo_sample("/nonexistent/weft/disk", &si), -ENOENT);
    cr_assert_eq(si.disk_percent, 0.0);
    cr_assert_gt(si.rss_bytes, 0);
    cr_assert_gt(si.mem_percent, 0.0);
    cr_assert_eq(weft_sysinfo_sample(NULL, NULL), WEFT_EINVAL);
}

static void *
sampler(void *arg)
{
    int *bad = arg;
    for (int i = 0; i < 200; i++) {
        weft_sysinfo si;
        if (weft_sysinfo_sample(NULL, &si) != 0 || si.cpu_percent < 0 || si.cpu_percent > 100)
            (*bad)++;
    }
    return NULL;
}

Test(sysinfo, concurrent_samples)
{
    pthread_t t[4];
    int bad[4] = {0};
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, sampler, &bad[i]);
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        cr_assert_eq(bad[i], 0);
    }
}

/* ---- geo ---------------------------------------------------------------------------- */

Test(geo, missing_file_fails_with_message)
{
    char msg[256] = "untouched";
    int err = 0;
    weft_geo *g = weft_geo_open("/nonexistent/GeoLite2-Country.mmdb", &err, msg, sizeof(msg));
    cr_assert_null(g);
    cr_assert_eq(err, -ENOENT, "err %d", err);
    cr_assert_not_null(strstr(msg, "/nonexistent/GeoLite2-Country.mmdb"), "message: %s", msg);
    cr_assert_gt(strlen(msg), strlen("/nonexistent/GeoLite2-Country.mmdb: "));
}

Test(geo, null_database_gives_unknown)
{
    char name[32] = "x", iso[8] = "x";
    weft_geo_lookup(NULL, "8.8.8.8", name, sizeof(name), iso, sizeof(iso));
    cr_assert_str_eq(name, "unknown");
    cr_assert_str_eq(iso, "");
    weft_geo_close(NULL);
}

/* A MaxMind DB writer just big enough for one network (format spec:
 * maxmind.github.io/MaxMind-DB). Data fields are big-endian; a control byte
 * holds the type in its top three bits and a size under 29 in the rest. */
struct mmdb {
    uint8_t b[2048];
    size_t n;
};

static void
put(struct mmdb *w, const void *p, size_t n)
{
    cr_assert_leq(w->n + n, sizeof(w->b));
    memcpy(w->b + w->n, p, n);
    w->n += n;
}

static void
put_byte(struct mmdb *w, uint8_t v)
{
    put(w, &v, 1);
}

static void
put_str(struct mmdb *w, const char *s)
{
    size_t n = strlen(s);
    put_byte(w, (uint8_t)(2 << 5 | n));
    put(w, s, n);
}

static void
put_map(struct mmdb *w, unsigned pairs)
{
    put_byte(w, (uint8_t)(7 << 5 | pairs));
}

static void
put_uint(struct mmdb *w, unsigned type, uint64_t v, unsigned size)
{
    if (type >= 8) { /* extended: type - 7 in the next byte */
        put_byte(w, (uint8_t)size);
        put_byte(w, (uint8_t)(type - 7));
    } else {
        put_byte(w, (uint8_t)(type << 5 | size));
    }
    for (unsigned i = size; i-- > 0;)
        put_byte(w, (uint8_t)(v >> (8 * i)));
}

static void
write_test_db(const char *path)
{
    struct mmdb w = {.n = 0};
    const unsigned nodes = 8, prefix = 10; /* 10.0.0.0/8 */

    /* search tree, 24-bit records: node i follows bit i of the prefix; the
     * other branch is "no data" (== node count); the last node points into
     * the data section at offset 0 (node count + 16 + offset) */
    for (unsigned i = 0; i < nodes; i++) {
        unsigned bit = (prefix >> (7 - i)) & 1;
        uint32_t on = i + 1 < nodes ? i + 1 : nodes + 16, off = nodes;
        uint32_t left = bit ? off : on, right = bit ? on : off;
        uint8_t rec[6] = {(uint8_t)(left >> 16),  (uint8_t)(left >> 8),  (uint8_t)left,
                          (uint8_t)(right >> 16), (uint8_t)(right >> 8), (uint8_t)right};
        put(&w, rec, sizeof(rec));
    }
    uint8_t zeros[16] = {0};
    put(&w, zeros, sizeof(zeros));

    put_map(&w, 1);
    put_str(&w, "country");
    put_map(&w, 2);
    put_str(&w, "iso_code");
    put_str(&w, "NZ");
    put_str(&w, "names");
    put_map(&w, 1);
    put_str(&w, "en");
    put_str(&w, "New Zealand");

    put(&w, "\xab\xcd\xefMaxMind.com", 14);
    put_map(&w, 9);
    put_str(&w, "binary_format_major_version");
    put_uint(&w, 5, 2, 1);
    put_str(&w, "binary_format_minor_version");
    put_uint(&w, 5, 0, 0);
    put_str(&w, "build_epoch");
    put_uint(&w, 9, 1700000000, 4);
    put_str(&w, "database_type");
    put_str(&w, "Weft-Test-Country");
    put_str(&w, "description");
    put_map(&w, 1);
    put_str(&w, "en");
    put_str(&w, "weft test");
    put_str(&w, "ip_version");
    put_uint(&w, 5, 4, 1);
    put_str(&w, "languages");
    put_byte(&w, 1); /* array (extended type 11) of one */
    put_byte(&w, 11 - 7);
    put_str(&w, "en");
    put_str(&w, "node_count");
    put_uint(&w, 6, nodes, 1);
    put_str(&w, "record_size");
    put_uint(&w, 5, 24, 1);

    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(w.b, 1, w.n, f), w.n);
    cr_assert_eq(fclose(f), 0);
}

Test(geo, lookups_in_a_written_database)
{
    char path[] = "/tmp/weft-geo-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
    write_test_db(path);

    char msg[256], name[32], iso[8];
    int err = 1;
    weft_geo *g = weft_geo_open(path, &err, msg, sizeof(msg));
    cr_assert_not_null(g, "open: %s", msg);
    cr_assert_eq(err, 0);

    weft_geo_lookup(g, "10.1.2.3", name, sizeof(name), iso, sizeof(iso));
    cr_assert_str_eq(name, "New Zealand");
    cr_assert_str_eq(iso, "NZ");
    weft_geo_lookup(g, "10.255.255.255", name, sizeof(name), iso, sizeof(iso));
    cr_assert_str_eq(iso, "NZ");
    /* outside the network, not an address, IPv6 in an IPv4 database */
    const char *misses[] = {"11.0.0.1", "9.255.255.255", "not-an-ip", "2001:db8::1", NULL};
    for (int i = 0; misses[i] != NULL; i++) {
        weft_geo_lookup(g, misses[i], name, sizeof(name), iso, sizeof(iso));
        cr_assert_str_eq(name, "unknown", "%s", misses[i]);
        cr_assert_str_eq(iso, "", "%s", misses[i]);
    }
    /* small buffers truncate */
    weft_geo_lookup(g, "10.0.0.1", name, 4, iso, 2);
    cr_assert_str_eq(name, "New");
    cr_assert_str_eq(iso, "N");
    weft_geo_lookup(g, NULL, name, sizeof(name), iso, sizeof(iso));
    cr_assert_str_eq(name, "unknown");
    weft_geo_close(g);

    /* not a database at all */
    FILE *f = fopen(path, "wb");
    fputs("definitely not an mmdb file\n", f);
    fclose(f);
    cr_assert_null(weft_geo_open(path, &err, msg, sizeof(msg)));
    cr_assert_eq(err, WEFT_EPROTO, "err %d (%s)", err, msg);
    cr_assert_not_null(strstr(msg, path));
    unlink(path);
}
