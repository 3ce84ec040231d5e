/* SPDX-License-Identifier: Apache-2.0 */
/*
 * https:// key sets (weft/svc_jwks.h): the GET goes through libcurl
 * (OpenSSL), with the peer's certificate and host name verified against
 * the system's CA store or the bundle the caller names, a connect timeout
 * and a total one, no redirects, and the body capped at
 * WEFT_JWKS_MAX_BYTES while it arrives (a larger answer is cut off, not
 * buffered). Only a 200 answer is parsed. libcurl is kept to this file:
 * nothing else in the tree links it.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "auth_priv.h"

#define HTTPS_CONNECT_MS 3000
#define HTTPS_TOTAL_MS 10000

static pthread_once_t g_curl_once = PTHREAD_ONCE_INIT;
static CURLcode g_curl_init = CURLE_FAILED_INIT;

static void
curl_init_once(void)
{
    g_curl_init = curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct body {
    char *p;
    size_t len, cap;
    int too_big;
};

static size_t
on_body(char *data, size_t size, size_t nmemb, void *user)
{
    struct body *b = user;
    size_t n = size * nmemb;
    if (n > WEFT_JWKS_MAX_BYTES - b->len) {
        b->too_big = 1;
        return 0; /* libcurl stops the transfer */
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 16384;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *np = realloc(b->p, cap);
        if (!np)
            return 0;
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = 0;
    return n;
}

static weft_jwks *
load_https(const char *url, const char *ca_file, char *err, size_t cap)
{
    char e[AUTH_ERR], cerr[CURL_ERROR_SIZE] = "";
    if (!url || strncasecmp(url, "https://", 8) != 0)
        return (void)auth_fail(err, cap, 0, "JWKS URL: expected https://host[:port]/path"), NULL;
    if (strlen(url) > 2048)
        return (void)auth_fail(err, cap, 0, "JWKS URL: longer than 2048 bytes"), NULL;
    pthread_once(&g_curl_once, curl_init_once);
    if (g_curl_init != CURLE_OK)
        return (void)auth_fail(err, cap, 0, "JWKS %s: libcurl: %s", url,
                               curl_easy_strerror(g_curl_init)),
               NULL;
    CURL *c = curl_easy_init();
    if (!c)
        return (void)auth_fail(err, cap, 0, "JWKS %s: out of memory", url), NULL;
    struct body b = {0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    if (ca_file && *ca_file)
        curl_easy_setopt(c, CURLOPT_CAINFO, ca_file);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)HTTPS_CONNECT_MS);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)HTTPS_TOTAL_MS);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM for name resolution */
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)WEFT_JWKS_MAX_BYTES);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "weft-proxy");
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    struct curl_slist *hdrs = curl_slist_append(NULL, "Accept: application/json");
    if (hdrs)
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    weft_jwks *k = NULL;
    if (b.too_big || rc == CURLE_FILESIZE_EXCEEDED)
        auth_fail(err, cap, 0, "JWKS %s: body larger than %d bytes", url, WEFT_JWKS_MAX_BYTES);
    else if (rc != CURLE_OK)
        auth_fail(err, cap, 0, "JWKS %s: %s", url, cerr[0] ? cerr : curl_easy_strerror(rc));
    else if (status != 200)
        auth_fail(err, cap, 0, "JWKS %s: HTTP status %ld, want 200", url, status);
    else if (!(k = weft_jwks_parse(b.p ? b.p : "", b.len, e, sizeof e)))
        auth_fail(err, cap, 0, "%s: %s", url, e);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    free(b.p);
    return k;
}

weft_jwks *
weft_jwks_load(const char *src, const char *ca_file, char *err, size_t cap)
{
    if (!src || !*src)
        return (void)auth_fail(err, cap, 0, "JWKS: no file or URL given"), NULL;
    if (strncasecmp(src, "https://", 8) == 0)
        return load_https(src, ca_file, err, cap);
    if (strncasecmp(src, "http://", 7) == 0)
        return weft_jwks_load_url(src, err, cap);
    return weft_jwks_load_file(src, err, cap);
}
