#!/bin/bash
# Runs inside the real-kernel lane's guest with systemd as PID 1 (scripts/kernel-lane --systemd;
# driven by test/packaging/deb-systemd.test.ts). Installs the latch .deb with apt on the guest's
# root (an overlay of a clean Debian 12 made by debootstrap: scripts/debian-root), and checks it the
# way an operator would use it:
#   install → unit enabled, inactive while unconfigured → PKI with the installed latchctl, config →
#   systemctl start: Type=notify READY=1 (tunnel to a second latchd in a netns, ping through it) →
#   systemctl reload (SIGHUP: a peers-file change applied, traffic flows) → kill -9: systemd
#   restarts it, ping without loss → SIGSTOP: the watchdog kills and restarts it → the same on
#   wireguard-go (backend userspace: it outlives latchd's restart, KillMode=process) → upgrade to a newer package version: restarted, no loss →
#   systemd-analyze security → systemctl stop leaves WireGuard and pins → apt purge removes all.
# Prints "CHECK ok|FAIL what" lines, writes figures.json to the results directory, exits non-zero
# on the first failure.
#   systemd-guest.sh DEB_V1 DEB_V2
set -uo pipefail
deb1=$1 deb2=$2
res=${LATCH_LANE_RESULTS:-/tmp}
export DEBIAN_FRONTEND=noninteractive
fails=0
ok() { echo "CHECK ok   $*"; }
fail() { echo "CHECK FAIL $*"; fails=$((fails + 1)); }
die() { fail "$*"; finish; }
finish() {
  echo "--- journalctl -u latchd (last 40) ---"
  journalctl -u latchd --no-pager -n 40 -o cat 2>&1 | cut -c1-300
  echo "CHECKS failed=$fails"
  exit $((fails > 0))
}
check() { local what=$1; shift; if "$@"; then ok "$what"; else fail "$what"; fi; }
# wait_for SECONDS CMD…: until CMD succeeds
wait_for() { local n=$1; shift; for _ in $(seq "$n"); do "$@" && return 0; sleep 1; done; return 1; }
mono_us() { systemctl show -p "$1" --value latchd; }

# --- a clean root: no latch before the install -------------------------------------------------------
test -e /usr/sbin/policy-rc.d && die "the root has a policy-rc.d: maintainer scripts could not start services"
for p in /etc/latch /var/lib/latch /sys/fs/bpf/latch; do test -e $p && die "$p exists before the install"; done
command -v latchd >/dev/null && die "a latchd is on PATH before the install: $(command -v latchd)"
command -v node >/dev/null && die "a node is on PATH before the install: the package must bring its own"
ok "a clean Debian $(cat /etc/debian_version) root: no latch, no Node.js"

# --- install ------------------------------------------------------------------------------------------
apt-get install -y -o Dpkg::Use-Pty=0 "$deb1" >"$res/apt-install.log" 2>&1 \
  || { tail -20 "$res/apt-install.log"; die "apt-get install $deb1"; }
ok "apt-get install ./$(basename "$deb1")"
check "latchd and latchctl on PATH from the package" test "$(command -v latchd)" = /usr/bin/latchd -a "$(command -v latchctl)" = /usr/bin/latchctl
check "bundled Node 20 runs latchd" sh -c '/usr/lib/latch/node/bin/node --version | grep -q "^v20\."'
check "the unit is enabled on install" systemctl is-enabled --quiet latchd
check "unconfigured: the unit is not running (ConditionPathExists)" sh -c '! systemctl is-active --quiet latchd'

# --- PKI and config ---------------------------------------------------------------------------------------
pki=/var/lib/latch/pki
latchctl ca init --trust-domain lane.latch --dir $pki >/dev/null || die "latchctl ca init"
latchctl node issue node1 --ip 10.77.0.1 --workload-cidr 10.100.1.0/24 --dir $pki >/dev/null || die "node issue node1"
latchctl node issue node2 --ip 10.77.0.2 --workload-cidr 10.100.2.0/24 --dir $pki >/dev/null || die "node issue node2"
ok "PKI with the installed latchctl"

ip netns add lanepeer
ip link add lsd0 type veth peer name lsd1
ip link set lsd1 netns lanepeer
ip addr add 10.77.0.1/24 dev lsd0 && ip link set lsd0 up
ip -n lanepeer addr add 10.77.0.2/24 dev lsd1 && ip -n lanepeer link set lsd1 up && ip -n lanepeer link set lo up

