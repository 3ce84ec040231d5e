/* SPDX-License-Identifier: Apache-2.0 */
/*
 * multistream-select 1.0 (weft/mss.h), as a byte-driven state machine.
 *
 * Reassembly: one message at a time. The length prefix is collected into
 * pfx[] (at most 2 bytes can describe a legal length, so a third byte that
 * still has the continuation bit set already proves the message too long),
 * then the body into msg[]. A message is handled as soon as its last byte
 * arrives, which is what lets input() stop exactly at the end of the final
 * negotiation message. Nothing is allocated; output goes to the caller's
 * buffer.
 *
 * States: the initiator waits for the header, then for the reply to the
 * proposal in flight (echo -> done, `na` -> next proposal or ENOTSUP). The
 * responder waits for the header, then answers proposals until one is
 * accepted.
 */
#include <string.h>

#include "weft/mss.h"
#include "weft/pb.h"

enum { ROLE_INITIATOR = 0, ROLE_RESPONDER = 1 };

enum {
    ST_IDLE,     /* initiator before start() */
    ST_HEADER,   /* waiting for the peer's header */
    ST_REPLY,    /* initiator: waiting for the answer to protos[proposal] */
    ST_PROPOSAL, /* responder: waiting for a proposal */
    ST_DONE,
    ST_FAILED,
};

#define HDR_LEN (sizeof(WEFT_MSS_HEADER) - 1)
/* A message body: an id plus its newline. */
#define MAX_BODY (WEFT_MSS_MAX_ID + 1)

static int
is_text(const char *msg, size_t len, const char *lit)
{
    size_t n = strlen(lit);
    return len == n && memcmp(msg, lit, n) == 0;
}

static int
valid_id(const char *id)
{
    if (id == NULL)
        return 0;
    size_t n = strnlen(id, WEFT_MSS_MAX_ID + 1);
    if (n == 0 || n > WEFT_MSS_MAX_ID || memchr(id, '\n', n) != NULL)
        return 0;
    return !is_text(id, n, "na") && !is_text(id, n, "ls") && !is_text(id, n, WEFT_MSS_HEADER);
}

static int
valid_list(const char *const *protos, size_t n)
{
    if (n > 0 && protos == NULL)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!valid_id(protos[i]))
            return 0;
    return 1;
}

static void
reset_common(weft_mss *m, const char *const *protos, size_t n, int role)
{
    memset(m, 0, sizeof *m);
    m->protos = protos;
    m->nprotos = n;
    m->role = (uint8_t)role;
    m->selected = -1;
}

int
weft_mss_init_initiator(weft_mss *m, const char *const *protos, size_t n)
{
    if (n == 0 || !valid_list(protos, n))
        return WEFT_EINVAL;
    reset_common(m, protos, n, ROLE_INITIATOR);
    m->state = ST_IDLE;
    return 0;
}

int
weft_mss_init_responder(weft_mss *m, const char *const *protos, size_t n)
{
    if (!valid_list(protos, n))
        return WEFT_EINVAL;
    reset_common(m, protos, n, ROLE_RESPONDER);
    m->state = ST_HEADER;
    return 0;
}

void
weft_mss_set_select(weft_mss *m, weft_mss_select_fn fn, void *arg)
{
    m->select = fn;
    m->select_arg = arg;
}

/* Frame text[0..len) without the length check of the public wrapper. */
static int
put_raw(weft_buf *out, const void *text, size_t len)
{
    uint8_t pfx[WEFT_UVARINT_MAX];
    size_t plen = weft_uvarint_put(pfx, (uint64_t)len + 1);
    int rc = weft_buf_reserve(out, plen + len + 1);
    if (rc < 0)
        return rc;
    memcpy(out->base + out->len, pfx, plen);
    if (len)
        memcpy(out->base + out->len + plen, text, len);
    out->base[out->len + plen + len] = '\n';
    out->len += plen + len + 1;
    return 0;
}

