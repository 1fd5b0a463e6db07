/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * The pinned maps of the latch datapath and the helpers every program over them uses, written once
 * for bpf/latch.bpf.c (the datapath) and bpf/auth-only.bpf.c (the pre-policy baseline of
 * scripts/bench-datapath), so both objects always declare the same maps. Include after
 * latch_abi.h and the libbpf headers.
 */
#ifndef LATCH_MAPS_H
#define LATCH_MAPS_H

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, LATCH_IPCACHE_MAX);
	__type(key, struct latch_ipcache_key);
	__type(value, struct latch_ipcache_value);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ipcache SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, LATCH_AUTH_MAX);
	__type(key, struct latch_auth_key);
	__type(value, struct latch_auth_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} auth SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, LATCH_ENDPOINTS_MAX);
	__type(key, __u32);
	__type(value, struct latch_endpoint_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} endpoints SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, LATCH_POLICY_MAX);
	__type(key, struct latch_policy_key);
	__type(value, struct latch_policy_value);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} policy SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, LATCH_CT_MAX);
	__type(key, struct latch_ct_key);
	__type(value, struct latch_ct_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ct SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, LATCH_FRAG_MAX);
	__type(key, struct latch_frag_key);
	__type(value, struct latch_frag_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} frags SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, LATCH_R_MAX);
	__type(key, __u32);
	__type(value, struct latch_stat);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct latch_config);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, LATCH_EVENT_RL_MAX);
	__type(key, struct latch_event_rl_key);
	__type(value, struct latch_event_rl_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} event_rl SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, LATCH_EVENTS_BYTES);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} events SEC(".maps");

static __always_inline void count(__u32 reason, __u64 bytes)
{
	struct latch_stat *s = bpf_map_lookup_elem(&stats, &reason);

	if (s) {
		s->packets++;
		s->bytes += bytes;
	}
}

static __always_inline void ipv4_mapped(struct latch_ip *ip, __be32 v4)
{
	__builtin_memset(ip->addr, 0, 10);
	ip->addr[10] = 0xff;
	ip->addr[11] = 0xff;
	__builtin_memcpy(&ip->addr[12], &v4, 4);
}

static __always_inline int ip_equal(const struct latch_ip *a, const struct latch_ip *b)
{
	const __u64 *x = (const __u64 *)a->addr;
	const __u64 *y = (const __u64 *)b->addr;

	return x[0] == y[0] && x[1] == y[1];
}

static __always_inline struct latch_ipcache_value *ipcache_lookup(const struct latch_ip *ip)
{
	struct latch_ipcache_key key = { .prefixlen = 128 };

	__builtin_memcpy(&key.ip, ip, sizeof(key.ip));
	return bpf_map_lookup_elem(&ipcache, &key);
}

#endif /* LATCH_MAPS_H */
