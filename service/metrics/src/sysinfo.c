/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Machine and process figures for the health endpoints, read from Linux's
 * /proc and statvfs.
 *
 * Machine CPU use is a share of jiffies between two samples, so the previous
 * /proc/stat totals live in a static guarded by a mutex; the first sample
 * (no previous one) reports the average since boot. Whatever can be read is
 * filled even when another source fails; the first failure is returned.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "weft/common.h"
#include "weft/svc_sysinfo.h"

static pthread_mutex_t cpu_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
    int valid;
    uint64_t total, idle;
    double last_percent;
} cpu_prev;

static double
clamp_percent(double v)
{
    if (!(v >= 0.0)) /* also NaN */
        return 0.0;
    return v > 100.0 ? 100.0 : v;
}

/* Aggregate "cpu" line: user nice system idle iowait irq softirq steal ...
 * guest and guest_nice are already inside user and nice, so not added. */
static int
read_cpu(uint64_t *total, uint64_t *idle)
{
    FILE *f = fopen("/proc/stat", "re");
    uint64_t v[8] = {0};
    int n;

    if (f == NULL)
        return -errno;
    n = fscanf(f,
               "cpu %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64
               " %" SCNu64 " %" SCNu64,
               &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
    fclose(f);
    if (n < 4)
        return -EIO;
    *total = 0;
    for (int i = 0; i < 8; i++)
        *total += v[i];
    *idle = v[3] + v[4]; /* idle + iowait */
    return 0;
}

static int
sample_cpu(double *percent)
{
    uint64_t total = 0, idle = 0;
    int rc = read_cpu(&total, &idle);

    pthread_mutex_lock(&cpu_mu);
    if (rc != 0) {
        *percent = cpu_prev.last_percent;
        pthread_mutex_unlock(&cpu_mu);
        return rc;
    }
    uint64_t dt = total, di = idle;
    if (cpu_prev.valid) {
        dt = total >= cpu_prev.total ? total - cpu_prev.total : 0;
        di = idle >= cpu_prev.idle ? idle - cpu_prev.idle : 0;
    }
    /* two samples within one jiffy: repeat the last figure */
    if (dt != 0)
        cpu_prev.last_percent =
            clamp_percent(100.0 * (double)(dt - (di < dt ? di : dt)) / (double)dt);
    cpu_prev.total = total;
    cpu_prev.idle = idle;
    cpu_prev.valid = 1;
    *percent = cpu_prev.last_percent;
    pthread_mutex_unlock(&cpu_mu);
    return 0;
}

static int
sample_mem(double *percent)
{
    FILE *f = fopen("/proc/meminfo", "re");
    char line[256];
    uint64_t total = 0, avail = 0, free_kb = 0, buffers = 0, cached = 0;
    int have_avail = 0;

    if (f == NULL)
        return -errno;
    while (fgets(line, sizeof(line), f) != NULL) {
        uint64_t kb;
        if (sscanf(line, "MemTotal: %" SCNu64, &kb) == 1)
            total = kb;
        else if (sscanf(line, "MemAvailable: %" SCNu64, &kb) == 1)
            avail = kb, have_avail = 1;
        else if (sscanf(line, "MemFree: %" SCNu64, &kb) == 1)
            free_kb = kb;
        else if (sscanf(line, "Buffers: %" SCNu64, &kb) == 1)
            buffers = kb;
        else if (sscanf(line, "Cached: %" SCNu64, &kb) == 1)
            cached = kb;
    }
    fclose(f);
    if (total == 0)
        return -EIO;
    if (!have_avail) /* kernels before 3.14 */
        avail = free_kb + buffers + cached;
    if (avail > total)
        avail = total;
    *percent = clamp_percent(100.0 * (double)(total - avail) / (double)total);
    return 0;
}

/* Used share the way df counts it: blocks reserved for root are neither
 * used nor available. */
static int
sample_disk(const char *path, double *percent)
{
    struct statvfs st;

    if (statvfs(path, &st) != 0)
        return -errno;
    if (st.f_blocks == 0 || st.f_bfree > st.f_blocks) {
        *percent = 0.0;
        return 0;
    }
    double used = (double)(st.f_blocks - st.f_bfree);
    double denom = used + (double)st.f_bavail;
    *percent = denom > 0 ? clamp_percent(100.0 * used / denom) : 0.0;
    return 0;
}

static int
sample_rss(uint64_t *bytes)
{
    FILE *f = fopen("/proc/self/statm", "re");
    uint64_t size, resident;
    int n;

    if (f == NULL)
        return -errno;
    n = fscanf(f, "%" SCNu64 " %" SCNu64, &size, &resident);
    fclose(f);
    if (n != 2)
        return -EIO;
    long page = sysconf(_SC_PAGESIZE);
    *bytes = resident * (uint64_t)(page > 0 ? page : 4096);
    return 0;
}

static int
sample_proc_cpu(double *seconds)
{
    struct rusage ru;

    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return -errno;
    *seconds = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
               (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    return 0;
}

int
weft_sysinfo_sample(const char *disk_path, weft_sysinfo *out)
{
    int rc = 0, r;

    if (out == NULL)
        return WEFT_EINVAL;
    memset(out, 0, sizeof(*out));
#define KEEP_FIRST(call)                                                                           \
    do {                                                                                           \
        r = (call);                                                                                \
        if (r != 0 && rc == 0)                                                                     \
            rc = r;                                                                                \
    } while (0)
    KEEP_FIRST(sample_cpu(&out->cpu_percent));
    KEEP_FIRST(sample_mem(&out->mem_percent));
    KEEP_FIRST(sample_disk(disk_path != NULL ? disk_path : "/", &out->disk_percent));
    KEEP_FIRST(sample_rss(&out->rss_bytes));
    KEEP_FIRST(sample_proc_cpu(&out->proc_cpu_seconds));
#undef KEEP_FIRST
    return rc;
}
