#!/usr/bin/env node
/**
 * latch-cni: the chained CNI plugin (CNI spec 1.0.0) a container runtime runs after bridge/ptp. The
 * runtime passes CNI_COMMAND, CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME, CNI_ARGS in the environment and
 * the network configuration on stdin; the result or a CNI error object goes to stdout (plugin.ts).
 */
import { readFile } from 'node:fs/promises'
import { parse } from 'yaml'
import { addWorkload, listWorkloads, removeWorkload } from '../control/workload-client.js'
import { systemInterfaces } from '../engine/interfaces.js'
import { selectorFileSchema } from './config.js'
import { runPlugin } from './plugin.js'

async function readStdin(): Promise<string> {
  if (process.env.CNI_COMMAND === 'VERSION' && process.stdin.isTTY) return ''
  const chunks: Buffer[] = []
  for await (const c of process.stdin) chunks.push(c as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

const out = await runPlugin(process.env, await readStdin(), {
  latchd: { add: addWorkload, remove: removeWorkload, list: listWorkloads },
  hostVeth: (netns, ifname) => systemInterfaces.hostPeerOf(netns, ifname),
  async readSelectorFile(path) {
    const text = await readFile(path, 'utf8')
    const r = selectorFileSchema.safeParse(parse(text))
    if (!r.success) {
      const i = r.error.issues[0]
      throw new Error(`${path}: ${i?.path.join('.') || '(top level)'}: ${i?.message}`)
    }
    return r.data.rules
  },
  warn: (m) => process.stderr.write(`${m}\n`),
})
process.stdout.write(out.stdout)
process.exitCode = out.exitCode
