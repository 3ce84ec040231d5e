/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_node_api: what the node's read-only HTTP API parses from a client
 * (node/src/api.c): the query of GET /api/v1/topics (topic, nodeinfo),
 * through node_api_topics_query, the function the handler calls.
 *
 * Input: the query string, exactly as long as the input (so a read past
 * it, as a strstr on the unterminated query once did, is seen by ASan).
 *
 * Oracles, from fuzz_form.h's model of form encoding and the API's
 * contract: a first "topic" pair that decodes to an empty value, to more
 * than 256 bytes, or to a NUL or control byte is a 400 naming topic;
 * otherwise the topic returned is exactly the decoded value (or none);
 * a first "nodeinfo" pair whose value is not true, false, 1 or 0 is a 400
 * naming nodeinfo, and nodeinfo is true for true and 1 only; every 400 is
 * an {"error": ...} body; keys that merely contain "topic" change nothing.
 */
#include "fuzz_form.h"

#include <cjson/cJSON.h>

#include "node.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *q = (char *)fz_dup(data, size);
    char *want = malloc(size + 1), *ni = malloc(size + 1);
    FZ_CHECK(want != NULL && ni != NULL);
    long tl = model_get(q, size, "topic", want);
    long nl = model_get(q, size, "nodeinfo", ni);

    int bad_topic = tl == 0 || tl > 256;
    for (long i = 0; i < tl && !bad_topic; i++)
        bad_topic = (unsigned char)want[i] < 0x20 || want[i] == 0x7f;
    int bad_ni = 0, want_ni = 0;
    if (nl >= 0) {
        ni[nl] = 0;
        bad_ni = (size_t)nl != strlen(ni) ||
                 (strcmp(ni, "true") && strcmp(ni, "false") && strcmp(ni, "1") && strcmp(ni, "0"));
        want_ni = !bad_ni && (!strcmp(ni, "true") || !strcmp(ni, "1"));
    }

    char topic[TOPIC_TEXT];
    int has = -1, info = -1;
    weft_http_resp resp = {.status = 200};
    int rc = node_api_topics_query(q, size, topic, &has, &info, &resp);
    if (bad_topic || bad_ni) {
        FZ_CHECK(rc == -1 && resp.status == 400);
        cJSON *o = cJSON_ParseWithLength(resp.body, resp.body_len);
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "error");
        FZ_CHECK(cJSON_IsString(e));
        FZ_CHECK(strncmp(e->valuestring, bad_topic ? "topic:" : "nodeinfo:", bad_topic ? 6 : 9) ==
                 0);
        cJSON_Delete(o);
    } else {
        FZ_CHECK(rc == 0 && resp.body == NULL);
        FZ_CHECK(has == (tl > 0));
        if (has)
            FZ_CHECK(strlen(topic) == (size_t)tl && memcmp(topic, want, (size_t)tl) == 0);
        FZ_CHECK(info == want_ni);
    }
    free(resp.body);
    free(want);
    free(ni);
    free(q);
    return 0;
}
