/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_mss: the multistream-select engine (weft/mss.h) fed arbitrary peer
 * bytes, as a responder and as an initiator.
 *
 * Input: byte 0 picks the role (bit 0), the responder's eager header (bit 1),
 * the select hook instead of the list (bit 2) and how many of four ids are
 * offered (bits 3-4). The rest is a sequence of reads: a length byte n, then
 * n bytes (fewer at the end of the input), as a socket would deliver them.
 *
 * Each input runs twice: once read by read (the chunking the input chose),
 * once as a single buffer. Both runs must agree on the result, the bytes
 * consumed and every byte written, so the state machine cannot depend on
 * where reads split messages. Checked besides: results are 0, 1 or a
 * documented error; 0 consumes the whole read; errors and completion are
 * sticky and consume nothing later; completion names one of the offered
 * ids (the responder echoes it as its last message, the initiator proposed
 * it last); everything written parses as well-formed messages, none longer
 * than an id may be.
 */
#include "fuzz_util.h"

#include "weft/mss.h"
#include "weft/pb.h"

static const char *const PROTOS[] = {"/noise", "/yamux/1.0.0", "/meshsub/1.1.0", "/a"};

static int
select_hook(void *arg, const char *id, size_t len)
{
    size_t n = *(const size_t *)arg;
    FZ_CHECK(id[len] == '\0');
    /* accept any id of the offered list, reported as 10 + its index */
    for (size_t i = 0; i < n; i++)
        if (strlen(PROTOS[i]) == len && memcmp(PROTOS[i], id, len) == 0)
            return (int)(10 + i);
    return -1;
}

typedef struct run {
    int rc;
    size_t consumed;
    int selected;
    weft_buf out;
} run;

static int
documented(int rc)
{
    return rc == 0 || rc == 1 || rc == WEFT_EPROTO || rc == WEFT_ENOTSUP || rc == WEFT_ELIMIT;
}

/* Parse what the engine wrote: messages with a minimal prefix and a newline;
 * returns the body of the last one in *last / *last_len. */
static void
check_output(const weft_buf *b, const uint8_t **last, size_t *last_len)
{
    size_t off = 0;
    *last = NULL;
    *last_len = 0;
    while (off < b->len) {
        uint64_t v;
        int n = weft_uvarint_get(b->base + off, b->len - off, &v, 1);
        FZ_CHECK(n > 0);
        FZ_CHECK(v >= 1 && v <= b->len - off - (size_t)n);
        const uint8_t *body = b->base + off + n;
        FZ_CHECK(body[v - 1] == '\n');
        /* The ls answer for these four short ids is short too. */
        FZ_CHECK(v <= WEFT_MSS_MAX_ID + 1);
        *last = body;
        *last_len = (size_t)v - 1;
        off += (size_t)n + (size_t)v;
    }
}

static void
setup(weft_mss *m, uint8_t mode, size_t *nprotos, run *r)
{
    *nprotos = 1 + ((mode >> 3) & 3);
    weft_buf_init(&r->out, NULL, 0, 1 << 20);
    r->rc = 0;
    r->consumed = 0;
    r->selected = -1;
    if (mode & 1) {
        FZ_CHECK(weft_mss_init_initiator(m, PROTOS, *nprotos) == 0);
        FZ_CHECK(weft_mss_start(m, &r->out) == 0);
    } else {
        FZ_CHECK(weft_mss_init_responder(m, PROTOS, *nprotos) == 0);
        if (mode & 4)
            weft_mss_set_select(m, select_hook, nprotos);
        if (mode & 2)
            FZ_CHECK(weft_mss_start(m, &r->out) == 0);
    }
}

static void
feed(weft_mss *m, run *r, const uint8_t *p, size_t n)
{
    if (r->rc != 0) {
        size_t used = 7;
        int again = weft_mss_input(m, p, n, &used, &r->out);
        FZ_CHECK(again == r->rc);
        FZ_CHECK(used == 0);
        return;
    }
    /* a heap copy of exactly n bytes: ASan sees any overread */
    uint8_t *copy = fz_dup(p, n);
    size_t used = SIZE_MAX;
    int rc = weft_mss_input(m, copy, n, &used, &r->out);
    free(copy);
    FZ_CHECK(documented(rc));
    FZ_CHECK(used <= n);
    if (rc == 0)
        FZ_CHECK(used == n);
    r->consumed += used;
    r->rc = rc;
}

static void
finish(weft_mss *m, run *r, uint8_t mode, size_t nprotos)
{
    const uint8_t *last;
    size_t last_len;
    check_output(&r->out, &last, &last_len);
    r->selected = weft_mss_selected(m);
    if (r->rc != 1) {
        FZ_CHECK(r->selected == -1);
        FZ_CHECK(weft_mss_selected_name(m) == NULL);
        return;
    }
    const char *name = weft_mss_selected_name(m);
    FZ_CHECK(name != NULL);
    int idx = r->selected;
    if (!(mode & 1) && (mode & 4))
        idx -= 10;
    FZ_CHECK(idx >= 0 && (size_t)idx < nprotos);
    FZ_CHECK(strcmp(name, PROTOS[idx]) == 0);
    /* The responder's last message echoes the id; the initiator's last
     * message proposed it. */
    FZ_CHECK(last != NULL && last_len == strlen(name) && memcmp(last, name, last_len) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t mode = data[0];
    const uint8_t *p = data + 1;
    size_t left = size - 1;

    weft_mss a, b;
    run ra, rb;
    size_t na, nb;
    setup(&a, mode, &na, &ra);
    setup(&b, mode, &nb, &rb);

    /* Run A: the reads as the input splits them. Also gather the bytes. */
    uint8_t *whole = malloc(left ? left : 1);
    FZ_CHECK(whole != NULL);
    size_t wlen = 0;
    while (left > 0) {
        size_t n = p[0];
        p++;
        left--;
        if (n > left)
            n = left;
        feed(&a, &ra, p, n);
        memcpy(whole + wlen, p, n);
        wlen += n;
        p += n;
        left -= n;
    }
    /* Run B: everything at once. */
    feed(&b, &rb, whole, wlen);
    free(whole);

    finish(&a, &ra, mode, na);
    finish(&b, &rb, mode, nb);
    FZ_CHECK(ra.rc == rb.rc);
    FZ_CHECK(ra.consumed == rb.consumed);
    FZ_CHECK(ra.selected == rb.selected);
    FZ_CHECK(ra.out.len == rb.out.len);
    FZ_CHECK(ra.out.len == 0 || memcmp(ra.out.base, rb.out.base, ra.out.len) == 0);
    weft_buf_free(&ra.out);
    weft_buf_free(&rb.out);
    return 0;
}
