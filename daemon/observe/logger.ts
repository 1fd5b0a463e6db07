/**
 * The daemon's logger: pino JSON lines. Key material is never passed to the logger in the first
 * place; the redaction below is the second line of defence for fields with key-ish names.
 */
import { type DestinationStream, type Logger, type LoggerOptions, pino } from 'pino'

/** Field names that may carry key material, at the top level and one object deep. */
const SECRET_FIELDS = ['presharedKey', 'psk', 'privateKey', 'keyPem', 'privateKeyPem', 'key', 'secret']

export const REDACT_PATHS: string[] = SECRET_FIELDS.flatMap((f) => [f, `*.${f}`])

export interface LoggerSettings {
  level: LoggerOptions['level']
  node?: string
  /** Where lines go (default: stdout). Tests pass a stream to capture lines. */
  destination?: DestinationStream
}

export function createLogger(s: LoggerSettings): Logger {
  const options: LoggerOptions = {
    level: s.level ?? 'info',
    base: s.node ? { node: s.node } : {},
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  }
  return s.destination ? pino(options, s.destination) : pino(options)
}
