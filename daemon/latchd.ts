#!/usr/bin/env node
/**
 * latchd: the per-node daemon. (Entry point; the daemon itself is being built in daemon/engine.)
 */
process.stderr.write('latchd: not built yet\n')
process.exitCode = 70
