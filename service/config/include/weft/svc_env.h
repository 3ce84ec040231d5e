/* SPDX-License-Identifier: Apache-2.0 */
/*
 * weft/svc_env.h: typed configuration from environment variables.
 *
 * Each reader takes the variable's name, its default and its allowed range;
 * an unset or empty variable gives the default. A bad value leaves *out
 * untouched, returns WEFT_EINVAL and writes one line into err naming the
 * variable, the value and what was expected, e.g.
 *   SIDECAR_PORT="70000": expected an integer in 1..65535
 * so a daemon can print it and exit. The environment is read through
 * weft_env_get so tests can inject a table.
 */
#ifndef WEFT_SVC_ENV_H
#define WEFT_SVC_ENV_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define WEFT_ENV_ERR 320

/* getenv, or the table installed by weft_env_set_source (tests). */
const char *weft_env_get(const char *name);
/* lookup(name, user) replaces getenv; NULL restores it. */
void weft_env_set_source(const char *(*lookup)(const char *name, void *user), void *user);

int weft_env_int(const char *name, long long def, long long lo, long long hi, long long *out,
                 char err[WEFT_ENV_ERR]);
/* A number in decimal notation ("0.75", "1e-1"; never hex, inf or nan) in
 * (lo, hi] when lo_open, [lo, hi] otherwise; hi may be INFINITY. */
int weft_env_real(const char *name, double def, double lo, int lo_open, double hi, double *out,
                  char err[WEFT_ENV_ERR]);
/* One of choices (NULL-terminated); *out the index. Case-insensitive. */
int weft_env_choice(const char *name, const char *def, const char *const *choices, int *out,
                    char err[WEFT_ENV_ERR]);
/* A TCP port, 1..65535; ":8080" and "8080" both accepted (the proxy's
 * variables carry a colon). */
int weft_env_port(const char *name, int def, int *out, char err[WEFT_ENV_ERR]);
/* A string of at most maxlen bytes without control characters. */
int weft_env_str(const char *name, const char *def, size_t maxlen, const char **out,
                 char err[WEFT_ENV_ERR]);
int weft_env_bool(const char *name, int def, int *out, char err[WEFT_ENV_ERR]);

#ifdef __cplusplus
}
#endif
#endif