int
weft_mss_put_msg(weft_buf *out, const char *text, size_t len)
{
    if (len > WEFT_MSS_MAX_ID || (len > 0 && text == NULL))
        return WEFT_EINVAL;
    return put_raw(out, text, len);
}

static int
put_str(weft_buf *out, const char *s)
{
    return put_raw(out, s, strlen(s));
}

/* The `ls` answer: one message whose body is the ids, each framed as a
 * message of its own, then the closing newline. */
static int
put_list(weft_mss *m, weft_buf *out)
{
    if (m->nprotos == 0)
        return put_str(out, "na");
    size_t inner = 0;
    for (size_t i = 0; i < m->nprotos; i++) {
        size_t n = strlen(m->protos[i]);
        inner += weft_uvarint_len(n + 1) + n + 1;
    }
    uint8_t pfx[WEFT_UVARINT_MAX];
    size_t plen = weft_uvarint_put(pfx, (uint64_t)inner + 1);
    int rc = weft_buf_reserve(out, plen + inner + 1);
    if (rc < 0)
        return rc;
    /* Reserved in full above, so the appends below cannot fail. */
    rc = weft_buf_append(out, pfx, plen);
    for (size_t i = 0; i < m->nprotos && rc == 0; i++)
        rc = put_str(out, m->protos[i]);
    if (rc == 0)
        rc = weft_buf_append(out, "\n", 1);
    return rc;
}

static int
fail(weft_mss *m, int err)
{
    m->err = err;
    m->state = ST_FAILED;
    return err;
}

int
weft_mss_start(weft_mss *m, weft_buf *out)
{
    if (m->err)
        return m->err;
    int rc;
    if (m->role == ROLE_INITIATOR) {
        if (m->state != ST_IDLE)
            return WEFT_EINVAL;
        rc = put_str(out, WEFT_MSS_HEADER);
        if (rc == 0)
            rc = put_str(out, m->protos[0]);
        if (rc < 0)
            return fail(m, rc);
        m->hdr_sent = 1;
        m->proposal = 0;
        m->state = ST_HEADER;
        return 0;
    }
    if (m->hdr_sent || m->state == ST_DONE)
        return 0;
    rc = put_str(out, WEFT_MSS_HEADER);
    if (rc < 0)
        return fail(m, rc);
    m->hdr_sent = 1;
    return 0;
}

/* The peer's first message must be the header; another multistream version
 * is ENOTSUP, anything else EPROTO. */
static int
check_header(weft_mss *m, const char *msg, size_t len)
{
    if (is_text(msg, len, WEFT_MSS_HEADER))
        return 0;
    if (len > 13 && memcmp(msg, "/multistream/", 13) == 0)
        return fail(m, WEFT_ENOTSUP);
    return fail(m, WEFT_EPROTO);
}

static int
initiator_msg(weft_mss *m, const char *msg, size_t len, weft_buf *out)
{
    if (m->state == ST_HEADER) {
        int rc = check_header(m, msg, len);
        if (rc < 0)
            return rc;
        m->state = ST_REPLY;
        return 0;
    }
    const char *want = m->protos[m->proposal];
    if (is_text(msg, len, want)) {
        m->selected = (int)m->proposal;
        m->state = ST_DONE;
        return 1;
    }
    if (!is_text(msg, len, "na"))
        return fail(m, WEFT_EPROTO);
    if (++m->proposal == m->nprotos)
        return fail(m, WEFT_ENOTSUP);
    int rc = put_str(out, m->protos[m->proposal]);
    return rc < 0 ? fail(m, rc) : 0;
}

static int
choose(weft_mss *m, const char *msg, size_t len)
{
    if (m->select != NULL)
        return m->select(m->select_arg, msg, len);
    for (size_t i = 0; i < m->nprotos; i++)
        if (is_text(msg, len, m->protos[i]))
            return (int)i;
    return -1;
}

