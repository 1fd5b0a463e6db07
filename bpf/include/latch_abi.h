/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * latch_abi.h: the ONE definition of everything the latch datapath shares with user space.
 *
 * Included by the eBPF programs (bpf/latch.bpf.c), by the native addon (native/src/) and compiled
 * into bpf/abi.o, whose BTF is the source the TypeScript encoders in daemon/datapath/abi/ are
 * generated from (daemon/datapath/abi/generate.ts). A test compares every size and offset of the
 * generated TypeScript with the addon's sizeof/offsetof. Change a struct here, rebuild, regenerate.
 *
 * Byte order: every integer field is in HOST byte order, except IP addresses (struct latch_ip),
 * which are network-order bytes exactly as on the wire. Ports in events are converted to host order.
 *
 * Addresses: one 16-byte form for both families. IPv4 is stored IPv4-mapped (::ffff:a.b.c.d), so an
 * IPv4 /n prefix is an ipcache prefix of 96 + n bits.
 *
 * Clock: every timestamp and expiry is CLOCK_BOOTTIME in nanoseconds (bpf_ktime_get_boot_ns() in the
 * programs, clock_gettime(CLOCK_BOOTTIME) in user space). BOOTTIME keeps counting through suspend, so
 * an auth entry derived from a certificate's NotAfter cannot outlive it. User space converts wall
 * clock <-> boot ns in exactly one place (daemon/datapath/clock.ts).
 *
 * Programs (tc clsact, direct-action), attached on the HOST side of each workload's veth:
 *   from_workload  (ingress: packets sent BY the workload; the SOURCE end of a flow)
 *     IPv4/IPv6 only; the source address must be one of endpoints[skb->ifindex].addrs
 *     (IPv6 link-local sources pass: they never leave the link). No endpoint entry -> drop.
 *     dst not in ipcache            -> pass SOURCE_OK (not mesh traffic; not tracked)
 *     otherwise                     -> enforce(src = the endpoint's identity, dst = ipcache identity)
 *   to_workload    (egress: packets travelling TOWARDS the workload; the DESTINATION end)
 *     dst not in ipcache            -> untouched (not mesh traffic)
 *     src not in ipcache            -> locally generated (ingress_ifindex 0): src = LATCH_ID_NODE, the
 *                                      node's own stack (health probes, agents), then enforce;
 *                                      forwarded from elsewhere: drop UNKNOWN_SOURCE with an
 *                                      AUTH_REQUIRED event (src_id 0, the source address, the
 *                                      ingress ifindex): a remote workload has no ipcache entry
 *                                      before its pair authenticated, so user space resolves the
 *                                      address from the checked inventory of the peer node behind
 *                                      the tunnel it arrived on and authenticates the pair on
 *                                      demand (daemon/node/pair-service.ts); an event whose
 *                                      ingress is not the tunnel is shown as a plain drop
 *     src entry has ifindex != 0 and skb->ingress_ifindex != entry.ifindex
 *                                   -> drop NOT_VIA_TUNNEL (remote entry) / WRONG_INGRESS (local entry)
 *     otherwise                     -> enforce(src = ipcache identity of src, dst = of dst)
 *   Both ends enforce: a denied flow is dropped (and counted) at the source before it reaches the
 *   tunnel, and again at the destination, which never trusts the source node's verdict.
 *
 * enforce(src_id, dst_id), in this order:
 *   non-first fragment              -> pass FRAGMENT when its first fragment passed here (frags map,
 *                                      key src/dst/proto/fragment id/direction, LATCH_FRAG timeout),
 *                                      else drop FRAGMENT. The first fragment is judged like any
 *                                      packet and, when it passes, records the fragment id.
 *   ICMP/ICMPv6 error (v4 types 3, 11, 12; v6 types 1-4) -> the quoted inner header names a tracked
 *                                      flow: pass RELATED; else an error the node's own stack made
 *                                      (ingress_ifindex 0): pass HOST_ICMP_ERROR (path MTU of
 *                                      untracked traffic); else drop CT_UNRELATED
 *   reply of a tracked flow         -> pass REPLY   (ct[swap(tuple), other direction])
 *   packet of a tracked flow        -> pass ESTABLISHED (ct[tuple, this direction])
 *     Both re-check the flow's rule and auth (the pair that OPENED the flow, its protocol and
 *     destination port) unless the flow's entry holds a verdict still current: checked at the
 *     config's verdict_gen (which the daemon bumps after every write of the endpoints, ipcache,
 *     policy and auth maps) and before the auth entry's expiry it saw. So a removed rule or pair,
 *     or an address that now names another identity, stops established flows at the next packet
 *     with the reason below, and the ct entry is deleted; an expired auth entry stops them without
 *     the daemon.
 *   new flow:
 *     no policy entry (src, dst)    -> drop REVERSE when policy[(dst, src)] exists, else NO_RULE
 *     protocol/port not in the set  -> drop PORT_NOT_ALLOWED
 *     src != LATCH_ID_NODE and auth[(src_id, dst_id)] absent -> drop NO_AUTH + AUTH_REQUIRED event
 *     expires_ns <= now             -> drop AUTH_EXPIRED + AUTH_REQUIRED event
 *     otherwise                     -> pass ALLOWED and create ct[tuple, this direction]
 *   The node itself (LATCH_ID_NODE) needs no auth entry: it is the enforcer. It needs a policy
 *   entry like any source (policy `from: node`).
 *
 * Connection tracking (ct, LRU hash): the tuple is (src, dst, sport, dport, proto) of the packet that
 * opened the flow plus the program that saw it (enum latch_direction), so the source end and the
 * destination end of one same-node flow keep separate entries. ICMP echo: sport = dport = echo id;
 * echo replies (v4 0, v6 129) are looked up as replies only. Other protocols without ports: 0/0.
 * Idle timeouts (config, 0 = the LATCH_CT_DEFAULT_* below): TCP by state (SYN seen / established /
 * FIN seen one way / closed: FIN both ways or RST), UDP, ICMP, other. An expired entry is treated as
 * absent (the packet is judged as a new flow). A mid-stream TCP packet without an entry is judged as
 * a new flow of its direction (so an LRU eviction or a restart does not cut allowed flows).
 *
 * IPv6: up to LATCH_IPV6_MAX_EXT_HDRS extension headers (hop-by-hop, routing, fragment, destination
 * options, AH) are skipped to reach the ports; a longer chain is dropped MALFORMED. ICMP errors'
 * inner IPv6 headers are read without extension headers.
 *
 * How "arrived through the tunnel" is known on the veth egress path: the kernel keeps the ifindex of
 * the device a packet was received on in skb->skb_iif while it is forwarded; tc exposes it as
 * __sk_buff->ingress_ifindex. A packet decrypted by WireGuard (kernel module or wireguard-go's TUN
 * device) was received on the WireGuard interface, so the daemon writes remote workloads' ipcache
 * entries with flags LATCH_IPCACHE_F_REMOTE and ifindex = the WireGuard interface. WireGuard's own
 * cryptokey routing guarantees that a packet with that source came from the peer whose allowed-ips
 * hold it, i.e. from the node that proved it hosts that workload. Local workloads' entries carry the
 * ifindex of their own host-side veth, so a local source must also come from its own interface.
 * A REMOTE entry with ifindex 0 is a misconfiguration and fails closed (NOT_VIA_TUNNEL).
 *
 * Return codes: TC_ACT_OK (0) lets a packet continue, TC_ACT_SHOT (2) drops it.
 * Identity id 0 means "no identity"; the daemon allocates ids from 1, below LATCH_ID_RESERVED.
 */
