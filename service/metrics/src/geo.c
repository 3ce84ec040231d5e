/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Country of an IP address from a MaxMind DB (GeoLite2/GeoIP2 Country or
 * City) through libmaxminddb, for the health and peer endpoints.
 *
 * The database is memory-mapped once and only read afterwards, which is
 * what makes concurrent lookups on one handle safe. A lookup that finds
 * nothing (NULL handle, bad address, address not covered, no country
 * record) answers "unknown" and "", never an error: callers only display it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <maxminddb.h>

#include "weft/common.h"
#include "weft/svc_sysinfo.h"

struct weft_geo {
    MMDB_s db;
};

weft_geo *
weft_geo_open(const char *path, int *err, char *errbuf, size_t errcap)
{
    weft_geo *g;
    int status, rc, saved;

    if (path == NULL) {
        rc = WEFT_EINVAL;
        if (errbuf != NULL && errcap != 0)
            snprintf(errbuf, errcap, "no GeoIP database path");
        goto fail;
    }
    g = calloc(1, sizeof(*g));
    if (g == NULL) {
        rc = -ENOMEM;
        if (errbuf != NULL && errcap != 0)
            snprintf(errbuf, errcap, "%s: out of memory", path);
        goto fail;
    }
    errno = 0;
    status = MMDB_open(path, MMDB_MODE_MMAP, &g->db);
    saved = errno;
    if (status == MMDB_SUCCESS) {
        if (err != NULL)
            *err = 0;
        if (errbuf != NULL && errcap != 0)
            errbuf[0] = '\0';
        return g;
    }
    free(g);

    switch (status) {
    case MMDB_FILE_OPEN_ERROR:
    case MMDB_IO_ERROR: rc = saved != 0 ? -saved : -EIO; break;
    case MMDB_OUT_OF_MEMORY_ERROR: rc = -ENOMEM; break;
    default: rc = WEFT_EPROTO; break; /* not a MaxMind DB, or a corrupt one */
    }
    if (errbuf != NULL && errcap != 0) {
        if (saved != 0 && (status == MMDB_FILE_OPEN_ERROR || status == MMDB_IO_ERROR))
            snprintf(errbuf, errcap, "%s: %s (%s)", path, MMDB_strerror(status), strerror(saved));
        else
            snprintf(errbuf, errcap, "%s: %s", path, MMDB_strerror(status));
    }
fail:
    if (err != NULL)
        *err = rc;
    return NULL;
}

void
weft_geo_close(weft_geo *g)
{
    if (g == NULL)
        return;
    MMDB_close(&g->db);
    free(g);
}

static void
copy_out(char *dst, size_t cap, const char *src, size_t n)
{
    if (dst == NULL || cap == 0)
        return;
    if (n > cap - 1)
        n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* A UTF-8 string at the path under the entry; 0 when present. */
static int
get_string(MMDB_entry_s *entry, const char *const *path, const char **s, size_t *n)
{
    MMDB_entry_data_s data;

    if (MMDB_aget_value(entry, &data, path) != MMDB_SUCCESS || !data.has_data ||
        data.type != MMDB_DATA_TYPE_UTF8_STRING)
        return -1;
    *s = data.utf8_string;
    *n = data.data_size;
    return 0;
}

void
weft_geo_lookup(const weft_geo *g, const char *ip, char *name, size_t name_cap, char *iso,
                size_t iso_cap)
{
    static const char *const name_path[] = {"country", "names", "en", NULL};
    static const char *const iso_path[] = {"country", "iso_code", NULL};
    MMDB_lookup_result_s res;
    const char *s;
    size_t n;
    int gai_error = 0, mmdb_error = MMDB_SUCCESS;

    copy_out(name, name_cap, "unknown", 7);
    copy_out(iso, iso_cap, "", 0);
    if (g == NULL || ip == NULL)
        return;
    res = MMDB_lookup_string(&g->db, ip, &gai_error, &mmdb_error);
    if (gai_error != 0 || mmdb_error != MMDB_SUCCESS || !res.found_entry)
        return;
    if (get_string(&res.entry, name_path, &s, &n) == 0 && n != 0)
        copy_out(name, name_cap, s, n);
    if (get_string(&res.entry, iso_path, &s, &n) == 0)
        copy_out(iso, iso_cap, s, n);
}