pkiyaml() {
  cat <<Y
pki:
  caFile: $pki/ca/root.crt
  certFile: $pki/nodes/$1/node.crt
  keyFile: $pki/nodes/$1/node.key
  intermediateCertFile: $pki/nodes/$1/ca.crt
  intermediateKeyFile: $pki/nodes/$1/ca.key
Y
}
{
  echo "node: node1"; echo "trustDomain: lane.latch"; pkiyaml node1
  cat <<Y
listen: { address: 10.77.0.1, port: 7443 }
workloadCidrs: [10.100.1.0/24]
wireguard: { interface: latch0, listenPort: 51820, address: 10.101.0.1/32, privateKeyFile: /var/lib/latch/wg.key, backend: kernel }
peersFile: /etc/latch/peers.yaml
controlSocket: /run/latch/latchd.sock
datapath: { enabled: true, pinDir: /sys/fs/bpf/latch, identitiesFile: /var/lib/latch/identities.json }
metrics: { address: 127.0.0.1, port: 9464 }
Y
} >/etc/latch/latchd.yaml
echo '[]' >/etc/latch/peers.yaml   # node2 arrives with a reload
mkdir -p /var/lib/latch-node2
{
  echo "node: node2"; echo "trustDomain: lane.latch"; pkiyaml node2
  cat <<Y
listen: { address: 10.77.0.2, port: 7443 }
workloadCidrs: [10.100.2.0/24]
wireguard: { interface: latch0, listenPort: 51820, address: 10.101.0.2/32, privateKeyFile: /var/lib/latch-node2/wg.key, backend: kernel }
peersFile: /var/lib/latch-node2/peers.yaml
controlSocket: /run/latch-node2.sock
datapath: { enabled: false }
Y
} >/var/lib/latch-node2/latchd.yaml
echo '[{name: node1, address: 10.77.0.1, port: 7443}]' >/var/lib/latch-node2/peers.yaml
latchd --check --config /etc/latch/latchd.yaml || die "latchd --check of the node1 config"
ip netns exec lanepeer /usr/bin/latchd --config /var/lib/latch-node2/latchd.yaml >"$res/node2.log" 2>&1 &
node2=$!

bpffs_before=$(findmnt -n -o FSTYPE /sys/fs/bpf || echo "not mounted")
# --- start: READY=1 ----------------------------------------------------------------------------------------
t0=$(date +%s%N)
systemctl start latchd || { systemctl status latchd --no-pager | cat; die "systemctl start latchd"; }
t1=$(date +%s%N)
check "systemctl start returned with the unit active (Type=notify: READY=1 arrived)" systemctl is-active --quiet latchd
start_ms=$(((t1 - t0) / 1000000))
exec_us=$(mono_us ExecMainStartTimestampMonotonic)
active_us=$(mono_us ActiveEnterTimestampMonotonic)
ready_ms=$(((active_us - exec_us) / 1000))
echo "figure: exec to READY=1 ${ready_ms} ms (systemctl start took ${start_ms} ms)"
check "STATUS= from latchd" sh -c 'systemctl show -p StatusText --value latchd | grep -q "node node1 listening on 7443"'
check "journalctl -u latchd shows latchd's log" sh -c 'journalctl -u latchd -o cat --no-pager | grep -q "told systemd READY=1"'
check "watchdog configured (WATCHDOG_USEC)" sh -c '[ "$(systemctl show -p WatchdogUSec --value latchd)" = 30s ]'
check "WireGuard interface latch0 (kernel) up" ip link show latch0 type wireguard
check "bpffs on /sys/fs/bpf (before the start: $bpffs_before)" sh -c '[ "$(stat -fc %T /sys/fs/bpf)" = bpf_fs ]'
check "datapath pinned under /sys/fs/bpf/latch" test -d /sys/fs/bpf/latch
pid1=$(systemctl show -p MainPID --value latchd)

