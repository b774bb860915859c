#!/bin/sh
# Writes, on stdout, one envelope, send, request and reply helper per body of the
# Envelope's oneof (proto/envelope.proto): ipc_envelope_NAME(msg) (an envelope holding
# msg, for requests that go through a wrapper), ipc_send_NAME(ch, msg),
# ipc_request_NAME(ch, msg, cb, arg, ms) and ipc_reply_NAME(ch, req, msg), so no process
# assembles an envelope by hand.
set -eu
echo "/* Generated from $1 by proto/envelope_gen.sh: do not edit. */"
echo "#ifndef SB_ENVELOPE_SEND_H"
echo "#define SB_ENVELOPE_SEND_H"
awk '
/oneof body/ { inside = 1; next }
inside && /}/ { inside = 0 }
inside && $1 ~ /^[A-Z]/ && $3 == "=" {
    type = $1; field = $2; up = toupper(field)
    printf "static inline Sb__Envelope ipc_envelope_%s(const Sb__%s *m) {\n", field, type
    printf "    Sb__Envelope env = SB__ENVELOPE__INIT;\n"
    printf "    env.body_case = SB__ENVELOPE__BODY_%s;\n", up
    printf "    env.%s = (Sb__%s *)m;\n", field, type
    printf "    return env;\n}\n"
    printf "static inline int ipc_send_%s(ipc_chan_t *ch, const Sb__%s *m) {\n", field, type
    printf "    Sb__Envelope env = SB__ENVELOPE__INIT;\n"
    printf "    env.body_case = SB__ENVELOPE__BODY_%s;\n", up
    printf "    env.%s = (Sb__%s *)m;\n", field, type
    printf "    return ipc_send(ch, &env);\n}\n"
    printf "static inline int ipc_request_%s(ipc_chan_t *ch, const Sb__%s *m, ipc_reply_cb cb,\n", field, type
    printf "                                 void *arg, uint32_t timeout_ms) {\n"
    printf "    Sb__Envelope env = SB__ENVELOPE__INIT;\n"
    printf "    env.body_case = SB__ENVELOPE__BODY_%s;\n", up
    printf "    env.%s = (Sb__%s *)m;\n", field, type
    printf "    return ipc_request(ch, &env, cb, arg, timeout_ms);\n}\n"
    printf "static inline int ipc_reply_%s(ipc_chan_t *ch, const Sb__Envelope *req, const Sb__%s *m) {\n", field, type
    printf "    Sb__Envelope env = SB__ENVELOPE__INIT;\n"
    printf "    env.body_case = SB__ENVELOPE__BODY_%s;\n", up
    printf "    env.%s = (Sb__%s *)m;\n", field, type
    printf "    return ipc_reply(ch, req, &env);\n}\n"
}' "$1"
echo "#endif"
