// SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0)
/*
 * latch datapath: identity-pair enforcement at the host side of each workload interface.
 * The rules, the clock and every shared struct are documented in include/latch_abi.h.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <linux/tcp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "latch_abi.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#include "latch_maps.h"

/* What the parser learnt about one packet. */
enum frag_kind {
	FRAG_NONE = 0,
	FRAG_FIRST = 1,                   /* offset 0, more fragments follow */
	FRAG_LATER = 2,                   /* offset != 0: no L4 header */
};

enum icmp_kind {
	ICMP_NONE = 0,                    /* not ICMP */
	ICMP_ECHO = 1,                    /* echo request */
	ICMP_ECHO_REPLY = 2,
	ICMP_ERROR = 3,                   /* destination unreachable, time exceeded, ... */
	ICMP_OTHER = 4,
};

struct pkt {
	struct latch_ip src;
	struct latch_ip dst;
	__u16 sport;                      /* as in events: ports, or ICMP type << 8 | code */
	__u16 dport;
	__u16 ct_sport;                   /* the tuple conntrack uses: ports, or the echo id twice */
	__u16 ct_dport;
	__u32 frag_id;
	__u32 l4_off;                     /* offset of the L4 header from the start of the frame */
	__u8 family;
	__u8 proto;
	__u8 tcp_flags;
	__u8 frag;                        /* enum frag_kind */
	__u8 icmp;                        /* enum icmp_kind */
	__u8 _pad[3];
};

enum parse_result {
	PARSE_OK,
	PARSE_NON_IP,
	PARSE_MALFORMED,
};

#define ETH_HLEN_ 14
#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10
#define NS 1000000000ULL

static __always_inline int ported(__u8 proto)
{
	return proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == IPPROTO_SCTP;
}

static __always_inline int is_icmp(__u8 proto)
{
	return proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6;
}

static __always_inline __u8 icmp_kind_of(__u8 proto, __u8 type)
{
	if (proto == IPPROTO_ICMP) {
		if (type == 8)
			return ICMP_ECHO;
		if (type == 0)
			return ICMP_ECHO_REPLY;
		if (type == 3 || type == 11 || type == 12)
			return ICMP_ERROR;
		return ICMP_OTHER;
	}
	if (type == 128)
		return ICMP_ECHO;
	if (type == 129)
		return ICMP_ECHO_REPLY;
	if (type >= 1 && type <= 4)
		return ICMP_ERROR;
	return ICMP_OTHER;
}

/*
 * Reads the L4 header at p->l4_off: TCP/UDP/SCTP ports (+ TCP flags), ICMP type/code/echo id.
 * Read with bpf_skb_load_bytes, so a header outside the linear part of the skb is read too.
 * A first (or only) fragment whose L4 header is truncated is malformed.
 */
static __always_inline enum parse_result parse_l4(struct __sk_buff *skb, struct pkt *p)
{
	__u8 h[14];

	if (p->frag == FRAG_LATER)
		return PARSE_OK;
	if (p->proto == IPPROTO_TCP) {
		if (bpf_skb_load_bytes(skb, p->l4_off, h, 14))
			return PARSE_MALFORMED;
		p->tcp_flags = h[13];
	} else if (ported(p->proto) || is_icmp(p->proto)) {
		if (bpf_skb_load_bytes(skb, p->l4_off, h, 8))
			return PARSE_MALFORMED;
	} else {
		return PARSE_OK;
	}
	if (ported(p->proto)) {
		p->sport = (__u16)h[0] << 8 | h[1];
		p->dport = (__u16)h[2] << 8 | h[3];
		p->ct_sport = p->sport;
		p->ct_dport = p->dport;
		return PARSE_OK;
	}
	p->sport = (__u16)h[0] << 8 | h[1];
	p->icmp = icmp_kind_of(p->proto, h[0]);
	if (p->icmp == ICMP_ECHO || p->icmp == ICMP_ECHO_REPLY) {
		p->ct_sport = (__u16)h[4] << 8 | h[5];
		p->ct_dport = p->ct_sport;
	}
	return PARSE_OK;
}

