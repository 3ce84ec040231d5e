/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Inside svc_metrics: a collector the registry owns. drop(user) runs in
 * weft_metrics_free, after which user is gone; label vectors (vec.c) use it
 * so that they live exactly as long as their registry.
 */
#ifndef WEFT_SVC_METRICS_PRIV_H
#define WEFT_SVC_METRICS_PRIV_H

#include "weft/svc_metrics.h"

int weft_metrics_add_owned(weft_metrics *m, weft_metrics_collect_fn fn, void *user,
                           void (*drop)(void *user));

#endif
