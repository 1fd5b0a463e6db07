#!/usr/bin/env node
/**
 * latchd's entry point: sizes V8's heap before anything is loaded, then runs latchd-main.ts (the
 * daemon; its header documents the command line).
 *
 * The young generation's semi-spaces are capped at 2 MiB (V8's default grows them to 16 MiB each):
 * latchd allocates in small bursts (frames, status answers, reconcile plans), and with the default
 * those bursts leave ~15 MiB more resident. Measured on this build: RSS after loading the daemon and
 * one allocation burst 92 → 72 MiB; pair authentications per CPU-second unchanged (two alternating
 * runs of scripts/bench-pairauth each way). A `--max-semi-space-size` given on node's command line
 * or in NODE_OPTIONS wins.
 */
import { setFlagsFromString } from 'node:v8'

const LATCHD_SEMI_SPACE_MIB = 2

const given = [...process.execArgv, process.env.NODE_OPTIONS ?? ''].some((a) =>
  a.includes('--max-semi-space-size'),
)
if (!given) setFlagsFromString(`--max-semi-space-size=${LATCHD_SEMI_SPACE_MIB}`)
await import('./latchd-main.js')
