/** Observability: pino logs (redacted), Prometheus metrics. */
export { createLogger, type LoggerSettings, REDACT_PATHS } from './logger.js'
export { DaemonMetrics, type MetricsSources, type PeerStateCounts, type WireguardBytes } from './metrics.js'
