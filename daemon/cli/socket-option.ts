/** The `--socket PATH` option of the commands that ask a running latchd: flag, else env, else default. */
import { CONTROL_SOCKET_ENV, DEFAULT_CONTROL_SOCKET } from '../wire/socket.js'

export const SOCKET_OPTION_HELP = `latchd control socket (default $${CONTROL_SOCKET_ENV} or ${DEFAULT_CONTROL_SOCKET})`

export function controlSocketPath(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  if (flag) return flag
  const fromEnv = env[CONTROL_SOCKET_ENV]
  return fromEnv ? fromEnv : DEFAULT_CONTROL_SOCKET
}
