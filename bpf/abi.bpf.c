// SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0)
/*
 * Never loaded. Compiled only so that its BTF describes every type of include/latch_abi.h (structs
 * AND enums, which the programs alone would not all reference). daemon/datapath/abi/generate.ts reads
 * that BTF (`bpftool -j btf dump file bpf/abi.o`) and writes the TypeScript encoders.
 */
#include "latch_abi.h"

struct latch_abi_types {
	enum latch_limits limits;
	enum latch_ipcache_flags ipcache_flags;
	enum latch_reason reason;
	enum latch_event_type event_type;
	enum latch_direction direction;
	enum latch_identity identity;
	enum latch_ct_defaults ct_defaults;
	enum latch_policy_flags policy_flags;
	enum latch_ct_state ct_state;
	enum latch_ct_flags ct_flags;
	struct latch_ip ip;
	struct latch_ipcache_key ipcache_key;
	struct latch_ipcache_value ipcache_value;
	struct latch_endpoint_value endpoint_value;
	struct latch_auth_key auth_key;
	struct latch_auth_value auth_value;
	struct latch_policy_key policy_key;
	struct latch_port_range port_range;
	struct latch_policy_value policy_value;
	struct latch_ct_key ct_key;
	struct latch_ct_value ct_value;
	struct latch_frag_key frag_key;
	struct latch_frag_value frag_value;
	struct latch_stat stat;
	struct latch_config config;
	struct latch_event_rl_key event_rl_key;
	struct latch_event_rl_value event_rl_value;
	struct latch_event event;
};

struct latch_abi_types latch_abi_types __attribute__((used));
