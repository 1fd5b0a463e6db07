/** `latchctl lab etcd status|stop|start`: the lab's etcd cluster (`lab up --discovery etcd`). */
import type { Command } from 'commander'
import { labEtcdMemberStatus, labEtcdStart, labEtcdStop } from '../../lab/etcd-commands.js'

type Print = (json: boolean, data: unknown, text: () => string) => void

export function registerLabEtcd(lab: Command, print: Print): void {
  const etcd = lab.command('etcd').description("the lab's etcd cluster (lab up --discovery etcd)")

  etcd
    .command('status')
    .description('each member: endpoint, PID (or stopped), leader')
    .option('--json', 'print as JSON')
    .action(async (o: { json?: boolean }) => {
      const s = await labEtcdMemberStatus()
      print(!!o.json, s, () =>
        s
          .map(
            (m) =>
              `${m.name}  ${m.endpoint}  ${m.pid ? `pid ${m.pid}` : 'stopped'}${m.leader ? '  leader' : ''}\n`,
          )
          .join(''),
      )
    })

  etcd
    .command('stop')
    .description(
      'kill members (SIGKILL, like a crash); they stay stopped, also across `lab up`, until `lab etcd start`',
    )
    .argument('[members...]', 'member names (etcd1 etcd2 etcd3); none: all of them')
    .option('--leader', 'the current leader')
    .option('--json', 'print as JSON')
    .action(async (members: string[], o: { leader?: boolean; json?: boolean }) => {
      const which = o.leader ? 'leader' : members.length > 0 ? members : 'all'
      const stopped = await labEtcdStop(which)
      print(!!o.json, { stopped }, () => `lab etcd: stopped ${stopped.join(', ')}\n`)
    })

  etcd
    .command('start')
    .description('start every stopped member and wait for a quorum')
    .option('--json', 'print as JSON')
    .action(async (o: { json?: boolean }) => {
      const actions = await labEtcdStart()
      print(!!o.json, { actions }, () =>
        actions.length > 0 ? actions.map((a) => `  + ${a}\n`).join('') : 'lab etcd: every member runs\n',
      )
    })
}
