/* SPDX-License-Identifier: Apache-2.0 */
/*
 * weft/svc_sysinfo.h: what the health endpoints report: CPU, memory and
 * disk use in percent, this process's resident memory and CPU time; and the
 * country of an address from a MaxMind-format (GeoLite2) database.
 */
#ifndef WEFT_SVC_SYSINFO_H
#define WEFT_SVC_SYSINFO_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_sysinfo {
    double cpu_percent;      /* whole machine, busy share since the previous sample
                                (since boot on the first), 0..100 */
    double mem_percent;      /* (MemTotal - MemAvailable) / MemTotal, 0..100 */
    double disk_percent;     /* used share of the file system holding disk_path */
    uint64_t rss_bytes;      /* this process */
    double proc_cpu_seconds; /* this process, user + system */
} weft_sysinfo;

/* Thread-safe (a mutex keeps the previous CPU sample). disk_path NULL = "/".
 * Returns 0, or a negative errno when /proc cannot be read (fields that could
 * be read are still filled). */
int weft_sysinfo_sample(const char *disk_path, weft_sysinfo *out);

typedef struct weft_geo weft_geo;
/* Open a GeoLite2/GeoIP2 country or city database. NULL with *err and a
 * message in errbuf when it cannot be opened. */
weft_geo *weft_geo_open(const char *path, int *err, char *errbuf, size_t errcap);
void weft_geo_close(weft_geo *g);
/* Country name (English) and ISO code of an IPv4/IPv6 address text.
 * "unknown" / "" when g is NULL or the address is not in the database.
 * Thread-safe. */
void weft_geo_lookup(const weft_geo *g, const char *ip, char *name, size_t name_cap, char *iso,
                     size_t iso_cap);

#ifdef __cplusplus
}
#endif
#endif
