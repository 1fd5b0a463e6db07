/**
 * Which side of a node pair dials. Exactly one side does, so two daemons never race each other's
 * sessions (each new session replaces the pair's PSK; two dialers would flap it). The node whose
 * name sorts first (plain code-unit order, the same on every machine) dials and drives re-handshakes;
 * the other accepts. A pair whose peers files disagree (only the later name lists the other) stays
 * `awaiting`, which `latchctl status` shows.
 */
export type PeerRole = 'dialer' | 'acceptor'

export function roleFor(self: string, peer: string): PeerRole {
  if (self === peer) throw new RangeError(`a node does not peer with itself (${self})`)
  return self < peer ? 'dialer' : 'acceptor'
}