#ifndef LATCH_ABI_H
#define LATCH_ABI_H

#include <linux/types.h>

/* Sizes and limits. An enum (not #define) so the values are in BTF and reach TypeScript. */
enum latch_limits {
	LATCH_MAX_ENDPOINT_ADDRS = 8,     /* addresses a single workload interface may send from */
	LATCH_IPCACHE_MAX = 262144,       /* ipcache prefixes */
	LATCH_AUTH_MAX = 65536,           /* authenticated identity pairs */
	LATCH_ENDPOINTS_MAX = 4096,       /* workload interfaces on one node */
	LATCH_EVENT_RL_MAX = 16384,       /* rate-limit slots for events (LRU) */
	LATCH_EVENTS_BYTES = 262144,      /* ring buffer size, a power of two multiple of the page size */
	LATCH_POLICY_MAX = 262144,        /* (src, dst) pairs with a rule */
	LATCH_POLICY_MAX_RANGES = 16,     /* protocol/port ranges of one rule (merged per protocol) */
	LATCH_CT_MAX = 262144,            /* tracked flows (LRU: the least recently used one is evicted) */
	LATCH_FRAG_MAX = 8192,            /* fragmented packets in flight (LRU) */
	LATCH_IPV6_MAX_EXT_HDRS = 8,      /* IPv6 extension headers skipped to reach the ports */
};