# --- reload: the peers file gains node2; tunnel comes up ----------------------------------------------------
echo '[{name: node2, address: 10.77.0.2, port: 7443}]' >/etc/latch/peers.yaml
systemctl reload latchd || die "systemctl reload latchd"
check "reload: same main PID" test "$(systemctl show -p MainPID --value latchd)" = "$pid1"
check "reload: SIGHUP handled (journal)" wait_for 60 sh -c 'journalctl -u latchd -o cat --no-pager | grep -q "reloaded policy, peers and PKI files"'
check "reload: active again after RELOADING=1/READY=1" wait_for 30 systemctl is-active --quiet latchd
tunnel_up() { ip netns exec lanepeer ping -n -q -c 1 -W 1 10.101.0.1 >/dev/null 2>&1; }
wait_for 120 tunnel_up && ok "tunnel node2 → node1 (ping 10.101.0.1 through WireGuard)" || die "no tunnel after the reload"

# loss during an event: ping_during SECONDS CMD… → prints "sent received"
ping_during() {
  local secs=$1; shift
  ip netns exec lanepeer ping -n -q -i 0.2 -w "$secs" -W 1 10.101.0.1 >"$res/ping.out" 2>&1 &
  local p=$!
  sleep 2
  "$@"
  wait $p
  sed -n 's/^\([0-9]*\) packets transmitted, \([0-9]*\) received.*/\1 \2/p' "$res/ping.out"
}

# --- reload under traffic ---------------------------------------------------------------------------------
read -r s r < <(ping_during 12 systemctl reload latchd)
echo "figure: reload under ping: $r/$s received"
check "reload under traffic: no packet lost ($r/$s)" test "${s:-0}" -gt 0 -a "$s" = "$r"

# --- kill -9: systemd restarts latchd; traffic keeps flowing -------------------------------------------------
killed() {
  kill -9 "$pid1"
  wait_for 120 sh -c "p=\$(systemctl show -p MainPID --value latchd); [ \"\$p\" != 0 ] && [ \"\$p\" != $pid1 ] && systemctl is-active --quiet latchd"
}
read -r s r < <(ping_during 40 killed)
pid2=$(systemctl show -p MainPID --value latchd)
echo "figure: kill -9 under ping: $r/$s received"
check "kill -9: restarted by systemd (Restart=on-failure), new PID $pid2" test "$pid2" != "$pid1" -a "$pid2" != 0
check "kill -9: no packet lost while systemd restarted latchd ($r/$s)" test "${s:-0}" -gt 0 -a "$s" = "$r"
check "kill -9: NRestarts=1" test "$(systemctl show -p NRestarts --value latchd)" = 1

# --- watchdog: a wedged latchd (SIGSTOP: its event loop sends no WATCHDOG=1) is killed and restarted --
wedged() {
  kill -STOP "$pid2"
  # WatchdogSec=30s, then SIGABRT (pending on a stopped process) and SIGKILL after TimeoutAbortSec=10s
  wait_for 150 sh -c "p=\$(systemctl show -p MainPID --value latchd); [ \"\$p\" != 0 ] && [ \"\$p\" != $pid2 ] && systemctl is-active --quiet latchd"
}
wd_since=$(date +%s)
read -r s r < <(ping_during 100 wedged)
pid2w=$(systemctl show -p MainPID --value latchd)
echo "figure: wedged (SIGSTOP) under ping: $r/$s received"
# systemd's own lines about the unit since the SIGSTOP (latchd's are JSON)
wd_log=$(journalctl -u latchd --no-pager -o cat --since "@$wd_since" | grep -v '^{')
printf '%s\n' "$wd_log" | grep -iE 'watchdog|signal|exited' | head -5 | sed 's/^/  journal: /'
check "watchdog: systemd killed the wedged latchd for its watchdog (journal)" sh -c 'printf "%s" "$1" | grep -qi "watchdog timeout"' _ "$wd_log"
check "watchdog: restarted (PID $pid2 → $pid2w), NRestarts=2" sh -c "[ '$pid2w' != '$pid2' ] && [ \"\$(systemctl show -p NRestarts --value latchd)\" = 2 ]"
check "watchdog: no packet lost while latchd was wedged and restarted ($r/$s)" test "${s:-0}" -gt 0 -a "$s" = "$r"
pid2=$pid2w