/* IPv6 extension headers between the fixed header and the L4 header (RFC 8200 §4). */
static __always_inline enum parse_result parse_ipv6_ext(struct __sk_buff *skb, struct pkt *p)
{
	__u32 off = ETH_HLEN_ + sizeof(struct ipv6hdr);
	__u8 next = p->proto;
	__u8 h[8];
	int i;

	for (i = 0; i < LATCH_IPV6_MAX_EXT_HDRS; i++) {
		if (next != IPPROTO_HOPOPTS && next != IPPROTO_ROUTING && next != IPPROTO_DSTOPTS &&
		    next != IPPROTO_FRAGMENT && next != IPPROTO_AH)
			break;
		if (bpf_skb_load_bytes(skb, off, h, 8))
			return PARSE_MALFORMED;
		if (next == IPPROTO_FRAGMENT) {
			__u16 fo = (__u16)h[2] << 8 | h[3];

			__builtin_memcpy(&p->frag_id, &h[4], 4);
			if (fo & 0xfff8)
				p->frag = FRAG_LATER;
			else if (fo & 1)
				p->frag = FRAG_FIRST;
			off += 8;
		} else if (next == IPPROTO_AH) {
			off += ((__u32)h[1] + 2) * 4;
		} else {
			off += ((__u32)h[1] + 1) * 8;
		}
		next = h[0];
		if (p->frag == FRAG_LATER)
			break;
	}
	if (i == LATCH_IPV6_MAX_EXT_HDRS)
		return PARSE_MALFORMED;
	p->proto = next;
	p->l4_off = off;
	return PARSE_OK;
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
		__u16 fo;
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
		fo = bpf_ntohs(ip->frag_off);
		if (fo & 0x1fff)
			p->frag = FRAG_LATER;
		else if (fo & 0x2000)
			p->frag = FRAG_FIRST;
		p->frag_id = bpf_ntohs(ip->id);
		p->l4_off = ETH_HLEN_ + ihl;
		return parse_l4(skb, p);
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
		p->l4_off = ETH_HLEN_ + sizeof(*ip6);
		if (parse_ipv6_ext(skb, p) != PARSE_OK)
			return PARSE_MALFORMED;
		return parse_l4(skb, p);
	}
	return PARSE_NON_IP;
}

/*
 * The flow an ICMP error quotes (its inner IP header + the first 8 bytes of L4) as a conntrack key
 * in the orientation it was sent; the caller picks the direction. Inner IPv6 extension headers
 * are not followed. Returns 0 when the quote is unreadable.
 */
static __always_inline int parse_icmp_inner(struct __sk_buff *skb, const struct pkt *p,
					    struct latch_ct_key *k)
{
	__u32 off = p->l4_off + 8;
	__u8 h[40];
	__u8 l4[8];
	__u32 l4_off;

	__builtin_memset(k, 0, sizeof(*k));
	if (p->family == 4) {
		__u32 ihl;
		__be32 a;

		if (bpf_skb_load_bytes(skb, off, h, 20))
			return 0;
		ihl = (h[0] & 0xf) * 4;
		if ((h[0] >> 4) != 4 || ihl < 20)
			return 0;
		k->proto = h[9];
		__builtin_memcpy(&a, &h[12], 4);
		ipv4_mapped(&k->src, a);
		__builtin_memcpy(&a, &h[16], 4);
		ipv4_mapped(&k->dst, a);
		l4_off = off + ihl;
	} else {
		if (bpf_skb_load_bytes(skb, off, h, 40))
			return 0;
		if ((h[0] >> 4) != 6)
			return 0;
		k->proto = h[6];
		__builtin_memcpy(k->src.addr, &h[8], 16);
		__builtin_memcpy(k->dst.addr, &h[24], 16);
		l4_off = off + 40;
	}
	if (ported(k->proto)) {
		if (bpf_skb_load_bytes(skb, l4_off, l4, 4))
			return 0;
		k->sport = (__u16)l4[0] << 8 | l4[1];
		k->dport = (__u16)l4[2] << 8 | l4[3];
	} else if (is_icmp(k->proto)) {
		__u8 kind;

		if (bpf_skb_load_bytes(skb, l4_off, l4, 8))
			return 0;
		kind = icmp_kind_of(k->proto, l4[0]);
		if (kind == ICMP_ECHO || kind == ICMP_ECHO_REPLY) {
			k->sport = (__u16)l4[4] << 8 | l4[5];
			k->dport = k->sport;
		}
	}
	return 1;
}