static int
responder_msg(weft_mss *m, const char *msg, size_t len, weft_buf *out)
{
    int rc;
    if (m->state == ST_HEADER) {
        rc = check_header(m, msg, len);
        if (rc < 0)
            return rc;
        if (!m->hdr_sent) {
            rc = put_str(out, WEFT_MSS_HEADER);
            if (rc < 0)
                return fail(m, rc);
            m->hdr_sent = 1;
        }
        m->state = ST_PROPOSAL;
        return 0;
    }
    if (++m->attempts > WEFT_MSS_MAX_ATTEMPTS)
        return fail(m, WEFT_ELIMIT);
    if (is_text(msg, len, "ls")) {
        rc = put_list(m, out);
        return rc < 0 ? fail(m, rc) : 0;
    }
    int pick = -1;
    /* The empty id and our own keywords are never protocols. */
    if (len > 0 && !is_text(msg, len, "na") && !is_text(msg, len, WEFT_MSS_HEADER))
        pick = choose(m, msg, len);
    if (pick < 0) {
        rc = put_str(out, "na");
        return rc < 0 ? fail(m, rc) : 0;
    }
    rc = put_raw(out, msg, len);
    if (rc < 0)
        return fail(m, rc);
    m->selected = pick;
    m->state = ST_DONE;
    return 1;
}

/* Collect one more prefix byte. Returns 0 while incomplete, 1 when m->want
 * is known, or WEFT_EPROTO. */
static int
prefix_byte(weft_mss *m, uint8_t b)
{
    m->pfx[m->pfx_len++] = b;
    uint64_t v;
    int n = weft_uvarint_get(m->pfx, m->pfx_len, &v, 1);
    if (n < 0)
        return WEFT_EPROTO;
    if (n == 0)
        return m->pfx_len == sizeof m->pfx ? WEFT_EPROTO : 0;
    /* Zero cannot hold the newline; over MAX_BODY is an id too long. */
    if (v == 0 || v > MAX_BODY)
        return WEFT_EPROTO;
    m->want = (uint16_t)v;
    m->have = 0;
    m->pfx_len = 0;
    return 1;
}

int
weft_mss_input(weft_mss *m, const uint8_t *in, size_t len, size_t *consumed, weft_buf *out)
{
    *consumed = 0;
    if (m->err)
        return m->err;
    if (m->state == ST_DONE)
        return 1;
    if (m->state == ST_IDLE)
        return WEFT_EINVAL;
    if (len > 0 && in == NULL)
        return WEFT_EINVAL;

    size_t pos = 0;
    while (pos < len) {
        if (m->want == 0) {
            int rc = prefix_byte(m, in[pos++]);
            if (rc < 0) {
                *consumed = pos;
                return fail(m, rc);
            }
            continue;
        }
        size_t take = (size_t)(m->want - m->have);
        if (take > len - pos)
            take = len - pos;
        memcpy(m->msg + m->have, in + pos, take);
        m->have = (uint16_t)(m->have + take);
        pos += take;
        if (m->have < m->want)
            break;

        size_t body = (size_t)m->want - 1;
        m->want = 0;
        if (m->msg[body] != '\n') {
            *consumed = pos;
            return fail(m, WEFT_EPROTO);
        }
        /* Keep the text NUL-terminated for the select hook and for
         * weft_mss_selected_name(). */
        m->msg[body] = '\0';
        int rc = m->role == ROLE_INITIATOR ? initiator_msg(m, m->msg, body, out)
                                           : responder_msg(m, m->msg, body, out);
        if (rc != 0) {
            *consumed = pos;
            return rc;
        }
    }
    *consumed = pos;
    return 0;
}

int
weft_mss_selected(const weft_mss *m)
{
    return m->state == ST_DONE ? m->selected : -1;
}

const char *
weft_mss_selected_name(const weft_mss *m)
{
    return m->state == ST_DONE ? m->msg : NULL;
}