# --- userspace WireGuard (wireguard-go, backend: userspace): it outlives a latchd restart under the
# unit (KillMode=process) and the new latchd adopts it, so a kill -9 loses no packet either ----------
systemctl stop latchd
ip link del latch0
sed -i 's/interface: latch0,\(.*\)backend: kernel/interface: latchu0,\1backend: userspace/' /etc/latch/latchd.yaml
grep -q 'interface: latchu0.*backend: userspace' /etc/latch/latchd.yaml || die "config edit to the userspace backend"
check "/run/wireguard exists for wireguard-go (tmpfiles.d/latch.conf)" test -d /run/wireguard
systemctl start latchd || { systemctl status latchd --no-pager | cat; die "systemctl start latchd (userspace)"; }
wait_for 120 tunnel_up && ok "tunnel over wireguard-go (latchu0) under the unit" || die "no tunnel over wireguard-go"
wgo1=$(pgrep -x wireguard-go | head -1)
check "wireguard-go runs for latchu0 (PID ${wgo1:-none})" test -n "$wgo1" -a -S /run/wireguard/latchu0.sock
pid1=$(systemctl show -p MainPID --value latchd)
read -r s r < <(ping_during 40 killed)
pid2=$(systemctl show -p MainPID --value latchd)
echo "figure: kill -9 under ping, userspace WireGuard: $r/$s received"
check "userspace: restarted by systemd, new PID $pid2" test "$pid2" != "$pid1" -a "$pid2" != 0
check "userspace: the same wireguard-go survived the restart (PID $wgo1)" sh -c "[ \"\$(pgrep -x wireguard-go | head -1)\" = '$wgo1' ]"
check "userspace: no packet lost while systemd restarted latchd ($r/$s)" test "${s:-0}" -gt 0 -a "$s" = "$r"
wgif=latchu0

# --- upgrade: postinst restarts the running service -----------------------------------------------------------
upgrade() { apt-get install -y -o Dpkg::Use-Pty=0 "$deb2" >"$res/apt-upgrade.log" 2>&1; }
read -r s r < <(ping_during 60 upgrade)
pid3=$(systemctl show -p MainPID --value latchd)
echo "figure: upgrade under ping: $r/$s received"
check "upgrade to $(dpkg-query -W -f '${Version}' latch)" sh -c "grep -q 'Unpacking latch' '$res/apt-upgrade.log'"
check "upgrade: latchd restarted (PID $pid2 → $pid3) and active" sh -c "[ '$pid3' != '$pid2' ] && systemctl is-active --quiet latchd"
check "upgrade: no packet lost ($r/$s)" test "${s:-0}" -gt 0 -a "$s" = "$r"
check "upgrade: the admin's config stayed" grep -q "node: node1" /etc/latch/latchd.yaml

# --- systemd-analyze security --------------------------------------------------------------------------------
systemd-analyze security --no-pager latchd.service >"$res/security.txt" 2>&1
exposure=$(sed -n 's/.*Overall exposure level for latchd.service: \([0-9.]*\).*/\1/p' "$res/security.txt")
tail -1 "$res/security.txt"
check "systemd-analyze security exposure ${exposure:-?} <= 3.0" awk -v e="${exposure:-99}" 'BEGIN { exit !(e <= 3.0) }'

# --- stop: WireGuard and pins stay -------------------------------------------------------------------------
systemctl stop latchd
check "stop: inactive" sh -c '! systemctl is-active --quiet latchd'
check "stop: $wgif left in place" ip link show "$wgif"
check "stop: pins left in place" test -d /sys/fs/bpf/latch
check "stop: the tunnel still carries traffic" tunnel_up

# --- purge ---------------------------------------------------------------------------------------------------
apt-get purge -y -o Dpkg::Use-Pty=0 latch >"$res/apt-purge.log" 2>&1 || { tail -20 "$res/apt-purge.log"; fail "apt-get purge latch"; }
check "purge: package gone" sh -c '! dpkg-query -W -f "\${Status}" latch 2>/dev/null | grep -q installed'
check "purge: /etc/latch, /var/lib/latch gone" sh -c '[ ! -e /etc/latch ] && [ ! -e /var/lib/latch ]'
check "purge: $wgif and the pins gone" sh -c "! ip link show $wgif 2>/dev/null && [ ! -e /sys/fs/bpf/latch ]"
check "purge: no wireguard-go left (the interface it served is gone)" wait_for 15 sh -c '! pgrep -x wireguard-go >/dev/null'
check "purge: unit gone" sh -c '! systemctl cat latchd >/dev/null 2>&1'

kill "$node2" 2>/dev/null
ip netns del lanepeer 2>/dev/null
cat >"$res/figures.json" <<J
{"execToReadyMs": ${ready_ms:-null}, "systemctlStartMs": ${start_ms:-null}, "exposure": ${exposure:-null}}
J
finish
