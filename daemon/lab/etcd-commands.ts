/**
 * `latchctl lab etcd status|stop|start`: look at the lab's etcd cluster and break it on purpose, to see
 * latch fail static. `stop` kills members (SIGKILL, like a crash: `--leader` the current leader, no
 * name = all) and records them as stopped, so `lab up` does not restart them; `start` starts every
 * stopped member again and waits for a quorum.
 */
import { LatchError } from '../base/errors.js'
import { type EtcdMemberStatus, ensureLabEtcd, killLabEtcd, labEtcdStatus } from './etcd.js'
import { labEtcdMembers } from './etcd-plan.js'
import { withLabLock } from './lock.js'
import { labPlan } from './plan.js'
import { type LabState, readState, writeState } from './state.js'
import { requireRoot } from './up.js'

async function etcdLab(): Promise<LabState> {
  const state = await readState()
  if (!state) throw new LatchError('LATCH_ERR_LAB_NOT_UP', 'no lab is up')
  if (state.discovery !== 'etcd') {
    throw new LatchError(
      'LATCH_ERR_LAB_NOT_UP',
      'the lab runs without etcd: bring it up with `latchctl lab up --discovery etcd`',
    )
  }
  return state
}

export async function labEtcdMemberStatus(): Promise<EtcdMemberStatus[]> {
  requireRoot()
  await etcdLab()
  return labEtcdStatus()
}

/** Stop `which`: member names, 'leader', or 'all'. Returns the members stopped. */
export async function labEtcdStop(which: readonly string[] | 'leader' | 'all'): Promise<string[]> {
  requireRoot()
  return withLabLock(async () => {
    const state = await etcdLab()
    const all = labEtcdMembers().map((m) => m.name)
    let names: string[]
    if (which === 'all') names = all
    else if (which === 'leader') {
      const leader = (await labEtcdStatus()).find((m) => m.leader)
      if (!leader)
        throw new LatchError('LATCH_ERR_LAB_NOT_UP', 'no etcd member is the leader now (no quorum?)')
      names = [leader.name]
    } else {
      const unknown = which.filter((n) => !all.includes(n))
      if (unknown.length > 0) {
        throw new LatchError(
          'LATCH_ERR_USAGE_BAD_ARGUMENT',
          `no etcd member named ${unknown.join(', ')} (members: ${all.join(', ')})`,
        )
      }
      names = [...which]
    }
    await killLabEtcd(names)
    await writeState({ ...state, etcdStopped: [...new Set([...state.etcdStopped, ...names])].sort() })
    return names
  })
}

/** Start every member stopped with `lab etcd stop` (and any that died); returns what was done. */
export async function labEtcdStart(): Promise<string[]> {
  requireRoot()
  return withLabLock(async () => {
    const state = await etcdLab()
    const actions = await ensureLabEtcd(labPlan(state.size), [])
    await writeState({ ...state, etcdStopped: [] })
    return actions
  })
}