/*
 * Reserved identity ids. The daemon allocates workload ids from 1 upwards, below LATCH_ID_RESERVED.
 * LATCH_ID_NODE: the node's own stack as a source (locally generated packets towards a workload).
 */
enum latch_identity {
	LATCH_ID_NONE = 0,
	LATCH_ID_RESERVED = 0x7fffff00,   /* first reserved id */
	LATCH_ID_NODE = 0x7fffff01,
};

/* Connection tracking idle timeouts used when the config field is 0, in seconds. */
enum latch_ct_defaults {
	LATCH_CT_DEFAULT_TCP_SYN_S = 60,          /* SYN seen, no reply yet */
	LATCH_CT_DEFAULT_TCP_ESTABLISHED_S = 21600,/* 6 h */
	LATCH_CT_DEFAULT_TCP_CLOSING_S = 60,      /* FIN seen in one direction */
	LATCH_CT_DEFAULT_TCP_CLOSED_S = 10,       /* FIN both ways, or RST */
	LATCH_CT_DEFAULT_UDP_S = 60,
	LATCH_CT_DEFAULT_ICMP_S = 30,
	LATCH_CT_DEFAULT_OTHER_S = 60,
	LATCH_CT_DEFAULT_FRAG_S = 30,             /* first fragment -> the last of its packet */
};

/* ipcache flags */
enum latch_ipcache_flags {
	LATCH_IPCACHE_F_LOCAL = 1,        /* a workload on this node; ifindex = its host-side veth */
	LATCH_IPCACHE_F_REMOTE = 2,       /* a workload behind a peer; ifindex = the WireGuard interface */
};

/*
 * What happened to a packet. Every packet a program sees increments exactly one stats slot
 * (stats[reason]); the LATCH_R_EVENT_* slots count ring-buffer events instead of packets.
 */
enum latch_reason {
	LATCH_R_ALLOWED = 0,              /* the first packet of a new flow: rule and auth entry valid */
	LATCH_R_PASS_NOT_MESH = 1,        /* to_workload: destination is not a mesh workload */
	LATCH_R_PASS_NON_IP = 2,          /* neither IPv4 nor IPv6 (ARP, ...) */
	LATCH_R_PASS_SOURCE_OK = 3,       /* from_workload: source address belongs to the workload */
	LATCH_R_PASS_LINK_LOCAL = 4,      /* from_workload: IPv6 link-local source, or :: to ff02::/16 (DAD, MLD) */
	LATCH_R_DROP_NO_AUTH = 5,         /* to_workload: no auth entry for (src_id, dst_id) */
	LATCH_R_DROP_AUTH_EXPIRED = 6,    /* to_workload: auth entry expired */
	LATCH_R_DROP_UNKNOWN_SOURCE = 7,  /* to_workload: source has no identity, destination is mesh */
	LATCH_R_DROP_NOT_VIA_TUNNEL = 8,  /* to_workload: remote source did not arrive via WireGuard */
	LATCH_R_DROP_WRONG_INGRESS = 9,   /* to_workload: local source did not come from its own veth */
	LATCH_R_DROP_SPOOFED = 10,        /* from_workload: source address not the workload's */
	LATCH_R_DROP_NO_ENDPOINT = 11,    /* from_workload: interface has no endpoint entry */
	LATCH_R_DROP_MALFORMED = 12,      /* truncated IP header */
	LATCH_R_EVENT_LOST = 13,          /* event not written: ring buffer full */
	LATCH_R_EVENT_SUPPRESSED = 14,    /* event not written: rate limit */
	LATCH_R_PASS_HOST_ICMP_ERROR = 15,/* to_workload: ICMP error generated by this node (path MTU etc.) */
	LATCH_R_PASS_ESTABLISHED = 16,    /* a packet of a tracked flow in its opening direction */
	LATCH_R_PASS_REPLY = 17,          /* a reply of a tracked flow */
	LATCH_R_PASS_RELATED = 18,        /* an ICMP error about a tracked flow */
	LATCH_R_PASS_FRAGMENT = 19,       /* a non-first fragment whose first fragment passed */
	LATCH_R_DROP_NO_RULE = 20,        /* policy stage: no rule from src to dst (nor from dst to src) */
	LATCH_R_DROP_PORT_NOT_ALLOWED = 21,/* policy stage: a rule exists, not for this protocol/port */
	LATCH_R_DROP_REVERSE = 22,        /* policy stage: only the reverse direction (dst -> src) has a rule */
	LATCH_R_DROP_CT_UNRELATED = 23,   /* conntrack stage: an ICMP error naming no tracked flow */
	LATCH_R_DROP_FRAGMENT = 24,       /* a non-first fragment whose first fragment was not seen/allowed */
	LATCH_R_MAX = 25,
};

