/** The local control socket of latchd: protocol, server, client, status report and its text form. */
export { controlRequest, fetchStatus } from './client.js'
export { formatStatus } from './format.js'
export { formatIdentities, formatPairAuth } from './format-pairauth.js'
export { type ControlHandler, ControlServer } from './server.js'
