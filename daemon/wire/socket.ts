/** Where latchd's control socket is, unless the config (`controlSocket`) or the caller says otherwise. */

/** The default path of the control socket (a unix socket, mode 0600). */
export const DEFAULT_CONTROL_SOCKET = '/run/latch/latchd.sock'

/** The environment variable latchctl reads for the socket path when no --socket flag is given. */
export const CONTROL_SOCKET_ENV = 'LATCH_CONTROL_SOCKET'