enum latch_event_type {
	LATCH_EV_AUTH_REQUIRED = 1,       /* dropped for lack of a (valid) auth entry, or from an unknown
					   * forwarded source (UNKNOWN_SOURCE): authenticate the pair */
	LATCH_EV_DROP = 2,                /* dropped for another reason (see reason) */
};

enum latch_direction {
	LATCH_DIR_FROM_WORKLOAD = 1,
	LATCH_DIR_TO_WORKLOAD = 2,
};

/* An IPv6 address or an IPv4-mapped IPv4 address, network byte order. */
struct latch_ip {
	__u8 addr[16];
};

/* ipcache key (LPM trie): prefixlen counts bits of addr; IPv4 /n is 96 + n. */
struct latch_ipcache_key {
	__u32 prefixlen;
	struct latch_ip ip;
};

struct latch_ipcache_value {
	__u32 identity;                   /* identity id, >= 1 */
	__u32 flags;                      /* enum latch_ipcache_flags */
	__u32 ifindex;                    /* required ingress interface of packets from this source; 0 = any */
};

/* endpoints: key = ifindex of the workload's host-side interface (__u32). */
struct latch_endpoint_value {
	__u32 identity;                   /* the workload's identity id */
	__u32 n_addrs;                    /* valid entries in addrs (<= LATCH_MAX_ENDPOINT_ADDRS) */
	struct latch_ip addrs[LATCH_MAX_ENDPOINT_ADDRS];
};

/* auth: (source identity, destination identity) -> expiry; direction matters. */
struct latch_auth_key {
	__u32 src_id;
	__u32 dst_id;
};

struct latch_auth_value {
	__u64 expires_ns;                 /* CLOCK_BOOTTIME ns; the entry is valid while now < expires_ns */
};

/* policy: (source identity, destination identity) -> what the source may open to the destination. */
struct latch_policy_key {
	__u32 src_id;                     /* the identity that opens flows (LATCH_ID_NODE: the node) */
	__u32 dst_id;
};

enum latch_policy_flags {
	LATCH_POLICY_F_ANY = 1,           /* every protocol and port (a rule without ports:) */
};

/* One allowed protocol with an inclusive destination port range; 0-65535 for protocols without ports. */
struct latch_port_range {
	__u16 low;
	__u16 high;
	__u8 proto;                       /* IP protocol number: 6 tcp, 17 udp, 132 sctp, 1 icmp, 58 icmpv6 */
	__u8 _pad[3];
};

struct latch_policy_value {
	__u32 flags;                      /* enum latch_policy_flags */
	__u32 n_ranges;                   /* valid entries in ranges (<= LATCH_POLICY_MAX_RANGES) */
	struct latch_port_range ranges[LATCH_POLICY_MAX_RANGES];
};

/* ct: a tracked flow. src/dst/ports/proto of the packet that opened it; see the top comment. */
struct latch_ct_key {
	struct latch_ip src;
	struct latch_ip dst;
	__u16 sport;                      /* host order; ICMP echo: the echo id */
	__u16 dport;                      /* host order; ICMP echo: the echo id */
	__u8 proto;
	__u8 direction;                   /* enum latch_direction: the program that saw the first packet */
	__u16 _pad;
};

