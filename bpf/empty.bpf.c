// SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0)
/* The baseline for scripts/bench-datapath: a tc program that does nothing but let the packet pass. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("tc")
int empty(struct __sk_buff *skb)
{
	return TC_ACT_OK;
}
