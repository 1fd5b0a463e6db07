/** What the numbers were measured on: recorded in the JSON next to them. */
import { cpus, hostname, release, totalmem } from 'node:os'
import { execa } from 'execa'

async function firstLine(cmd: string, args: string[]): Promise<string | null> {
  const r = await execa(cmd, args, { reject: false, all: true })
  return r.exitCode === 0 ? (String(r.all).split('\n')[0]?.trim() ?? null) : null
}

export async function machine(): Promise<Record<string, unknown>> {
  return {
    hostname: hostname(),
    kernel: release(),
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? null,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    haproxy: await firstLine('haproxy', ['-v']),
    iperf3: await firstLine('iperf3', ['--version']),
    wireguardGo: await firstLine('wireguard-go', ['--version']),
  }
}