enum latch_ct_state {
	LATCH_CT_NEW = 1,                 /* TCP: SYN seen, no reply yet; other protocols: no reply yet */
	LATCH_CT_ESTABLISHED = 2,         /* a reply was seen (TCP: or the flow was picked up mid-stream) */
	LATCH_CT_CLOSING = 3,             /* TCP: FIN seen in one direction */
	LATCH_CT_CLOSED = 4,              /* TCP: FIN seen in both directions, or RST */
};

enum latch_ct_flags {
	LATCH_CT_F_FIN_ORIG = 1,          /* the opener sent FIN */
	LATCH_CT_F_FIN_REPLY = 2,         /* the other end sent FIN */
};

struct latch_ct_value {
	__u64 created_ns;                 /* CLOCK_BOOTTIME ns */
	__u64 last_ns;                    /* last packet in either direction */
	__u32 src_id;                     /* identities when the flow was opened (informational) */
	__u32 dst_id;
	__u32 ifindex;                    /* the workload interface the program ran on */
	__u8 state;                       /* enum latch_ct_state */
	__u8 flags;                       /* enum latch_ct_flags */
	__u16 _pad;
	__u64 verdict_gen;                /* config verdict_gen when the rule and auth were last checked (0 = never) */
	__u64 verdict_until_ns;           /* that check holds until here (the auth entry's expiry; node: U64 max) */
};

/* frags: the first fragment of a packet passed; its later fragments follow it. */
struct latch_frag_key {
	struct latch_ip src;
	struct latch_ip dst;
	__u32 id;                         /* IPv4 identification (16 bits) or IPv6 fragment id */
	__u8 proto;
	__u8 direction;                   /* enum latch_direction */
	__u16 _pad;
};

struct latch_frag_value {
	__u64 first_ns;                   /* when the first fragment passed */
};

/* stats: per-CPU array indexed by enum latch_reason. */
struct latch_stat {
	__u64 packets;
	__u64 bytes;
};

/* config: array with one element (key 0). */
struct latch_config {
	__u64 event_interval_ns;          /* min gap between two events of one (src, dst, ifindex, reason); 0 = none;
					   * a source without identity (src_id 0) is told apart by its address */
	/* conntrack idle timeouts in ns; 0 = the LATCH_CT_DEFAULT_* value */
	__u64 ct_tcp_syn_ns;
	__u64 ct_tcp_established_ns;
	__u64 ct_tcp_closing_ns;
	__u64 ct_tcp_closed_ns;
	__u64 ct_udp_ns;
	__u64 ct_icmp_ns;
	__u64 ct_other_ns;
	__u64 frag_ns;                    /* how long later fragments follow a first fragment */
	__u64 verdict_gen;                /* bumped by the daemon after each map write; 0 = no verdict is kept */
};

/* event_rl: LRU hash used by the programs to rate-limit events. */
struct latch_event_rl_key {
	__u32 src_id;
	__u32 dst_id;
	__u32 ifindex;
	__u32 reason;
};

struct latch_event_rl_value {
	__u64 last_ns;                    /* when the last event of this key was written */
	__u32 suppressed;                 /* events suppressed since then */
	__u32 _pad;
};

/* A record on the events ring buffer. */
struct latch_event {
	__u64 ts_ns;                      /* CLOCK_BOOTTIME ns */
	__u32 type;                       /* enum latch_event_type */
	__u32 reason;                     /* enum latch_reason */
	__u32 src_id;                     /* 0 when unknown */
	__u32 dst_id;                     /* 0 when unknown */
	__u32 ifindex;                    /* interface the program ran on */
	__u32 ingress_ifindex;            /* interface the packet was received on (0 = locally generated) */
	__u32 suppressed;                 /* events of the same key suppressed before this one */
	__u32 len;                        /* packet length */
	__u16 sport;                      /* host order; 0 when not TCP/UDP */
	__u16 dport;                      /* host order; ICMP: type << 8 | code in sport */
	__u8 family;                      /* 4 or 6 */
	__u8 proto;                       /* IP protocol number */
	__u8 direction;                   /* enum latch_direction */
	__u8 _pad;
	struct latch_ip src;
	struct latch_ip dst;
};

#endif /* LATCH_ABI_H */
