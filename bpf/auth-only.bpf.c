// SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0)
/*
 * The BASELINE of scripts/bench-datapath, never loaded by latchd: the datapath program as it was
 * before the kernel enforced the policy (issue 10; main at 306a1e1): ipcache + auth entry only, no
 * policy stage, no conntrack. Its "allowed" verdict is what the established path is compared with.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "latch_abi.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#include "latch_maps.h"

/* What the parser learnt about one packet. */
struct pkt {
	struct latch_ip src;
	struct latch_ip dst;
	__u16 sport;
	__u16 dport;
	__u8 family;
	__u8 proto;
};

enum parse_result {
	PARSE_OK,
	PARSE_NON_IP,
	PARSE_MALFORMED,
};

/* Reads ports (TCP/UDP) or ICMP type/code at l4; leaves zeros when not available. */
static __always_inline void parse_l4(struct pkt *p, void *l4, void *data_end)
{
	if (p->proto == IPPROTO_TCP || p->proto == IPPROTO_UDP || p->proto == IPPROTO_SCTP) {
		__be16 *ports = l4;

		if ((void *)(ports + 2) <= data_end) {
			p->sport = bpf_ntohs(ports[0]);
			p->dport = bpf_ntohs(ports[1]);
		}
	} else if (p->proto == IPPROTO_ICMP || p->proto == IPPROTO_ICMPV6) {
		__u8 *icmp = l4;

		if ((void *)(icmp + 2) <= data_end)
			p->sport = (__u16)icmp[0] << 8 | icmp[1];
	}
}

static __always_inline enum parse_result parse(struct __sk_buff *skb, struct pkt *p)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;

	__builtin_memset(p, 0, sizeof(*p));
	if ((void *)(eth + 1) > data_end)
		return PARSE_NON_IP;

	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);
		__u32 ihl;

		if ((void *)(ip + 1) > data_end)
			return PARSE_MALFORMED;
		ihl = ip->ihl * 4;
		if (ip->version != 4 || ihl < sizeof(*ip))
			return PARSE_MALFORMED;
		p->family = 4;
		p->proto = ip->protocol;
		ipv4_mapped(&p->src, ip->saddr);
		ipv4_mapped(&p->dst, ip->daddr);
		/* only the first fragment carries the L4 header */
		if (!(ip->frag_off & bpf_htons(0x1fff)))
			parse_l4(p, (void *)ip + ihl, data_end);
		return PARSE_OK;
	}
	if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > data_end)
			return PARSE_MALFORMED;
		if (ip6->version != 6)
			return PARSE_MALFORMED;
		p->family = 6;
		p->proto = ip6->nexthdr;
		__builtin_memcpy(p->src.addr, &ip6->saddr, 16);
		__builtin_memcpy(p->dst.addr, &ip6->daddr, 16);
		/* ports only when no extension header follows; enforcement never needs them */
		parse_l4(p, ip6 + 1, data_end);
		return PARSE_OK;
	}
	return PARSE_NON_IP;
}

/*
 * An ICMP error the node's own stack sends towards a workload (fragmentation needed / packet too big,
 * time exceeded, parameter problem). The node is trusted, and dropping these would break path-MTU
 * discovery for every mesh flow through the tunnel. Only locally generated packets qualify
 * (ingress_ifindex 0): a forwarded ICMP error from an unknown source is still dropped.
 */
static __always_inline int host_icmp_error(const struct __sk_buff *skb, const struct pkt *p)
{
	__u8 type = p->sport >> 8;

	if (skb->ingress_ifindex != 0)
		return 0;
	if (p->proto == IPPROTO_ICMP)
		return type == 3 || type == 11 || type == 12;
	if (p->proto == IPPROTO_ICMPV6)
		return type >= 1 && type <= 4;
	return 0;
}

/* Writes an event unless the same (src, dst, ifindex, reason) had one within config.event_interval_ns. */
static __always_inline void emit(struct __sk_buff *skb, const struct pkt *p, __u32 type, __u32 reason,
				 __u32 src_id, __u32 dst_id, __u8 direction, __u64 now)
{
	struct latch_event_rl_key rk = {
		.src_id = src_id, .dst_id = dst_id, .ifindex = skb->ifindex, .reason = reason,
	};
	struct latch_event_rl_value *rv, fresh = { .last_ns = now };
	struct latch_config *cfg;
	__u32 zero = 0, suppressed = 0;
	struct latch_event *e;

	cfg = bpf_map_lookup_elem(&config, &zero);
	if (cfg && cfg->event_interval_ns) {
		rv = bpf_map_lookup_elem(&event_rl, &rk);
		if (rv) {
			if (now - rv->last_ns < cfg->event_interval_ns) {
				__sync_fetch_and_add(&rv->suppressed, 1);
				count(LATCH_R_EVENT_SUPPRESSED, 0);
				return;
			}
			suppressed = rv->suppressed;
			rv->suppressed = 0;
			rv->last_ns = now;
		} else {
			bpf_map_update_elem(&event_rl, &rk, &fresh, BPF_ANY);
		}
	}

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(LATCH_R_EVENT_LOST, 0);
		return;
	}
	e->ts_ns = now;
	e->type = type;
	e->reason = reason;
	e->src_id = src_id;
	e->dst_id = dst_id;
	e->ifindex = skb->ifindex;
	e->ingress_ifindex = skb->ingress_ifindex;
	e->suppressed = suppressed;
	e->len = skb->len;
	e->sport = p->sport;
	e->dport = p->dport;
	e->family = p->family;
	e->proto = p->proto;
	e->direction = direction;
	e->_pad = 0;
	__builtin_memcpy(&e->src, &p->src, sizeof(e->src));
	__builtin_memcpy(&e->dst, &p->dst, sizeof(e->dst));
	bpf_ringbuf_submit(e, 0);
}

