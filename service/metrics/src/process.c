/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The process_* families every Prometheus client library exports, so that
 * the usual dashboards (and the guides' CPU/memory panels) work on node and
 * proxy alike. Read at scrape time from /proc/self: stat (CPU ticks,
 * virtual size, resident pages, start in ticks after boot), /proc/stat's
 * btime for the boot time, the fd directory, and RLIMIT_NOFILE.
 *
 * A file that cannot be read leaves its families out of that scrape rather
 * than reporting a made-up 0.
 *
 * Beside them, weft_process_heap_* from glibc's mallinfo2: the bytes the
 * program holds and the bytes malloc keeps free, over all arenas, so a
 * resident size that grows can be told apart as live data (a leak, an
 * unbounded table) or as the allocator's retained free memory.
 */
#include <dirent.h>
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "weft/svc_metrics.h"

struct self_stat {
    unsigned long long utime, stime, starttime, vsize;
    long long rss_pages;
};

/* /proc/self/stat: the command name may hold spaces and parentheses, so
 * fields are counted from the last ')'. */
static int
read_self_stat(struct self_stat *st)
{
    char buf[2048];
    FILE *f = fopen("/proc/self/stat", "re");
    if (f == NULL)
        return -errno;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    if (p == NULL)
        return -EIO;
    /* after ") ": field 3 (state) onwards; utime is 14, stime 15,
     * starttime 22, vsize 23, rss 24 */
    unsigned long long v[24] = {0};
    int field = 3;
    p++;
    while (*p != '\0' && field <= 24) {
        while (*p == ' ')
            p++;
        if (*p == '\0')
            break;
        if (field >= 4)
            v[field - 1] = strtoull(p, NULL, 10);
        while (*p != '\0' && *p != ' ')
            p++;
        field++;
    }
    if (field <= 24)
        return -EIO;
    st->utime = v[13];
    st->stime = v[14];
    st->starttime = v[21];
    st->vsize = v[22];
    st->rss_pages = (long long)v[23];
    return 0;
}

static long long
boot_time(void)
{
    char line[256];
    long long bt = -1;
    FILE *f = fopen("/proc/stat", "re");
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, "btime ", 6) == 0) {
            bt = strtoll(line + 6, NULL, 10);
            break;
        }
    fclose(f);
    return bt;
}

static long
open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    long n = 0;
    if (d == NULL)
        return -1;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the directory stream's own descriptor */
}

static void
family(weft_metrics_out *out, const char *name, const char *type, const char *help)
{
    weft_metrics_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
collect(void *user, weft_metrics_out *out)
{
    (void)user;
    struct self_stat st;
    long hz = sysconf(_SC_CLK_TCK);
    long page = sysconf(_SC_PAGESIZE);
    if (hz <= 0)
        hz = 100;
    if (page <= 0)
        page = 4096;
    if (read_self_stat(&st) == 0) {
        family(out, "process_cpu_seconds_total", "counter",
               "Total user and system CPU time spent in seconds.");
        weft_metrics_printf(out, "process_cpu_seconds_total %.2f\n",
                            (double)(st.utime + st.stime) / (double)hz);
        family(out, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
        weft_metrics_printf(out, "process_virtual_memory_bytes %llu\n", st.vsize);
        family(out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
        weft_metrics_printf(out, "process_resident_memory_bytes %lld\n",
                            st.rss_pages * (long long)page);
        long long bt = boot_time();
        if (bt > 0) {
            family(out, "process_start_time_seconds", "gauge",
                   "Start time of the process since unix epoch in seconds.");
            weft_metrics_printf(out, "process_start_time_seconds %.2f\n",
                                (double)bt + (double)st.starttime / (double)hz);
        }
    }
    long fds = open_fds();
    if (fds >= 0) {
        family(out, "process_open_fds", "gauge", "Number of open file descriptors.");
        weft_metrics_printf(out, "process_open_fds %ld\n", fds);
    }
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
    struct mallinfo2 mi = mallinfo2();
    family(out, "weft_process_heap_inuse_bytes", "gauge",
           "Bytes allocated with malloc and not freed (mallinfo2 uordblks + hblkhd).");
    weft_metrics_printf(out, "weft_process_heap_inuse_bytes %zu\n", mi.uordblks + mi.hblkhd);
    family(out, "weft_process_heap_free_bytes", "gauge",
           "Bytes malloc holds free in its arenas (mallinfo2 fordblks).");
    weft_metrics_printf(out, "weft_process_heap_free_bytes %zu\n", mi.fordblks);
#endif
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        family(out, "process_max_fds", "gauge", "Maximum number of open file descriptors.");
        weft_metrics_printf(out, "process_max_fds %llu\n",
                            rl.rlim_cur == RLIM_INFINITY ? 0ULL : (unsigned long long)rl.rlim_cur);
    }
}

int
weft_metrics_add_process(weft_metrics *m)
{
    return weft_metrics_add_collector(m, collect, NULL);
}
