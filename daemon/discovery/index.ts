/** Where peers come from: the static peers file or etcd, behind one interface (types.ts). */
export { type CreateDiscoveryOptions, createDiscovery } from './create.js'
export { EtcdDiscovery, type EtcdDiscoveryOptions } from './etcd.js'
export { encodeRecord, type NodeRecord, parseRecord, recordKey } from './etcd-record.js'
export { EtcdView } from './etcd-view.js'
export { diffPeers, type PeerEntry, parsePeers, parsePeersText } from './peers-file.js'
export { DEFAULT_DEBOUNCE_MS, loadPeersFile, StaticPeers, type StaticPeersOptions } from './static-file.js'
export type { Discovery, DiscoveryCallbacks } from './types.js'