static __always_inline int drop(struct __sk_buff *skb, const struct pkt *p, __u32 type, __u32 reason,
				__u32 src_id, __u32 dst_id, __u8 direction)
{
	count(reason, skb->len);
	emit(skb, p, type, reason, src_id, dst_id, direction, bpf_ktime_get_boot_ns());
	return TC_ACT_SHOT;
}

static __always_inline int pass(struct __sk_buff *skb, __u32 reason)
{
	count(reason, skb->len);
	return TC_ACT_OK;
}

SEC("tc")
int from_workload(struct __sk_buff *skb)
{
	struct latch_endpoint_value *ep;
	__u32 ifindex = skb->ifindex;
	struct pkt p;
	__u32 i;

	switch (parse(skb, &p)) {
	case PARSE_NON_IP:
		return pass(skb, LATCH_R_PASS_NON_IP);
	case PARSE_MALFORMED:
		return drop(skb, &p, LATCH_EV_DROP, LATCH_R_DROP_MALFORMED, 0, 0, LATCH_DIR_FROM_WORKLOAD);
	default:
		break;
	}

	if (p.family == 6 && p.src.addr[0] == 0xfe && (p.src.addr[1] & 0xc0) == 0x80)
		return pass(skb, LATCH_R_PASS_LINK_LOCAL);

	ep = bpf_map_lookup_elem(&endpoints, &ifindex);
	if (!ep)
		return drop(skb, &p, LATCH_EV_DROP, LATCH_R_DROP_NO_ENDPOINT, 0, 0, LATCH_DIR_FROM_WORKLOAD);

	for (i = 0; i < LATCH_MAX_ENDPOINT_ADDRS; i++) {
		if (i >= ep->n_addrs)
			break;
		if (ip_equal(&ep->addrs[i], &p.src))
			return pass(skb, LATCH_R_PASS_SOURCE_OK);
	}
	return drop(skb, &p, LATCH_EV_DROP, LATCH_R_DROP_SPOOFED, ep->identity, 0, LATCH_DIR_FROM_WORKLOAD);
}

SEC("tc")
int to_workload(struct __sk_buff *skb)
{
	struct latch_ipcache_value *src, *dst;
	struct latch_auth_key ak = {};
	struct latch_auth_value *av;
	__u32 dst_id, src_id;
	struct pkt p;
	__u64 now;

	switch (parse(skb, &p)) {
	case PARSE_NON_IP:
		return pass(skb, LATCH_R_PASS_NON_IP);
	case PARSE_MALFORMED:
		return drop(skb, &p, LATCH_EV_DROP, LATCH_R_DROP_MALFORMED, 0, 0, LATCH_DIR_TO_WORKLOAD);
	default:
		break;
	}

	dst = ipcache_lookup(&p.dst);
	if (!dst)
		return pass(skb, LATCH_R_PASS_NOT_MESH);
	dst_id = dst->identity;

	src = ipcache_lookup(&p.src);
	if (!src && host_icmp_error(skb, &p))
		return pass(skb, LATCH_R_PASS_HOST_ICMP_ERROR);
	if (!src)
		return drop(skb, &p, LATCH_EV_DROP, LATCH_R_DROP_UNKNOWN_SOURCE, 0, dst_id, LATCH_DIR_TO_WORKLOAD);
	src_id = src->identity;

	if (src->flags & LATCH_IPCACHE_F_REMOTE) {
		if (src->ifindex == 0 || skb->ingress_ifindex != src->ifindex)
			return drop(skb, &p, LATCH_EV_DROP, LATCH_R_DROP_NOT_VIA_TUNNEL, src_id, dst_id,
				    LATCH_DIR_TO_WORKLOAD);
	} else if (src->ifindex != 0 && skb->ingress_ifindex != src->ifindex) {
		return drop(skb, &p, LATCH_EV_DROP, LATCH_R_DROP_WRONG_INGRESS, src_id, dst_id,
			    LATCH_DIR_TO_WORKLOAD);
	}

	ak.src_id = src_id;
	ak.dst_id = dst_id;
	av = bpf_map_lookup_elem(&auth, &ak);
	if (!av)
		return drop(skb, &p, LATCH_EV_AUTH_REQUIRED, LATCH_R_DROP_NO_AUTH, src_id, dst_id,
			    LATCH_DIR_TO_WORKLOAD);
	now = bpf_ktime_get_boot_ns();
	if (av->expires_ns <= now)
		return drop(skb, &p, LATCH_EV_AUTH_REQUIRED, LATCH_R_DROP_AUTH_EXPIRED, src_id, dst_id,
			    LATCH_DIR_TO_WORKLOAD);
	return pass(skb, LATCH_R_ALLOWED);
}
