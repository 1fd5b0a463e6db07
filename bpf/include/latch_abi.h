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
 *   from_workload  (ingress: packets sent BY the workload)
 *     IPv4/IPv6 only; the source address must be one of endpoints[skb->ifindex].addrs
 *     (IPv6 link-local sources pass: they never leave the link). No endpoint entry -> drop.
 *   to_workload    (egress: packets travelling TOWARDS the workload)
 *     dst not in ipcache            -> untouched (not mesh traffic)
 *     src not in ipcache            -> pass HOST_ICMP_ERROR when it is an ICMP/ICMPv6 error the node's
 *                                      own stack generated (ingress_ifindex 0: fragmentation needed /
 *                                      packet too big, time exceeded, parameter problem), else
 *                                      drop UNKNOWN_SOURCE
 *     src entry has ifindex != 0 and skb->ingress_ifindex != entry.ifindex
 *                                   -> drop NOT_VIA_TUNNEL (remote entry) / WRONG_INGRESS (local entry)
 *     auth[(src_id, dst_id)] absent -> drop NO_AUTH + AUTH_REQUIRED event
 *     expires_ns <= now             -> drop AUTH_EXPIRED + AUTH_REQUIRED event
 *     otherwise                     -> pass (ALLOWED)
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
 * Identity id 0 means "no identity"; the daemon allocates ids from 1.
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
	LATCH_R_ALLOWED = 0,              /* to_workload: valid auth entry */
	LATCH_R_PASS_NOT_MESH = 1,        /* to_workload: destination is not a mesh workload */
	LATCH_R_PASS_NON_IP = 2,          /* neither IPv4 nor IPv6 (ARP, ...) */
	LATCH_R_PASS_SOURCE_OK = 3,       /* from_workload: source address belongs to the workload */
	LATCH_R_PASS_LINK_LOCAL = 4,      /* from_workload: IPv6 link-local source */
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
	LATCH_R_MAX = 16,
};

enum latch_event_type {
	LATCH_EV_AUTH_REQUIRED = 1,       /* dropped for lack of a (valid) auth entry: authenticate the pair */
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

/* stats: per-CPU array indexed by enum latch_reason. */
struct latch_stat {
	__u64 packets;
	__u64 bytes;
};

/* config: array with one element (key 0). */
struct latch_config {
	__u64 event_interval_ns;          /* min gap between two events of one (src, dst, ifindex, reason); 0 = none */
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