/*
 * An ICMP error the node's own stack sends towards a workload (fragmentation needed / packet too big,
 * time exceeded, parameter problem). The node is trusted, and dropping these would break path-MTU
 * discovery for untracked traffic. Only locally generated packets qualify (ingress_ifindex 0).
 */
static __always_inline int host_icmp_error(const struct __sk_buff *skb, const struct pkt *p)
{
	return skb->ingress_ifindex == 0 && p->icmp == ICMP_ERROR;
}

static __always_inline struct latch_config *config_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&config, &zero);
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
	__u32 suppressed = 0;
	struct latch_event *e;

	cfg = config_get();
	if (cfg && cfg->event_interval_ns) {
		if (!src_id) {
			/* no identity: the source address stands for it (two unknown sources, two events) */
			__u32 w[4];

			__builtin_memcpy(w, &p->src, sizeof(w));
			rk.src_id = w[0] ^ w[1] ^ w[2] ^ w[3];
		}
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

/* ---- policy and auth ---------------------------------------------------------------------- */

static __always_inline int l4_allowed(const struct latch_policy_value *v, __u8 proto, __u16 port)
{
	__u32 i;

	if (v->flags & LATCH_POLICY_F_ANY)
		return 1;
	for (i = 0; i < LATCH_POLICY_MAX_RANGES; i++) {
		const struct latch_port_range *r = &v->ranges[i];

		if (i >= v->n_ranges)
			break;
		if (r->proto == proto && port >= r->low && port <= r->high)
			return 1;
	}
	return 0;
}

/*
 * May src open a flow of proto to dst's port, and is the pair authenticated? Returns LATCH_R_ALLOWED
 * or the drop reason of the stage that said no.
 */
/* `until`: how long an ALLOWED verdict holds (the auth entry's expiry; the node: forever). */
static __always_inline __u32 check_pair(__u32 src_id, __u32 dst_id, __u8 proto, __u16 port, __u64 now,
					__u64 *until)
{
	struct latch_policy_key pk = { .src_id = src_id, .dst_id = dst_id };
	struct latch_policy_value *pv;
	struct latch_auth_key ak = { .src_id = src_id, .dst_id = dst_id };
	struct latch_auth_value *av;

	pv = bpf_map_lookup_elem(&policy, &pk);
	if (!pv) {
		pk.src_id = dst_id;
		pk.dst_id = src_id;
		return bpf_map_lookup_elem(&policy, &pk) ? LATCH_R_DROP_REVERSE : LATCH_R_DROP_NO_RULE;
	}
	if (!l4_allowed(pv, proto, ported(proto) ? port : 0))
		return LATCH_R_DROP_PORT_NOT_ALLOWED;
	if (src_id == LATCH_ID_NODE) {
		*until = ~0ULL;
		return LATCH_R_ALLOWED;
	}
	av = bpf_map_lookup_elem(&auth, &ak);
	if (!av)
		return LATCH_R_DROP_NO_AUTH;
	if (av->expires_ns <= now)
		return LATCH_R_DROP_AUTH_EXPIRED;
	*until = av->expires_ns;
	return LATCH_R_ALLOWED;
}

/*
 * A tracked flow's verdict: the one its entry keeps while it is current (same verdict_gen, before
 * its expiry), else check_pair, kept for the next packets when it allows.
 */
static __always_inline __u32 flow_verdict(struct latch_ct_value *v, __u64 gen, __u32 opener, __u32 peer,
					  __u8 proto, __u16 port, __u64 now)
{
	__u64 until = 0;
	__u32 verdict;

	if (gen != 0 && v->verdict_gen == gen && now < v->verdict_until_ns)
		return LATCH_R_ALLOWED;
	verdict = check_pair(opener, peer, proto, port, now, &until);
	if (verdict == LATCH_R_ALLOWED) {
		/* the expiry first: a racing packet's older check can only make the next one re-check */
		v->verdict_until_ns = until;
		v->verdict_gen = gen;
	}
	return verdict;
}

static __always_inline __u32 event_type_of(__u32 reason)
{
	return reason == LATCH_R_DROP_NO_AUTH || reason == LATCH_R_DROP_AUTH_EXPIRED ? LATCH_EV_AUTH_REQUIRED
										       : LATCH_EV_DROP;
}

/* ---- connection tracking ------------------------------------------------------------------ */

static __always_inline __u64 pick(__u64 configured, __u64 default_s)
{
	return configured ? configured : default_s * NS;
}

static __always_inline __u64 ct_timeout(const struct latch_config *cfg, __u8 proto, __u8 state)
{
	if (!cfg)
		return LATCH_CT_DEFAULT_TCP_CLOSED_S * NS;
	if (proto == IPPROTO_TCP) {
		if (state == LATCH_CT_ESTABLISHED)
			return pick(cfg->ct_tcp_established_ns, LATCH_CT_DEFAULT_TCP_ESTABLISHED_S);
		if (state == LATCH_CT_CLOSING)
			return pick(cfg->ct_tcp_closing_ns, LATCH_CT_DEFAULT_TCP_CLOSING_S);
		if (state == LATCH_CT_CLOSED)
			return pick(cfg->ct_tcp_closed_ns, LATCH_CT_DEFAULT_TCP_CLOSED_S);
		return pick(cfg->ct_tcp_syn_ns, LATCH_CT_DEFAULT_TCP_SYN_S);
	}
	if (proto == IPPROTO_UDP)
		return pick(cfg->ct_udp_ns, LATCH_CT_DEFAULT_UDP_S);
	if (is_icmp(proto))
		return pick(cfg->ct_icmp_ns, LATCH_CT_DEFAULT_ICMP_S);
	return pick(cfg->ct_other_ns, LATCH_CT_DEFAULT_OTHER_S);
}

static __always_inline __u8 opposite(__u8 direction)
{
	return direction == LATCH_DIR_FROM_WORKLOAD ? LATCH_DIR_TO_WORKLOAD : LATCH_DIR_FROM_WORKLOAD;
}

static __always_inline void ct_key_of(struct latch_ct_key *k, const struct pkt *p, __u8 direction, int swap)
{
	if (swap) {
		__builtin_memcpy(&k->src, &p->dst, sizeof(k->src));
		__builtin_memcpy(&k->dst, &p->src, sizeof(k->dst));
		k->sport = p->ct_dport;
		k->dport = p->ct_sport;
	} else {
		__builtin_memcpy(&k->src, &p->src, sizeof(k->src));
		__builtin_memcpy(&k->dst, &p->dst, sizeof(k->dst));
		k->sport = p->ct_sport;
		k->dport = p->ct_dport;
	}
	k->proto = p->proto;
	k->direction = direction;
	k->_pad = 0;
}

/* The live entry of k, or NULL; an entry idle longer than its timeout is deleted. */
static __always_inline struct latch_ct_value *ct_find(const struct latch_ct_key *k,
						      const struct latch_config *cfg, __u64 now)
{
	struct latch_ct_value *v = bpf_map_lookup_elem(&ct, k);

	if (!v)
		return NULL;
	if (now - v->last_ns > ct_timeout(cfg, k->proto, v->state)) {
		bpf_map_delete_elem(&ct, k);
		return NULL;
	}
	return v;
}

/* Moves the entry on with one packet of its flow (reply: sent by the end that accepted it). */
static __always_inline void ct_step(struct latch_ct_value *v, const struct pkt *p, int reply, __u64 now)
{
	__u8 state = v->state;

	v->last_ns = now;
	if (p->proto != IPPROTO_TCP) {
		if (reply && state == LATCH_CT_NEW)
			v->state = LATCH_CT_ESTABLISHED;
		return;
	}
	if (p->tcp_flags & TCP_RST) {
		v->state = LATCH_CT_CLOSED;
		return;
	}
	if (p->tcp_flags & TCP_FIN) {
		__u8 flags = v->flags | (reply ? LATCH_CT_F_FIN_REPLY : LATCH_CT_F_FIN_ORIG);

		v->flags = flags;
		if ((flags & (LATCH_CT_F_FIN_ORIG | LATCH_CT_F_FIN_REPLY)) ==
		    (LATCH_CT_F_FIN_ORIG | LATCH_CT_F_FIN_REPLY))
			v->state = LATCH_CT_CLOSED;
		else if (state < LATCH_CT_CLOSING)
			v->state = LATCH_CT_CLOSING;
		return;
	}
	if (reply && state == LATCH_CT_NEW)
		v->state = LATCH_CT_ESTABLISHED;
}

/* `gen`, `until`: the verdict that let the flow open (see flow_verdict) */
static __always_inline void ct_create(const struct latch_ct_key *k, const struct pkt *p, __u32 src_id,
				      __u32 dst_id, __u32 ifindex, __u64 now, __u64 gen, __u64 until)
{
	struct latch_ct_value v = {
		.created_ns = now, .last_ns = now, .src_id = src_id, .dst_id = dst_id, .ifindex = ifindex,
		.state = LATCH_CT_NEW, .verdict_gen = gen, .verdict_until_ns = until,
	};

	if (p->proto == IPPROTO_TCP) {
		__u8 f = p->tcp_flags;

		if (f & TCP_RST)
			v.state = LATCH_CT_CLOSED;
		else if (f & TCP_FIN) {
			v.state = LATCH_CT_CLOSING;
			v.flags = LATCH_CT_F_FIN_ORIG;
		} else if (!(f & TCP_SYN) || (f & TCP_ACK))
			v.state = LATCH_CT_ESTABLISHED; /* picked up mid-stream */
	}
	bpf_map_update_elem(&ct, k, &v, BPF_ANY);
}

static __always_inline void frag_key_of(struct latch_frag_key *k, const struct pkt *p, __u8 direction)
{
	__builtin_memcpy(&k->src, &p->src, sizeof(k->src));
	__builtin_memcpy(&k->dst, &p->dst, sizeof(k->dst));
	k->id = p->frag_id;
	k->proto = p->proto;
	k->direction = direction;
	k->_pad = 0;
}

/* A packet that passed: when it is a first fragment, its later fragments may follow. */
static __always_inline int pass_flow(struct __sk_buff *skb, const struct pkt *p, __u8 direction,
				     __u32 reason, __u64 now)
{
	if (p->frag == FRAG_FIRST) {
		struct latch_frag_key fk;
		struct latch_frag_value fv = { .first_ns = now };

		frag_key_of(&fk, p, direction);
		bpf_map_update_elem(&frags, &fk, &fv, BPF_ANY);
	}
	return pass(skb, reason);
}

/*
 * The verdict on a mesh packet between identities src_id -> dst_id, seen by the program of
 * `direction` (see "enforce" in latch_abi.h).
 */
static __always_inline int enforce(struct __sk_buff *skb, const struct pkt *p, __u32 src_id, __u32 dst_id,
				   __u8 direction)
{
	struct latch_config *cfg = config_get();
	/* read before any map it vouches for (see flow_verdict) */
	__u64 gen = cfg ? cfg->verdict_gen : 0;
	__u64 now = bpf_ktime_get_boot_ns();
	struct latch_ct_value *v;
	struct latch_ct_key k;
	__u64 until = 0;
	__u32 verdict;

	if (p->frag == FRAG_LATER) {
		struct latch_frag_key fk;
		struct latch_frag_value *fv;
		__u64 limit = cfg ? pick(cfg->frag_ns, LATCH_CT_DEFAULT_FRAG_S) : LATCH_CT_DEFAULT_FRAG_S * NS;

		frag_key_of(&fk, p, direction);
		fv = bpf_map_lookup_elem(&frags, &fk);
		if (fv && now - fv->first_ns <= limit)
			return pass(skb, LATCH_R_PASS_FRAGMENT);
		return drop(skb, p, LATCH_EV_DROP, LATCH_R_DROP_FRAGMENT, src_id, dst_id, direction);
	}

	if (p->icmp == ICMP_ERROR) {
		struct latch_ct_key inner;

		if (parse_icmp_inner(skb, p, &inner)) {
			/* the quoted packet went the other way: sent by this packet's destination */
			inner.direction = opposite(direction);
			if (ct_find(&inner, cfg, now))
				return pass_flow(skb, p, direction, LATCH_R_PASS_RELATED, now);
			/* ... or it was a reply of a flow opened towards this packet's destination */
			__builtin_memcpy(&k.src, &inner.dst, sizeof(k.src));
			__builtin_memcpy(&k.dst, &inner.src, sizeof(k.dst));
			k.sport = inner.dport;
			k.dport = inner.sport;
			k.proto = inner.proto;
			k.direction = direction;
			k._pad = 0;
			if (ct_find(&k, cfg, now))
				return pass_flow(skb, p, direction, LATCH_R_PASS_RELATED, now);
		}
		if (host_icmp_error(skb, p))
			return pass(skb, LATCH_R_PASS_HOST_ICMP_ERROR);
		return drop(skb, p, LATCH_EV_DROP, LATCH_R_DROP_CT_UNRELATED, src_id, dst_id, direction);
	}

	/* a packet of a flow this end saw opening, in its opening direction */
	if (p->icmp != ICMP_ECHO_REPLY) {
		ct_key_of(&k, p, direction, 0);
		v = ct_find(&k, cfg, now);
		if (v && !(v->state == LATCH_CT_CLOSED && p->proto == IPPROTO_TCP &&
			   (p->tcp_flags & (TCP_SYN | TCP_ACK)) == TCP_SYN)) {
			verdict = flow_verdict(v, gen, src_id, dst_id, p->proto, p->ct_dport, now);
			if (verdict != LATCH_R_ALLOWED) {
				bpf_map_delete_elem(&ct, &k);
				return drop(skb, p, event_type_of(verdict), verdict, src_id, dst_id, direction);
			}
			ct_step(v, p, 0, now);
			return pass_flow(skb, p, direction, LATCH_R_PASS_ESTABLISHED, now);
		}
	}

	/* a reply: the flow was opened the other way, seen by the other program of this workload */
	if (p->icmp != ICMP_ECHO) {
		ct_key_of(&k, p, opposite(direction), 1);
		v = ct_find(&k, cfg, now);
		if (v) {
			/* re-check the rule of the flow's opener (this packet's destination) */
			verdict = flow_verdict(v, gen, dst_id, src_id, p->proto, p->ct_sport, now);
			if (verdict != LATCH_R_ALLOWED) {
				bpf_map_delete_elem(&ct, &k);
				return drop(skb, p, event_type_of(verdict), verdict, dst_id, src_id, direction);
			}
			ct_step(v, p, 1, now);
			return pass_flow(skb, p, direction, LATCH_R_PASS_REPLY, now);
		}
	}

	/* a new flow */
	verdict = check_pair(src_id, dst_id, p->proto, p->ct_dport, now, &until);
	if (verdict != LATCH_R_ALLOWED)
		return drop(skb, p, event_type_of(verdict), verdict, src_id, dst_id, direction);
	ct_key_of(&k, p, direction, 0);
	ct_create(&k, p, src_id, dst_id, skb->ifindex, now, gen, until);
	return pass_flow(skb, p, direction, LATCH_R_ALLOWED, now);
}

/* :: (the unspecified address) */
static __always_inline int ip6_unspecified(const struct latch_ip *a)
{
	__u32 i;

	for (i = 0; i < 16; i++)
		if (a->addr[i])
			return 0;
	return 1;
}

/* ---- programs ----------------------------------------------------------------------------- */

SEC("tc")
int from_workload(struct __sk_buff *skb)
{
	struct latch_endpoint_value *ep;
	struct latch_ipcache_value *dst;
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
	/* a new interface's duplicate address detection and MLD reports come from :: to a link-scope
	 * multicast group (ff02::/16): they never leave the link either */
	if (p.family == 6 && p.dst.addr[0] == 0xff && (p.dst.addr[1] & 0x0f) == 0x02 && ip6_unspecified(&p.src))
		return pass(skb, LATCH_R_PASS_LINK_LOCAL);

	ep = bpf_map_lookup_elem(&endpoints, &ifindex);
	if (!ep)
		return drop(skb, &p, LATCH_EV_DROP, LATCH_R_DROP_NO_ENDPOINT, 0, 0, LATCH_DIR_FROM_WORKLOAD);

	for (i = 0; i < LATCH_MAX_ENDPOINT_ADDRS; i++) {
		if (i >= ep->n_addrs)
			break;
		if (ip_equal(&ep->addrs[i], &p.src))
			goto source_ok;
	}
	return drop(skb, &p, LATCH_EV_DROP, LATCH_R_DROP_SPOOFED, ep->identity, 0, LATCH_DIR_FROM_WORKLOAD);

source_ok:
	dst = ipcache_lookup(&p.dst);
	if (!dst)
		return pass(skb, LATCH_R_PASS_SOURCE_OK);
	return enforce(skb, &p, ep->identity, dst->identity, LATCH_DIR_FROM_WORKLOAD);
}

SEC("tc")
int to_workload(struct __sk_buff *skb)
{
	struct latch_ipcache_value *src, *dst;
	__u32 dst_id, src_id;
	struct pkt p;

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
	if (!src) {
		/* the node's own stack (health probes, agents, its ICMP errors) */
		if (skb->ingress_ifindex == 0)
			return enforce(skb, &p, LATCH_ID_NODE, dst_id, LATCH_DIR_TO_WORKLOAD);
		/*
		 * forwarded from elsewhere: maybe a remote workload whose pair is not authenticated yet (its
		 * ipcache entry comes with the pair). Dropped; the event asks user space to resolve the
		 * source from the inventory of the node it came through and authenticate on demand.
		 */
		return drop(skb, &p, LATCH_EV_AUTH_REQUIRED, LATCH_R_DROP_UNKNOWN_SOURCE, 0, dst_id,
			    LATCH_DIR_TO_WORKLOAD);
	}
	src_id = src->identity;

	if (src->flags & LATCH_IPCACHE_F_REMOTE) {
		if (src->ifindex == 0 || skb->ingress_ifindex != src->ifindex)
			return drop(skb, &p, LATCH_EV_DROP, LATCH_R_DROP_NOT_VIA_TUNNEL, src_id, dst_id,
				    LATCH_DIR_TO_WORKLOAD);
	} else if (src->ifindex != 0 && skb->ingress_ifindex != src->ifindex) {
		return drop(skb, &p, LATCH_EV_DROP, LATCH_R_DROP_WRONG_INGRESS, src_id, dst_id,
			    LATCH_DIR_TO_WORKLOAD);
	}
	return enforce(skb, &p, src_id, dst_id, LATCH_DIR_TO_WORKLOAD);
}
