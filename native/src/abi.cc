// abi: sizeof/offsetof of every struct of latch_abi.h as the C++ compiler lays it out, plus every
// enum constant. test/datapath/abi.test.ts compares the generated TypeScript layouts with this.
// Adding a field to the header without listing it here makes that test fail (on purpose).
#include <cstddef>

#include "common.h"
#include "latch_abi.h"

namespace latch {

namespace {

#define FIELD(S, F)                                                             \
  do {                                                                          \
    Napi::Object f = Napi::Object::New(env);                                    \
    f.Set("offset", static_cast<double>(offsetof(struct S, F)));                \
    f.Set("size", static_cast<double>(sizeof(static_cast<struct S*>(nullptr)->F))); \
    fields.Set(#F, f);                                                          \
  } while (0)

#define STRUCT(S, BODY)                                       \
  do {                                                        \
    Napi::Object s = Napi::Object::New(env);                  \
    Napi::Object fields = Napi::Object::New(env);             \
    BODY;                                                     \
    s.Set("size", static_cast<double>(sizeof(struct S)));     \
    s.Set("align", static_cast<double>(alignof(struct S)));   \
    s.Set("fields", fields);                                  \
    structs.Set(#S, s);                                       \
  } while (0)

#define CONST(C) consts.Set(#C, static_cast<double>(C))

}  // namespace

void InitAbi(Napi::Env env, Napi::Object exports) {
  Napi::Object structs = Napi::Object::New(env);
  STRUCT(latch_ip, FIELD(latch_ip, addr));
  STRUCT(latch_ipcache_key, FIELD(latch_ipcache_key, prefixlen); FIELD(latch_ipcache_key, ip));
  STRUCT(latch_ipcache_value, FIELD(latch_ipcache_value, identity); FIELD(latch_ipcache_value, flags);
         FIELD(latch_ipcache_value, ifindex));
  STRUCT(latch_endpoint_value, FIELD(latch_endpoint_value, identity); FIELD(latch_endpoint_value, n_addrs);
         FIELD(latch_endpoint_value, addrs));
  STRUCT(latch_auth_key, FIELD(latch_auth_key, src_id); FIELD(latch_auth_key, dst_id));
  STRUCT(latch_auth_value, FIELD(latch_auth_value, expires_ns));
  STRUCT(latch_stat, FIELD(latch_stat, packets); FIELD(latch_stat, bytes));
  STRUCT(latch_policy_key, FIELD(latch_policy_key, src_id); FIELD(latch_policy_key, dst_id));
  STRUCT(latch_port_range, FIELD(latch_port_range, low); FIELD(latch_port_range, high);
         FIELD(latch_port_range, proto); FIELD(latch_port_range, _pad));
  STRUCT(latch_policy_value, FIELD(latch_policy_value, flags); FIELD(latch_policy_value, n_ranges);
         FIELD(latch_policy_value, ranges));
  STRUCT(latch_ct_key, FIELD(latch_ct_key, src); FIELD(latch_ct_key, dst); FIELD(latch_ct_key, sport);
         FIELD(latch_ct_key, dport); FIELD(latch_ct_key, proto); FIELD(latch_ct_key, direction);
         FIELD(latch_ct_key, _pad));
  STRUCT(latch_ct_value, FIELD(latch_ct_value, created_ns); FIELD(latch_ct_value, last_ns);
         FIELD(latch_ct_value, src_id); FIELD(latch_ct_value, dst_id); FIELD(latch_ct_value, ifindex);
         FIELD(latch_ct_value, state); FIELD(latch_ct_value, flags); FIELD(latch_ct_value, _pad);
         FIELD(latch_ct_value, verdict_gen); FIELD(latch_ct_value, verdict_until_ns));
  STRUCT(latch_frag_key, FIELD(latch_frag_key, src); FIELD(latch_frag_key, dst); FIELD(latch_frag_key, id);
         FIELD(latch_frag_key, proto); FIELD(latch_frag_key, direction); FIELD(latch_frag_key, _pad));
  STRUCT(latch_frag_value, FIELD(latch_frag_value, first_ns));
  STRUCT(latch_config, FIELD(latch_config, event_interval_ns); FIELD(latch_config, ct_tcp_syn_ns);
         FIELD(latch_config, ct_tcp_established_ns); FIELD(latch_config, ct_tcp_closing_ns);
         FIELD(latch_config, ct_tcp_closed_ns); FIELD(latch_config, ct_udp_ns); FIELD(latch_config, ct_icmp_ns);
         FIELD(latch_config, ct_other_ns); FIELD(latch_config, frag_ns);
         FIELD(latch_config, verdict_gen));
  STRUCT(latch_event_rl_key, FIELD(latch_event_rl_key, src_id); FIELD(latch_event_rl_key, dst_id);
         FIELD(latch_event_rl_key, ifindex); FIELD(latch_event_rl_key, reason));
  STRUCT(latch_event_rl_value, FIELD(latch_event_rl_value, last_ns); FIELD(latch_event_rl_value, suppressed);
         FIELD(latch_event_rl_value, _pad));
  STRUCT(latch_event, FIELD(latch_event, ts_ns); FIELD(latch_event, type); FIELD(latch_event, reason);
         FIELD(latch_event, src_id); FIELD(latch_event, dst_id); FIELD(latch_event, ifindex);
         FIELD(latch_event, ingress_ifindex); FIELD(latch_event, suppressed); FIELD(latch_event, len);
         FIELD(latch_event, sport); FIELD(latch_event, dport); FIELD(latch_event, family);
         FIELD(latch_event, proto); FIELD(latch_event, direction); FIELD(latch_event, _pad);
         FIELD(latch_event, src); FIELD(latch_event, dst));

  Napi::Object consts = Napi::Object::New(env);
  CONST(LATCH_MAX_ENDPOINT_ADDRS);
  CONST(LATCH_IPCACHE_MAX);
  CONST(LATCH_AUTH_MAX);
  CONST(LATCH_ENDPOINTS_MAX);
  CONST(LATCH_EVENT_RL_MAX);
  CONST(LATCH_EVENTS_BYTES);
  CONST(LATCH_POLICY_MAX);
  CONST(LATCH_POLICY_MAX_RANGES);
  CONST(LATCH_CT_MAX);
  CONST(LATCH_FRAG_MAX);
  CONST(LATCH_IPV6_MAX_EXT_HDRS);
  CONST(LATCH_ID_NONE);
  CONST(LATCH_ID_RESERVED);
  CONST(LATCH_ID_NODE);
  CONST(LATCH_CT_DEFAULT_TCP_SYN_S);
  CONST(LATCH_CT_DEFAULT_TCP_ESTABLISHED_S);
  CONST(LATCH_CT_DEFAULT_TCP_CLOSING_S);
  CONST(LATCH_CT_DEFAULT_TCP_CLOSED_S);
  CONST(LATCH_CT_DEFAULT_UDP_S);
  CONST(LATCH_CT_DEFAULT_ICMP_S);
  CONST(LATCH_CT_DEFAULT_OTHER_S);
  CONST(LATCH_CT_DEFAULT_FRAG_S);
  CONST(LATCH_POLICY_F_ANY);
  CONST(LATCH_CT_NEW);
  CONST(LATCH_CT_ESTABLISHED);
  CONST(LATCH_CT_CLOSING);
  CONST(LATCH_CT_CLOSED);
  CONST(LATCH_CT_F_FIN_ORIG);
  CONST(LATCH_CT_F_FIN_REPLY);
  CONST(LATCH_IPCACHE_F_LOCAL);
  CONST(LATCH_IPCACHE_F_REMOTE);
  CONST(LATCH_R_ALLOWED);
  CONST(LATCH_R_PASS_NOT_MESH);
  CONST(LATCH_R_PASS_NON_IP);
  CONST(LATCH_R_PASS_SOURCE_OK);
  CONST(LATCH_R_PASS_LINK_LOCAL);
  CONST(LATCH_R_DROP_NO_AUTH);
  CONST(LATCH_R_DROP_AUTH_EXPIRED);
  CONST(LATCH_R_DROP_UNKNOWN_SOURCE);
  CONST(LATCH_R_DROP_NOT_VIA_TUNNEL);
  CONST(LATCH_R_DROP_WRONG_INGRESS);
  CONST(LATCH_R_DROP_SPOOFED);
  CONST(LATCH_R_DROP_NO_ENDPOINT);
  CONST(LATCH_R_DROP_MALFORMED);
  CONST(LATCH_R_EVENT_LOST);
  CONST(LATCH_R_EVENT_SUPPRESSED);
  CONST(LATCH_R_PASS_HOST_ICMP_ERROR);
  CONST(LATCH_R_PASS_ESTABLISHED);
  CONST(LATCH_R_PASS_REPLY);
  CONST(LATCH_R_PASS_RELATED);
  CONST(LATCH_R_PASS_FRAGMENT);
  CONST(LATCH_R_DROP_NO_RULE);
  CONST(LATCH_R_DROP_PORT_NOT_ALLOWED);
  CONST(LATCH_R_DROP_REVERSE);
  CONST(LATCH_R_DROP_CT_UNRELATED);
  CONST(LATCH_R_DROP_FRAGMENT);
  CONST(LATCH_R_MAX);
  CONST(LATCH_EV_AUTH_REQUIRED);
  CONST(LATCH_EV_DROP);
  CONST(LATCH_DIR_FROM_WORKLOAD);
  CONST(LATCH_DIR_TO_WORKLOAD);

  Napi::Object abi = Napi::Object::New(env);
  abi.Set("structs", structs);
  abi.Set("consts", consts);
  exports.Set("abi", abi);
}

}  // namespace latch
