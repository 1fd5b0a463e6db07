/**
 * Start-up as an ordered list of components. Each component starts after the ones before it and
 * stops before them. If one fails to start, exactly the components that started are stopped, in
 * reverse order, and the start error is rethrown; the failing component cleans up its own partial
 * start and the later ones never start. Stopping runs every stop even when one fails.
 */

export interface Component<C> {
  /** For logs and errors ("engine", "control socket"). */
  readonly name: string
  /** Bring the component up, reading what earlier components put in `ctx` and adding its own part. */
  start(ctx: C): void | Promise<void>
  /** Undo start (called only when start resolved). */
  stop?(ctx: C): void | Promise<void>
}

export interface StopFailure {
  component: string
  error: unknown
}

export interface Running {
  /** Names of the started components, in start order. */
  readonly started: readonly string[]
  /** Stop every started component in reverse order (once; later calls return the same promise). */
  stop(): Promise<StopFailure[]>
}

/** Stop `started` from last to first; a failing stop is recorded and the rest still run. */
async function stopReverse<C>(started: readonly Component<C>[], ctx: C): Promise<StopFailure[]> {
  const failures: StopFailure[] = []
  for (const c of [...started].reverse()) {
    try {
      await c.stop?.(ctx)
    } catch (error) {
      failures.push({ component: c.name, error })
    }
  }
  return failures
}

/**
 * Start `components` in order with the shared `ctx`. On a start failure the started ones are stopped
 * in reverse (failures of those stops go to `onStopFailure`) and the start error is rethrown.
 */
export async function startComponents<C>(
  components: readonly Component<C>[],
  ctx: C,
  onStopFailure: (f: StopFailure) => void = () => undefined,
): Promise<Running> {
  const started: Component<C>[] = []
  for (const c of components) {
    try {
      await c.start(ctx)
    } catch (err) {
      for (const f of await stopReverse(started, ctx)) onStopFailure(f)
      throw err
    }
    started.push(c)
  }
  let stopping: Promise<StopFailure[]> | undefined
  return {
    started: started.map((c) => c.name),
    stop: () => {
      stopping ??= stopReverse(started, ctx)
      return stopping
    },
  }
}
