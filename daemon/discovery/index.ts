/** Where peers come from: the static peers file (etcd later). */
export { diffPeers, type PeerEntry, parsePeers, parsePeersText } from './peers-file.js'
export { DEFAULT_DEBOUNCE_MS, loadPeersFile, StaticPeers, type StaticPeersOptions } from './static-file.js'
